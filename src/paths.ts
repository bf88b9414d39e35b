import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The labctl folder (where package.json, labs/, templates/ and images/ are): the first folder above this module
 * that holds package.json. Found by walking up, so the same code works compiled (dist/src/) and bundled (dist/cli/).
 */
export const PACKAGE_ROOT = (() => {
  const here = path.dirname(fileURLToPath(import.meta.url));
  for (let dir = here; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) return path.resolve(here, '../..');
  }
})();

/** A path inside the labctl folder. */
export const packagePath = (...parts: string[]) => path.join(PACKAGE_ROOT, ...parts);
