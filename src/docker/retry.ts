import { setTimeout as sleep } from 'node:timers/promises';

/** How the engines wait for Docker: a call tried again while the engine says "not yet", and a state polled. */

export interface RetryOptions {
  /** Tries in all, the first included. */
  tries: number;
  /** Between tries. */
  delayMs?: number;
  /** Whether the error is one that goes away by trying again (anything else is thrown at once). */
  retryable: (error: unknown) => boolean;
}

/** Runs `attempt` until it succeeds, trying again after a retryable error; the last error is thrown. */
export async function retry<T>(attempt: () => Promise<T>, { tries, delayMs = 0, retryable }: RetryOptions): Promise<T> {
  for (let n = 1; ; n++) {
    try {
      return await attempt();
    } catch (error) {
      if (n >= tries || !retryable(error)) throw error;
      if (delayMs > 0) await sleep(delayMs);
    }
  }
}

/**
 * Asks `done` every `intervalMs` until it says yes, or `timeoutMs` has passed; resolves to whether it did. It is
 * asked at least once. An abort of `signal` rejects with its reason.
 */
export async function until(
  done: () => Promise<boolean>,
  { timeoutMs, intervalMs, signal }: { timeoutMs: number; intervalMs: number; signal?: AbortSignal },
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await done()) return true;
    if (Date.now() > deadline) return false;
    signal?.throwIfAborted();
    await sleep(intervalMs, undefined, signal ? { signal } : undefined).catch((error: unknown) => {
      throw signal?.aborted ? signal.reason : error;
    });
  }
}
