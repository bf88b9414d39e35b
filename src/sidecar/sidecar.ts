import { EventEmitter } from 'node:events';
import path from 'node:path';
import type { Progress, SessionEnd } from '../core/wire.js';
import { compileRules, type CompiledLab } from '../core/lab-rules/compile.js';
import type { SidecarConfig } from './config.js';
import { eventsOfLine, type LabEvent } from './lines.js';
import type { Clock } from './parse-log.js';
import { LabVerifier, type VerifierStats } from './verifier.js';
import { ProgressStore } from './progress.js';
import { fallbackEndText } from './session-text.js';
import { ArchiveScanner, LogTail, type ArchiveCursor, type ArchiveStats, type LogCursor } from './sources.js';

export type { ExerciseStatus, Progress } from '../core/wire.js';

export interface SidecarOptions {
  now?: Clock;
  /** Bounds of the pending state, for tests. */
  maxQueueIds?: number;
  maxAgeMs?: number;
  /** Archive files read per poll. */
  maxFilesPerPoll?: number;
}

export interface SidecarStats extends VerifierStats {
  archive: ArchiveStats;
  log: LogCursor;
  /** Completed polls, and when the last one ended (ISO) . */
  polls: number;
  lastPollAt: string | null;
}

const CURSOR_SAVE_MS = 5000;

/** From this long before the end, the page and the terminal warn the student. */
export const WARN_BEFORE_END_MS = 5 * 60_000;

/** Where the student's session stands: no time box, open, in its last minutes, or over. */
export type SessionPhase = 'none' | 'open' | 'warning' | 'ended';

interface Cursor {
  log?: LogCursor;
  archive?: ArchiveCursor;
}

/** Watches one student's mail server and keeps their credits; emits 'change' when one is earned. */
export class Sidecar extends EventEmitter {
  private readonly log: LogTail<LabEvent>;
  private readonly archive: ArchiveScanner;
  private readonly verifier: LabVerifier;
  /** The lab's evidence and exercises, as the rules read them. */
  readonly lab: CompiledLab;
  private readonly now: Clock;
  private readonly startedAt: number;
  private lastPoll: number | undefined;
  private polls = 0;
  private lastError: string | undefined;
  private restored = false;
  private cursorDirty = false;
  private cursorSavedAt = 0;
  private phase: SessionPhase = 'none';
  readonly store: ProgressStore;

  constructor(
    readonly config: SidecarConfig,
    options: SidecarOptions = {},
  ) {
    super();
    this.now = options.now ?? (() => new Date());
    this.startedAt = this.now().getTime();
    const trusted = new Set(config.trustedUids);
    this.lab = compileRules({ evidence: config.evidence, exercises: config.exercises });
    const ctx = { cardDomain: config.card.domain, accounts: new Set(config.card.users ?? []) };
    this.log = new LogTail(config.verifyLog, (line) => eventsOfLine(line, this.lab, ctx, trusted));
    this.archive = new ArchiveScanner(config.archiveDir, options.maxFilesPerPoll);
    this.store = new ProgressStore(config.stateFile, this.now);
    this.verifier = new LabVerifier({
      lab: this.lab,
      trustedUids: trusted,
      cardDomain: config.card.domain,
      accounts: config.card.users ?? [],
      exercises: config.exercises.map((e) => e.id),
      now: this.now,
      since: () => this.store.resetAt,
      isCredited: (id) => this.store.get(id) !== undefined,
      ...(options.maxQueueIds !== undefined && { maxQueueIds: options.maxQueueIds }),
      ...(options.maxAgeMs !== undefined && { maxAgeMs: options.maxAgeMs }),
    });
  }

  /** Where the evidence changes: the log's directory (rotation included) and the archive's, parents first. */
  evidenceDirs(): string[] {
    const archive = this.config.archiveDir;
    return [path.dirname(this.config.verifyLog), archive, path.join(archive, 'new'), path.join(archive, 'cur')];
  }

  /** Reads what is new in the trusted log and the archive, and credits what it proves. */
  async poll(): Promise<void> {
    try {
      await this.pollOnce();
      this.lastError = undefined;
    } catch (error) {
      this.lastError = (error as Error).message;
      throw error;
    }
  }

  private async pollOnce(): Promise<void> {
    if (!this.restored) {
      const cursor = (this.store.cursor ?? {}) as Cursor;
      this.log.restore(cursor.log);
      this.archive.restore(cursor.archive);
      this.restored = true;
    }
    const before = JSON.stringify(this.log.cursor());
    const problem = this.store.problem;
    await this.log.read((e) => this.verifier.addEvent(e));
    await this.archive.read((m) => this.verifier.addMessage(m));
    this.verifier.prune();
    const results = this.verifier.take();
    const changed = results.length > 0 && (await this.store.merge(results));
    const hinted = this.verifier.takeHintsChanged();
    // The cursor is saved with each new credit, else at most every CURSOR_SAVE_MS: a restart reads again at
    // most that much, which credits nothing twice.
    this.cursorDirty ||= this.archive.takeChanged() || JSON.stringify(this.log.cursor()) !== before;
    const nowMs = this.now().getTime();
    if (this.cursorDirty && (changed || nowMs - this.cursorSavedAt >= CURSOR_SAVE_MS)) {
      await this.store.saveCursor(this.cursor());
      this.cursorDirty = false;
      this.cursorSavedAt = nowMs;
    }
    this.lastPoll = this.now().getTime();
    this.polls++;
    const phased = this.checkPhase();
    if (changed || hinted || phased || this.store.problem !== problem) this.emit('change');
  }

