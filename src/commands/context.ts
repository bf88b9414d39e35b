import os from 'node:os';
import { tracedEngine } from '../core/trace.js';
import { LocalEngine } from '../docker/local-engine.js';
import type { Engine } from '../docker/engine.js';
import { Reporter } from '../ui/reporter.js';

export const DEFAULT_CLASS = 'td1';

/** What every command needs; tests pass their own. */
export interface Context {
  engine: Engine;
  reporter: Reporter;
}

export function defaultContext(options: { json?: boolean; quiet?: boolean } = {}): Context {
  return { engine: tracedEngine(new LocalEngine()), reporter: new Reporter(options) };
}

/** The address students connect to: the host's first external IPv4 address, else loopback. */
export function defaultHost(): string {
  for (const [name, addresses] of Object.entries(os.networkInterfaces())) {
    if (/^(docker|br-|veth|lo)/.test(name)) continue;
    const v4 = addresses?.find((a) => a.family === 'IPv4' && !a.internal);
    if (v4) return v4.address;
  }
  return '127.0.0.1';
}
