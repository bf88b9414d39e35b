import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import * as z from 'zod/mini';
import { describeIssue, SessionSchema, type SessionEnd } from '../core/wire.js';
import type { Result } from './verifier.js';

export interface Credit {
  at: string | null;
  evidence: string;
}

/** The file's shape; a file of any other shape is not this sidecar's to overwrite. */
const CreditSchema = z.object({ at: z.nullable(z.string()), evidence: z.string() });
const StateSchema = z.object({
  credits: z.optional(z.record(z.string(), CreditSchema)),
  /** Per exercise, the first proof that came after the session's end: it does not count. */
  late: z.optional(z.record(z.string(), CreditSchema)),
  session: z.optional(SessionSchema),
  resetAt: z.optional(z.nullable(z.string())),
  startedAt: z.optional(z.nullable(z.string())),
  cursor: z.optional(z.unknown()),
});

/**
 * The student's credits, kept on the sidecar's own volume. A credit once earned stays: it survives a
 * mailbox reset, a restart and log rotation. Only an explicit reset (with the class token) clears it.
 *
 * Nothing is lost to a fault: a file that exists but cannot be read (permissions, cut short, not this shape) is never
 * written over, and a write goes to a temporary file, synced, then renamed over the old one. Credits earned meanwhile
 * are kept in memory; `problem` says why they are not saved (the sidecar's /health and the progress API report it).
 */
export class ProgressStore {
  private credits: Record<string, Credit> = {};
  /**
   * Proofs that came after the session's end, kept apart (the first per exercise): they never count, and the checks
   * go on looking for the exercise, so a student whose session is extended can still earn it.
   */
  private late: Record<string, Credit> = {};
  /** When the student's session ends (labctl says, POST /api/session); none: no time box. */
  session: SessionEnd = { end: null };
  /** When progress was last cleared: what happened before does not count again. */
  resetAt: string | null = null;
  /** When this store was first loaded (the sidecar's first start, ISO): progress counts from then. */
  startedAt: string | null = null;
  /** Where the sidecar's readers stand (log offset, archive names seen), so that a restart resumes there. */
  cursor: unknown = undefined;
  /** Set when the file exists but could not be read: it is then never written (only set aside by clear()). */
  private unreadable: string | undefined;
  /** Set while the last write failed; the next one tries again. */
  private unwritten: string | undefined;
  /** Writes one after the other: two at once would share the temporary file. */
  private writing: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly file: string,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** Why the credits are not being saved, or undefined when they are. */
  get problem(): string | undefined {
    return this.unreadable ?? this.unwritten;
  }

  async load(): Promise<void> {
    let text: string | undefined;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
        this.unreadable = `cannot read ${this.file} (${(error as Error).message}); it is kept as it is`;
        return;
      }
    }
    if (text !== undefined) {
      const data = parseState(text);
      if (typeof data === 'string') {
        this.unreadable = `${this.file} is not a progress file (${data}); it is kept as it is`;
        return;
      }
      this.credits = data.credits ?? {};
      this.late = data.late ?? {};
      this.session = data.session ?? { end: null };
      this.resetAt = data.resetAt ?? null;
      this.startedAt = data.startedAt ?? null;
      this.cursor = data.cursor;
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

  /**
   * Adds the new credits among the results; says whether anything changed. They stay in memory if not saved. This is
   * where the session's end holds, whatever the checks found: a proof dated after the end (by the trusted log's
   * time, else the sidecar's clock) goes to `late`, not to the credits.
   */
  async merge(results: Result[]): Promise<boolean> {
    let changed = false;
    for (const r of results) {
      if (!r.done || this.credits[r.id]) continue;
      const credit = { at: r.at, evidence: r.evidence ?? '' };
      if (this.afterEnd(r.at ?? this.now().toISOString())) {
        if (this.late[r.id]) continue;
        this.late[r.id] = credit;
      } else {
        this.credits[r.id] = credit;
        delete this.late[r.id];
      }
      changed = true;
    }
    if (changed) await this.save().catch(() => undefined);
    return changed;
  }

  /** Whether a proof of time `at` (ISO) came after the session's end. */
  afterEnd(at: string): boolean {
    return this.session.end !== null && Date.parse(at) > Date.parse(this.session.end);
  }

  /** The student's first proof of an exercise that came after the end, when it is not credited. */
  lateProof(id: string): Credit | undefined {
    return this.credits[id] ? undefined : this.late[id];
  }

  /**
   * A new end for the student's session. What the end now leaves outside moves: a proof after it stops counting, a
   * late proof before it (the end moved later: extra time) counts. Throws when it cannot be saved.
   */
  async setSession(session: SessionEnd): Promise<void> {
    this.session = session;
    for (const [id, credit] of Object.entries(this.credits)) {
      if (credit.at !== null && this.afterEnd(credit.at)) {
        delete this.credits[id];
        const late = this.late[id];
        if (!late || (late.at !== null && Date.parse(late.at) > Date.parse(credit.at))) this.late[id] = credit;
      }
    }
    for (const [id, proof] of Object.entries(this.late)) {
      if (proof.at !== null && !this.afterEnd(proof.at) && !this.credits[id]) {
        this.credits[id] = proof;
        delete this.late[id];
      }
    }
    await this.save();
  }

  /**
   * Clears the credits (the instructor asked for it). A file that could not be read is set aside, beside it, as
   * <file>.unreadable-<time>, and a new one is started. Throws when the new state cannot be saved.
   */
  async clear(): Promise<void> {
    const at = this.now().toISOString();
    if (this.unreadable !== undefined) {
      await rename(this.file, `${this.file}.unreadable-${at.replace(/[:.]/g, '-')}`);
      this.unreadable = undefined;
    }
    this.credits = {};
    this.late = {};
    this.resetAt = at;
    this.startedAt ??= at;
    await this.save();
  }

  /** Records where the readers stand; written with the credits (kept in memory if it cannot be). */
  async saveCursor(cursor: unknown): Promise<void> {
    this.cursor = cursor;
    await this.save().catch(() => undefined);
  }

  get(id: string): Credit | undefined {
    return this.credits[id];
  }

  private save(): Promise<void> {
    const run = this.writing.then(() => this.write());
    this.writing = run.catch(() => undefined);
    return run;
  }

  private async write(): Promise<void> {
    if (this.unreadable !== undefined) throw new Error(this.unreadable);
    const state = JSON.stringify({
      credits: this.credits,
      late: this.late,
      session: this.session,
      resetAt: this.resetAt,
      startedAt: this.startedAt,
      cursor: this.cursor,
    });
    const tmp = `${this.file}.tmp`;
    try {
      await mkdir(path.dirname(this.file), { recursive: true });
      // A leftover of an interrupted write (maybe another owner's) goes first: it is never the only copy.
      await rm(tmp, { force: true });
      const handle = await open(tmp, 'wx', 0o600);
      try {
        await handle.writeFile(state);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(tmp, this.file);
      this.unwritten = undefined;
    } catch (error) {
      this.unwritten = `cannot save progress to ${this.file} (${(error as Error).message}); credits are kept in memory until it can`;
      throw error;
    }
  }
}

/** The state in `text`, or why it is not one. */
function parseState(text: string): z.infer<typeof StateSchema> | string {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    return text.trim() === '' ? 'empty' : `not JSON: ${(error as Error).message}`;
  }
  const parsed = StateSchema.safeParse(data);
  return parsed.success ? parsed.data : describeIssue(parsed.error);
}
