import os from 'node:os';
import type { Engine, LockHolder } from '../docker/engine.js';
import { conflictError } from '../errors.js';
import { LABEL } from './labels.js';

/** How long a second `up` waits for the first, and how often it looks again. */
export const LOCK_WAIT_MS = 60_000;
export const LOCK_POLL_MS = 1_000;
/** A lock this old whose holder is a dead process on this host was left by a crash: it is taken over. */
export const LOCK_STALE_MS = 15 * 60_000;

export const lockName = (className: string) => `labctl-${className}-lock`;

export interface LockOptions {
  waitMs?: number;
  pollMs?: number;
  staleMs?: number;
  pid?: number;
  host?: string;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  isAlive?: (pid: number) => boolean;
  /** The command that takes the lock (`up` unless said), named to another run that waits for it. */
  command?: string;
  /** Said once, when the lock is held by someone else and this run starts waiting. */
  onWait?: (message: string) => void;
  /** Ctrl-C: stops the wait for the lock (rejecting with its reason); while held, fn gets it and stops. */
  signal?: AbortSignal;
}

type LockEngine = Pick<Engine, 'acquireLock' | 'lockHolder' | 'releaseLock'>;

/** Whether a process of this host runs with that pid (EPERM: it runs, as another user). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const hhmm = (ms: number) => {
  const d = new Date(ms);
  return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
};

function describe(className: string, holder: LockHolder): string {
  const since = Number(holder.labels[LABEL.lockSince]);
  return `Another \`labctl ${holder.labels[LABEL.lockCommand] ?? 'up'}\` of class ${className} has been running since ${Number.isFinite(since) ? hhmm(since) : '(unknown)'} (pid ${holder.labels[LABEL.lockPid] ?? '?'} on host ${holder.labels[LABEL.lockHost] ?? '?'})`;
}

/**
 * Runs fn holding the class's lock on the engine, so two `up` of one class never run at once (from two shells or two
 * hosts). A second run waits for the first up to `waitMs`, then fails with exit 3 (code class-busy). The lock is given
 * back however fn ends.
 */
export async function withClassLock<T>(
  engine: LockEngine,
  className: string,
  fn: (signal: AbortSignal) => Promise<T>,
  options: LockOptions = {},
): Promise<T> {
  const signal = options.signal ?? new AbortController().signal;
  const {
    waitMs = LOCK_WAIT_MS,
    pollMs = LOCK_POLL_MS,
    staleMs = LOCK_STALE_MS,
    pid = process.pid,
    host = os.hostname(),
    now = Date.now,
    sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)),
    isAlive = pidAlive,
  } = options;
  const name = lockName(className);
  const started = now();
  let waiting = false;
  let id: string | undefined;
  for (;;) {
    signal.throwIfAborted();
    id = await engine.acquireLock(name, {
      [LABEL.class]: className,
      [LABEL.role]: 'lock',
      [LABEL.lockPid]: String(pid),
      [LABEL.lockHost]: host,
      [LABEL.lockSince]: String(now()),
      [LABEL.lockCommand]: options.command ?? 'up',
    });
    if (id) break;
    const holder = await engine.lockHolder(name);
    if (!holder) continue; // given back meanwhile: try again at once
    const since = Number(holder.labels[LABEL.lockSince]);
    const stale =
      holder.labels[LABEL.lockHost] === host &&
      !isAlive(Number(holder.labels[LABEL.lockPid])) &&
      (!Number.isFinite(since) || now() - since > staleMs);
    if (stale) {
      // By id: if another run took the stale lock over first, its new lock has another id and stays.
      await engine.releaseLock(holder.id);
      continue;
    }
    if (now() - started >= waitMs) {
      throw conflictError(
        `${describe(className, holder)}; wait for it, or remove the stale lock with \`labctl down --class ${className}\` if it crashed.`,
        undefined,
        'class-busy',
      );
    }
    if (!waiting) {
      waiting = true;
      options.onWait?.(`${describe(className, holder)}; waiting for it (up to ${Math.round(waitMs / 1000)} s)...`);
    }
    await sleep(pollMs);
  }
  const lock = id;
  try {
    return await fn(signal);
  } finally {
    // However fn ends, Ctrl-C included: the lock goes back.
    await engine.releaseLock(lock).catch(() => {});
  }
}
