import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// The layers point one way: cli.ts → commands/ → core/ → docker/ (the engine). ui/ serves the commands and
// imports core; sidecar/ is a second program over core. scripts/check-imports.mjs checks the whole graph (and that
// it has no circle); these rules name the edge at the import. A file-scoped block replaces the rule's options, so
// each block lists every restriction that applies to its files.
const dockerode = { name: 'dockerode', message: 'Only src/docker/ talks to Docker: use the Engine.' };
const noCommands = {
  group: ['**/commands/*', '**/commands'],
  message: 'Only cli.ts and commands/ import commands/: move what you need into core/.',
};
const noUi = {
  group: ['**/ui/*', '**/ui'],
  message: 'ui/ sits above this layer: it may import this, not the reverse.',
};
const noCore = {
  group: ['**/core/*', '**/core'],
  message: 'docker/ sits below core/: the core passes what it needs as data (the label keys: docker/engine.ts).',
};
const noSidecar = {
  group: ['**/sidecar/*', '**/sidecar'],
  message: 'The sidecar is a second program: share code with it through core/, never import it.',
};
// Above src/docker/, only the seam (docker/engine.ts, types) is known; which engine runs is chosen in commands/context.ts.
const onlySeam = {
  group: ['**/docker/*', '!**/docker/engine.js'],
  message: 'Use the Engine seam (docker/engine.ts); an engine is chosen only in commands/context.ts.',
};
// The engines themselves are made only by the choice (docker/select-engine.ts); Swarm's manager uses a local engine.
const engineChoice =
  'An engine is made only by docker/select-engine.ts (for commands/context.ts): work through the Engine seam.';
const noEngines = { group: ['**/docker/local/*', '**/docker/swarm/*'], message: engineChoice };
const noEnginesHere = { group: ['./local/*', './swarm/*'], message: engineChoice };
const noEnginesBeside = { group: ['../local/*', '../swarm/*'], message: engineChoice };
const noSwarmBeside = { group: ['../swarm/*'], message: 'The local engine knows nothing of Swarm.' };
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
const docker = [noCommands, noUi, noCore, noSidecar];
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
  {
    files: ['src/cli.ts', 'src/cli/**', 'src/commands/**'],
    rules: { 'no-restricted-imports': restrict([dockerode], [noEngines, noSidecar]) },
  },
  {
    files: ['src/ui/**'],
    rules: { 'no-restricted-imports': restrict([dockerode], [noCommands, onlySeam, noEngines, noSidecar]) },
  },
  {
    files: ['src/sidecar/**'],
    rules: { 'no-restricted-imports': restrict([dockerode, fullZod], [noCommands, noDocker, noUi]) },
  },
  {
    files: ['src/core/**'],
    rules: { 'no-restricted-imports': restrict([dockerode], [noCommands, noUi, onlySeam, noEngines, noSidecar]) },
  },
  { files: ['src/core/wire.ts'], rules: { 'no-restricted-imports': restrict([dockerode, fullZod], [wireAlone]) } },
  { files: ['src/docker/**'], rules: { 'no-restricted-imports': restrict([], docker) } },
  {
    files: ['src/docker/*.ts'],
    ignores: ['src/docker/select-engine.ts'],
    rules: { 'no-restricted-imports': restrict([], [...docker, noEnginesHere]) },
  },
  { files: ['src/docker/images/**'], rules: { 'no-restricted-imports': restrict([], [...docker, noEnginesBeside]) } },
  { files: ['src/docker/local/**'], rules: { 'no-restricted-imports': restrict([], [...docker, noSwarmBeside]) } },
  {
    files: ['src/docker/**', 'test/**'],
    rules: { 'no-console': 'off' },
  },
  { files: ['test/**'], rules: { 'no-restricted-imports': 'off' } },
  { files: ['bin/**'], languageOptions: { globals: { process: 'readonly' } } },
  {
    files: ['scripts/**'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
    rules: { 'no-console': 'off' },
  },
);
