import type { Engine } from '../docker/engine.js';

/**
 * LABCTL_TRACE=1: where the time of a command goes, on stderr. Phases of `up` (since the process started), and per
 * engine method its calls, their summed time and the longest; what `npm run bench` breaks `up` down with.
 */
export const tracing = Boolean(process.env.LABCTL_TRACE);

const since = () => `${(performance.now() / 1000).toFixed(2)} s`;

export function tracePhase(name: string): void {
  if (tracing) process.stderr.write(`trace ${since()}  ${name}\n`);
}

/** The engine, with every method call timed; the totals are printed when the process exits. */
export function tracedEngine(engine: Engine): Engine {
  if (!tracing) return engine;
  const totals = new Map<string, { calls: number; ms: number; max: number }>();
  process.once('exit', () => {
    const rows = [...totals].sort((a, b) => b[1].ms - a[1].ms);
    for (const [name, t] of rows)
      process.stderr.write(
        `trace engine ${name.padEnd(16)} ${String(t.calls).padStart(4)} calls  ${(t.ms / 1000).toFixed(2).padStart(7)} s summed  longest ${(t.max / 1000).toFixed(2)} s\n`,
      );
  });
  return new Proxy(engine, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        const started = performance.now();
        const record = () => {
          const t = totals.get(String(prop)) ?? { calls: 0, ms: 0, max: 0 };
          const ms = performance.now() - started;
          totals.set(String(prop), { calls: t.calls + 1, ms: t.ms + ms, max: Math.max(t.max, ms) });
        };
        const result: unknown = (value as (...a: unknown[]) => unknown).apply(target, args);
        if (result instanceof Promise) return result.finally(record);
        record();
        return result;
      };
    },
  });
}
