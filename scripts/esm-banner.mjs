// The first lines of an ESM bundle holding CommonJS packages (dockerode, ssh2, ws...): they call require() and read
// __filename and __dirname, which an ES module lacks. Shared by bundle-sidecar.mjs and bundle-cli.mjs.
export const commonJsBanner = {
  js: [
    "import { createRequire as __labctlRequire } from 'node:module';",
    "import { fileURLToPath as __labctlPath } from 'node:url';",
    'const require = __labctlRequire(import.meta.url);',
    'const __filename = __labctlPath(import.meta.url);',
    "const __dirname = __labctlPath(new URL('.', import.meta.url));",
  ].join(' '),
};
