import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      // Only src/docker/ may talk to Docker; everything above it works with plain data.
      'no-restricted-imports': ['error', { paths: [{ name: 'dockerode', message: 'Use the Engine in src/docker/.' }] }],
      'no-console': 'error',
    },
  },
  {
    files: ['src/docker/**', 'test/**'],
    rules: { 'no-restricted-imports': 'off', 'no-console': 'off' },
  },
  { files: ['bin/**'], languageOptions: { globals: { process: 'readonly' } } },
);
