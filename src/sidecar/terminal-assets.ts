import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

export interface Asset {
  type: string;
  body: string;
}

/** The files the page's terminal loads, by name under /terminal/. */
export const TERMINAL_FILES: Record<string, { module: string; type: string }> = {
  'xterm.js': { module: '@xterm/xterm/lib/xterm.js', type: 'text/javascript; charset=utf-8' },
  'xterm.css': { module: '@xterm/xterm/css/xterm.css', type: 'text/css; charset=utf-8' },
  'addon-fit.js': { module: '@xterm/addon-fit/lib/addon-fit.js', type: 'text/javascript; charset=utf-8' },
};

let cache: Record<string, Asset> | undefined;

/**
 * xterm.js, read from node_modules. The sidecar's bundle (scripts/bundle-sidecar.mjs) replaces this module with
 * one that holds the same files inline, since its image has no node_modules.
 */
export function terminalAssets(): Record<string, Asset> {
  if (cache) return cache;
  const require = createRequire(import.meta.url);
  cache = Object.fromEntries(
    Object.entries(TERMINAL_FILES).map(([name, f]) => [
      name,
      { type: f.type, body: readFileSync(require.resolve(f.module), 'utf8') },
    ]),
  );
  return cache;
}
