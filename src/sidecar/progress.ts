import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Result } from './checks.js';

export interface Credit {
  at: string | null;
  evidence: string;
}

/**
 * The student's credits, kept on the sidecar's own volume. A credit once earned stays: it survives a
 * mailbox reset, a restart and log rotation. Only an explicit reset (with the class token) clears it.
 */
export class ProgressStore {
  private credits: Record<string, Credit> = {};
  /** When progress was last cleared: what happened before does not count again. */
  resetAt: string | null = null;
  /** When this store was first loaded (the sidecar's first start, ISO): progress counts from then. */
  startedAt: string | null = null;
  /** Where the sidecar's readers stand (log offset, archive names seen), so that a restart resumes there. */
  cursor: unknown = undefined;

  constructor(
    private readonly file: string,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async load(): Promise<void> {
    try {
      const data = JSON.parse(await readFile(this.file, 'utf8')) as {
        credits?: Record<string, Credit>;
        resetAt?: string;
        startedAt?: string;
        cursor?: unknown;
      };
      this.credits = data.credits ?? {};
      this.resetAt = data.resetAt ?? null;
      this.startedAt = data.startedAt ?? null;
      this.cursor = data.cursor;
    } catch {
      this.credits = {};
    }
    if (this.startedAt === null) {
      this.startedAt = this.now().toISOString();
      await this.save().catch(() => undefined);
    }
  }

  /** When progress began to count: the last reset, else the first start (ISO); null before load(). */
  get since(): string | null {
    return this.resetAt ?? this.startedAt;
  }

  /** Adds the new credits among the results; says whether anything changed. */
  async merge(results: Result[]): Promise<boolean> {
    let changed = false;
    for (const r of results) {
      if (!r.done || this.credits[r.id]) continue;
      this.credits[r.id] = { at: r.at, evidence: r.evidence ?? '' };
      changed = true;
    }
    if (changed) await this.save();
    return changed;
  }

  async clear(): Promise<void> {
    this.credits = {};
    this.resetAt = this.now().toISOString();
    await this.save();
  }

  /** Records where the readers stand; written with the credits. */
  async saveCursor(cursor: unknown): Promise<void> {
    this.cursor = cursor;
    await this.save();
  }

  get(id: string): Credit | undefined {
    return this.credits[id];
  }

  private async save(): Promise<void> {
    await mkdir(path.dirname(this.file), { recursive: true });
    const tmp = `${this.file}.tmp`;
    await writeFile(
      tmp,
      JSON.stringify({ credits: this.credits, resetAt: this.resetAt, startedAt: this.startedAt, cursor: this.cursor }),
    );
    await rename(tmp, this.file);
  }
}