  /** Where the session stands now, by the sidecar's own clock. */
  sessionPhase(): SessionPhase {
    const end = this.store.session.end;
    if (end === null) return 'none';
    const left = Date.parse(end) - this.now().getTime();
    return left <= 0 ? 'ended' : left <= WARN_BEFORE_END_MS ? 'warning' : 'open';
  }

  /** The end as students read it ("16:00"), when there is one. */
  sessionEndText(): string | undefined {
    const { end, endText } = this.store.session;
    return end === null ? undefined : (endText ?? fallbackEndText(end));
  }

  /** Milliseconds left until the end (negative after it), when there is one. */
  sessionLeftMs(): number | undefined {
    const { end } = this.store.session;
    return end === null ? undefined : Date.parse(end) - this.now().getTime();
  }

  /** Emits 'phase' when the session's phase changed since the last look (the terminal warns, then closes). */
  private checkPhase(): boolean {
    const phase = this.sessionPhase();
    if (phase === this.phase) return false;
    this.phase = phase;
    this.emit('phase', phase);
    return true;
  }

  /** labctl tells when the student's session ends; what came after it stops counting at once. */
  async setSession(session: SessionEnd): Promise<void> {
    try {
      await this.store.setSession(session);
    } finally {
      this.checkPhase();
      this.emit('change');
    }
  }

  /**
   * Healthy while polls keep completing and the credits are saved: no poll for 3 idle poll periods (15 s by default, at
   * least 5 s) means the loop is stuck (stalled); a progress file that cannot be read or written means credits are not
   * kept (unsaved).
   */
  health(): { status: 'ok' } | { status: 'stalled' | 'unsaved'; reason: string } {
    const limit = Math.max(3 * this.config.idlePollMs, 5000);
    const since = this.now().getTime() - (this.lastPoll ?? this.startedAt);
    if (since > limit) {
      const stalled =
        this.lastPoll === undefined
          ? `no poll completed in the ${Math.round(since / 1000)} s since the start`
          : `no poll completed for ${Math.round(since / 1000)} s (limit ${Math.round(limit / 1000)} s)`;
      return { status: 'stalled', reason: this.lastError ? `${stalled}; last error: ${this.lastError}` : stalled };
    }
    const problem = this.store.problem;
    return problem === undefined ? { status: 'ok' } : { status: 'unsaved', reason: problem };
  }

  stats(): SidecarStats {
    return {
      ...this.verifier.stats(),
      archive: this.archive.stats(),
      log: this.log.cursor(),
      polls: this.polls,
      lastPollAt: this.lastPoll === undefined ? null : new Date(this.lastPoll).toISOString(),
    };
  }

  /** Saves where the readers stand and closes the log. */
  async close(): Promise<void> {
    if (this.cursorDirty) await this.store.saveCursor(this.cursor()).catch(() => undefined);
    this.cursorDirty = false;
    await this.log.close();
  }

  async resetProgress(): Promise<void> {
    await this.store.clear();
    this.verifier.clearHints();
    this.verifier.takeHintsChanged();
    this.emit('change');
  }

  progress(): Progress {
    const hints = this.verifier.hints();
    let last = this.store.since;
    const exercises = this.config.exercises.map((e) => {
      const credit = this.store.get(e.id);
      const late = this.store.lateProof(e.id);
      const hint = credit ? undefined : hints.get(e.id);
      if (credit?.at && (last === null || credit.at > last)) last = credit.at;
      const shown = credit ?? late;
      return {
        id: e.id,
        title: e.title,
        done: Boolean(credit),
        at: shown?.at ?? null,
        evidence: shown?.evidence ?? null,
        ...(hint !== undefined && { hint }),
        ...(!credit && late && { afterEnd: true }),
      };
    });
    const session = this.store.session;
    return {
      class: this.config.card.className,
      student: this.config.card.student,
      lab: this.config.labName,
      title: this.config.labTitle,
      done: exercises.filter((e) => e.done).length,
      total: exercises.length,
      exercises,
      ...(last !== null && { lastProgressAt: last }),
      ...(this.store.problem !== undefined && { problem: this.store.problem }),
      ...(session.end !== null && {
        session: {
          end: session.end,
          ...(session.endText !== undefined && { endText: session.endText }),
          now: this.now().toISOString(),
        },
      }),
    };
  }

  private cursor(): Cursor {
    return { log: this.log.cursor(), archive: this.archive.cursor() };
  }
}
