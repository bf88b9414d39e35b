import os from 'node:os';
import { LABEL } from '../core/labels.js';
import { tracedEngine } from '../core/trace.js';
import { selectEngine, type EngineKind } from '../docker/select-engine.js';
import type { Engine } from '../docker/engine.js';
import { Reporter } from '../ui/reporter.js';

export const DEFAULT_CLASS = 'td1';

/** What every command needs; tests pass their own. */
export interface Context {
  engine: Engine;
  reporter: Reporter;
  /**
   * Aborted on Ctrl-C or SIGTERM (cli.ts makes it): every long operation stops, undoes what it must and returns.
   * A second signal does not cut that short.
   */
  signal: AbortSignal;
}

/** What every command's options carry: --json, and the signal cli.ts makes (see Context). */
export interface RunOptions {
  json?: boolean;
  signal?: AbortSignal;
}

export interface ContextOptions {
  json?: boolean;
  quiet?: boolean;
  engine?: EngineKind;
  className?: string;
  constraints?: string[];
  registry?: string;
  /** `down --purge`: the class may be only volumes now (see EngineChoice.leftovers). */
  purge?: boolean;
  signal?: AbortSignal;
}

export function defaultContext(options: ContextOptions = {}): Context {
  // The local engine unless asked for Swarm (`--engine swarm`, `engine: swarm`) or the class runs on Swarm.
  const engine = selectEngine({
    labels: LABEL,
    engine: options.engine,
    className: options.className,
    constraints: options.constraints,
    registry: options.registry,
    leftovers: options.purge === true,
  });
  return {
    engine: tracedEngine(engine),
    reporter: new Reporter(options),
    signal: options.signal ?? new AbortController().signal,
  };
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
