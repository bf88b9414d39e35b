import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// The layers point one way: cli.ts → commands/ → core/ → docker/ (the engine). ui/ serves the commands and
// imports core types; sidecar/ shares core. A file-scoped block replaces the rule's options, so each block
// lists every restriction that applies to its files.
const dockerode = { name: 'dockerode', message: 'Only src/docker/ talks to Docker: use the Engine.' };
const noCommands = {
  group: ['**/commands/*', '**/commands'],
  message: 'Only cli.ts and commands/ import commands/: move what you need into core/.',
};
const noUi = {
  group: ['**/ui/*', '**/ui'],
  message: 'ui/ sits above this layer: it may import this, not the reverse.',
};
// Above src/docker/, only the seam (docker/engine.ts, types) is known; which engine runs is chosen in commands/context.ts.
const onlySeam = {
  group: ['**/docker/*', '!**/docker/engine.js'],
  message: 'Use the Engine seam (docker/engine.ts); an engine is chosen only in commands/context.ts.',
};
const noDocker = {
  group: ['**/docker/*', '**/docker'],
  message: 'The sidecar runs in its own image, far from any engine: it never imports docker/.',
};
// The sidecar is bundled for its image (Debian's Node 18, 64 MiB): zod/mini tree-shakes, zod does not.
const fullZod = {
  name: 'zod',
  message: 'The sidecar and the wire schemas use zod/mini (smaller bundle, less memory).',
};
// The wire schemas are imported by the sidecar and the CLI alike: they depend on nothing else.
const wireAlone = {
  group: ['./*', '../*', '!zod/mini'],
  message: 'src/core/wire.ts is bundled into the sidecar: it imports zod/mini and nothing else.',
};
const restrict = (paths, patterns) => ['error', { paths, patterns }];

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      // Only src/docker/ may talk to Docker; everything above it works with plain data.
      'no-restricted-imports': restrict([dockerode], []),
      'no-console': 'error',
    },
  },
  { files: ['src/cli.ts', 'src/commands/**'], rules: { 'no-restricted-imports': restrict([dockerode], []) } },
  { files: ['src/ui/**'], rules: { 'no-restricted-imports': restrict([dockerode], [noCommands, onlySeam]) } },
  {
    files: ['src/sidecar/**'],
    rules: { 'no-restricted-imports': restrict([dockerode, fullZod], [noCommands, noDocker]) },
  },
  { files: ['src/core/**'], rules: { 'no-restricted-imports': restrict([dockerode], [noCommands, noUi, onlySeam]) } },
  { files: ['src/core/wire.ts'], rules: { 'no-restricted-imports': restrict([dockerode, fullZod], [wireAlone]) } },
  { files: ['src/docker/**'], rules: { 'no-restricted-imports': restrict([], [noCommands, noUi]) } },
  {
    files: ['src/docker/**', 'test/**'],
    rules: { 'no-console': 'off' },
  },
  { files: ['test/**'], rules: { 'no-restricted-imports': 'off' } },
  { files: ['bin/**'], languageOptions: { globals: { process: 'readonly' } } },
);
