// Bundles the sidecar for its image (Debian bookworm's nodejs is Node 18): dist/sidecar/sidecar.mjs, and chunks for
// what only the page's terminal needs (ssh2, ws, xterm.js), which a sidecar loads with its first terminal: every
// sidecar of a class starts without parsing them (most of the bundle).
import { readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { build } from 'esbuild';
import { commonJsBanner } from './esm-banner.mjs';

const require = createRequire(import.meta.url);

// The page's terminal (xterm.js and its stylesheet) goes inline: the image has no node_modules. The list is the one
// src/sidecar/terminal-assets.ts reads from node_modules when the sidecar runs unbundled (tsc has built it by now).
const { TERMINAL_FILES } = await import('../dist/src/sidecar/terminal-assets.js');
const inlineAssets = {
  name: 'inline-terminal-assets',
  setup(b) {
    b.onLoad({ filter: /src[\\/]sidecar[\\/]terminal-assets\.ts$/ }, () => {
      const assets = Object.fromEntries(
        Object.entries(TERMINAL_FILES).map(([name, f]) => [
          name,
          { type: f.type, body: readFileSync(require.resolve(f.module), 'utf8') },
        ]),
      );
      return {
        loader: 'js',
        contents: `const assets = ${JSON.stringify(assets)};\nexport function terminalAssets() { return assets; }\n`,
      };
    });
  },
};

rmSync('dist/sidecar', { recursive: true, force: true });
await build({
  entryPoints: { sidecar: 'src/sidecar/main.ts' },
  bundle: true,
  platform: 'node',
  target: 'node18',
  format: 'esm',
  outdir: 'dist/sidecar',
  splitting: true,
  outExtension: { '.js': '.mjs' },
  chunkNames: 'chunk-[hash]',
  legalComments: 'none',
  logLevel: 'warning',
  plugins: [inlineAssets],
  // ssh2 and ws are CommonJS: they require() Node's modules and ssh2 reads __dirname, which an ESM bundle lacks.
  banner: commonJsBanner,
  // Optional native addons, each loaded in a try/catch with a pure-JS fallback: left out, they are not found at run time
  // and ssh2 uses Node's crypto and its bundled poly1305 (WebAssembly), ws its JS masking and UTF-8 check.
  external: ['cpu-features', '*.node', 'bufferutil', 'utf-8-validate'],
});
