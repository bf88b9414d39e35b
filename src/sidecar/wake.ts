import { watch, type FSWatcher } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';

export interface PollLoopOptions {
  /** One poll of the evidence; its errors are the caller's to report (it should not throw). */
  poll: () => Promise<void>;
  /** Directories whose changes wake the loop (inotify); a missing one is covered by a watch on its parent. */
  dirs: string[];
  /** How often it polls anyway while every directory is watched: for what a watch could miss. */
  idleMs: number;
  /** How often it polls while some directory cannot be watched (no inotify, or the host's limit reached). */
  pollMs: number;
  /** A change is read this long after it is seen, so that a burst of lines is read in one poll. */
  wakeMs?: number;
  /** For tests: fs.watch. */
  watch?: typeof watch;
}

interface Watched {
  watcher: FSWatcher;
  /** Which directory: its inode and birth time (a directory made again often gets the same inode number). */
  id: string;
}

/**
 * Runs the sidecar's polls: on a change in the evidence (or a wake() from /health?poll), else every idleMs. One poll
 * at a time; wakes during a poll make one more after it. An idle student then costs a poll every few seconds, not
 * two a second.
 */
export class PollLoop {
  private readonly watched = new Map<string, Watched>();
  private readonly wakeMs: number;
  private readonly watchFn: typeof watch;
  private timer: NodeJS.Timeout | undefined;
  private due = Infinity;
  private running = false;
  private again = false;
  private stopped = false;
  private watching = false;
  private warned = false;

  constructor(private readonly options: PollLoopOptions) {
    this.wakeMs = options.wakeMs ?? 200;
    this.watchFn = options.watch ?? watch;
  }

  /** Polls now, then keeps going until stop(). */
  async start(): Promise<void> {
    await this.run();
  }

  /** Something may have changed: poll within wakeMs (or right after the poll under way). */
  wake(): void {
    if (this.stopped) return;
    if (this.running) this.again = true;
    else this.schedule(this.wakeMs);
  }

  /** Whether every directory is watched (else it polls every pollMs). */
  isWatching(): boolean {
    return this.watching;
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    for (const { watcher } of this.watched.values()) watcher.close();
    this.watched.clear();
  }

  private schedule(delay: number): void {
    const at = Date.now() + delay;
    if (this.timer && this.due <= at) return;
    clearTimeout(this.timer);
    this.due = at;
    this.timer = setTimeout(() => void this.run(), delay);
  }

  private async run(): Promise<void> {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    clearTimeout(this.timer);
    this.timer = undefined;
    this.due = Infinity;
    this.running = true;
    this.again = false;
    try {
      // Watches first: whatever changes after this wakes the loop, whatever changed before, this poll reads.
      this.watching = await this.arm();
      await this.options.poll();
    } finally {
      this.running = false;
      if (!this.stopped) {
        this.schedule(this.again ? this.wakeMs : this.watching ? this.options.idleMs : this.options.pollMs);
      }
    }
  }

  /** Watches each directory that exists (again if it was replaced); says whether every one is covered. */
  private async arm(): Promise<boolean> {
    let covered = true;
    for (const dir of this.options.dirs) {
      const info = await stat(dir).catch(() => undefined);
      const id = info ? `${info.ino}:${info.birthtimeMs}` : undefined;
      const current = this.watched.get(dir);
      if (current && current.id !== id) {
        current.watcher.close();
        this.watched.delete(dir);
      }
      if (id === undefined) {
        if (!this.watched.has(path.dirname(dir))) covered = false;
        continue;
      }
      if (this.watched.has(dir)) continue;
      try {
        const watcher = this.watchFn(dir, () => this.wake());
        watcher.on('error', () => {
          watcher.close();
          if (this.watched.get(dir)?.watcher === watcher) this.watched.delete(dir);
          this.wake();
        });
        this.watched.set(dir, { watcher, id });
      } catch (error) {
        covered = false;
        if (!this.warned) {
          this.warned = true;
          process.stderr.write(
            `sidecar: cannot watch ${dir} (${(error as Error).message}): polling every ${this.options.pollMs} ms instead\n`,
          );
        }
      }
    }
    return covered;
  }
}
