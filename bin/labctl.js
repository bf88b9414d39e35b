#!/usr/bin/env node
// The installed entry point: the CLI bundled into dist/cli/ (built by `npm ci` through "prepare").
import('../dist/cli/cli.mjs').catch((error) => {
  if (error && error.code === 'ERR_MODULE_NOT_FOUND' && String(error.message).includes('dist/cli/cli.mjs')) {
    process.stderr.write('labctl: not built yet. Run `npm ci` (or `npm run build`) in the labctl folder.\n');
    process.exit(1);
  }
  throw error;
});
