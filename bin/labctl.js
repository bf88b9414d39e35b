#!/usr/bin/env node
// The installed entry point: the compiled CLI lives in dist/ (built by `npm ci` through "prepare").
import('../dist/src/cli.js').catch((error) => {
  if (error && error.code === 'ERR_MODULE_NOT_FOUND' && String(error.message).includes('dist/src/cli.js')) {
    process.stderr.write('labctl: not built yet. Run `npm ci` (or `npm run build`) in the labctl folder.\n');
    process.exit(1);
  }
  throw error;
});
