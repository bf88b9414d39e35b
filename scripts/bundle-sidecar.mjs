// Bundles the sidecar into one file for its image: Debian bookworm's nodejs is Node 18.
import { build } from 'esbuild';

await build({
  entryPoints: ['src/sidecar/main.ts'],
  bundle: true,
  platform: 'node',
  target: 'node18',
  format: 'esm',
  outfile: 'dist/sidecar/sidecar.mjs',
  legalComments: 'none',
  logLevel: 'warning',
});
