// Bundles the CLI into dist/cli/ (bin/labctl.js runs it): one file to load for the commands' common part, and a chunk
// per command, instead of some 600 modules resolved and read one by one from node_modules. It saves about 0.2 s on
// every command (dockerode alone is some 200 modules). Run after tsc (npm run build).
import { cpSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { build } from 'esbuild';
import { commonJsBanner } from './esm-banner.mjs';

const require = createRequire(import.meta.url);

/**
 * Two modules that dockerode's own modules require when they load, and use only for what labctl never does on its
 * read path: docker-modem's ssh transport (ssh2) and dockerode's BuildKit session (gRPC and protobuf). Each is
 * required at its first call instead: `check` and `status` then evaluate neither (a third of their time).
 */
const LAZY = [
  { file: /docker-modem[\\/]lib[\\/]modem\.js$/, from: "ssh = require('./ssh'),", name: 'ssh', module: './ssh' },
  {
    file: /dockerode[\\/]lib[\\/]docker\.js$/,
    from: "withSession = require('./session'),",
    name: 'withSession',
    module: './session',
  },
];
const lazyRequires = {
  name: 'lazy-requires',
  setup(b) {
    b.onLoad({ filter: /(docker-modem|dockerode)[\\/]lib[\\/](modem|docker)\.js$/ }, async (args) => {
      let contents = readFileSync(args.path, 'utf8');
      for (const l of LAZY.filter((x) => x.file.test(args.path))) {
        if (!contents.includes(l.from)) throw new Error(`${args.path}: no "${l.from}" to make lazy (updated?)`);
        contents = contents.replace(
          l.from,
          `${l.name} = function () { return require('${l.module}').apply(this, arguments); },`,
        );
      }
      return { contents, loader: 'js' };
    });
  },
};

rmSync('dist/cli', { recursive: true, force: true });
await build({
  entryPoints: { cli: 'src/cli.ts' },
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  outdir: 'dist/cli',
  splitting: true,
  outExtension: { '.js': '.mjs' },
  // Left to node_modules: native add-ons (ssh2 falls back to its JavaScript crypto) and exceljs, large and loaded only
  // by `check --format xlsx`.
  // ssh2 and gRPC (with protobuf), required at their first call (lazyRequires), stay in node_modules too: bundled,
  // their 1.4 MB would be read and compiled by every command, for transports labctl does not use on its read path.
  external: ['*.node', 'cpu-features', 'exceljs', 'ssh2', '@grpc/grpc-js', '@grpc/proto-loader'],
  // dockerode, ssh2 and the other CommonJS packages inside call require and read __dirname.
  banner: commonJsBanner,
  plugins: [lazyRequires],
  logLevel: 'warning',
});
// dockerode reads its protocol files from __dirname/proto (BuildKit progress, registry sessions).
cpSync(path.join(path.dirname(require.resolve('dockerode')), 'proto'), 'dist/cli/proto', { recursive: true });
