import pLimit from 'p-limit';
import type { Engine } from '../docker/engine.js';
import { ExitCode, LabctlError, usageError } from '../errors.js';
import { withClassLock } from './class-lock.js';
import type { Feedback } from './feedback.js';
import { concurrency } from './limits.js';
import { observeClass, type ObservedClass, type ObservedStudent } from './observed-class.js';
import {
  clockText,
  durationText,
  localTimeZone,
  parseDuration,
  parseUntil,
  saveSession,
  sessionOf,
  studentEnd,
  archivedAfterEnd,
  type Session,
} from './session.js';
import { SidecarClient } from './sidecar-client.js';

/** What a time box is asked as: `--until 16:00` or `--for 2h` (up, the class file), `--by 15m` or `--until` (extend). */
export interface TimeBox {
  until?: string;
  for?: string;
}

/** What became of one student's copy of their end. */
export interface Delivery {
  student: number;
  /** Their end (ISO). */
  end: string;
  /** Whether their mail server and their sidecar now hold it; else why not. */
  server: true | string;
  sidecar: true | string;
}

/** How a student's end reaches their server and sidecar; tests give their own. */
export interface Messenger {
  server(engine: Engine, s: ObservedStudent, end: number, text: string): Promise<void>;
  sidecar(s: ObservedStudent, end: number, text: string): Promise<void>;
}

export const realMessenger: Messenger = {
  async server(engine, s, end, text) {
    const run = await engine.maintenance(s.mail!, { action: 'session', end: Math.ceil(end / 1000), text });
    if (run.exitCode !== 0) throw new Error((run.stderr || run.stdout).trim() || `exit ${run.exitCode}`);
  },
  async sidecar(s, end, text) {
    if (!s.adminKey || s.ports.web === undefined) throw new Error('no sidecar');
    const client = new SidecarClient({ host: s.address, port: s.ports.web, key: s.adminKey });
    await client.setSession({ end: new Date(end).toISOString(), endText: text });
  },
};

const running = (s: ObservedStudent) => s.mail?.state === 'running' && s.sidecar?.state === 'running';

/**
 * Gives each student's mail server and sidecar their own end (the class's, plus their extra time), which they
 * enforce with labctl not running. A stopped student gets it at `labctl start`.
 */
export async function pushSession(
  engine: Engine,
  observed: ObservedClass,
  session: Session,
  seats?: number[],
  messenger: Messenger = realMessenger,
): Promise<Delivery[]> {
  const limit = pLimit(concurrency(engine.parallelism));
  const students = observed.students.filter((s) => s.mail && (seats === undefined || seats.includes(s.student)));
  return Promise.all(
    students.map((s) =>
      limit(async (): Promise<Delivery> => {
        const end = studentEnd(session, s.student);
        const text = clockText(end, session.timeZone);
        const delivery: Delivery = {
          student: s.student,
          end: new Date(end).toISOString(),
          server: true,
          sidecar: true,
        };
        if (!running(s)) {
          delivery.server = delivery.sidecar = 'stopped: `labctl start` gives it';
          return delivery;
        }
        const why = (error: unknown) => (error as Error).message;
        await Promise.all([
          messenger.server(engine, s, end, text).catch((error) => (delivery.server = why(error))),
          messenger.sidecar(s, end, text).catch((error) => (delivery.sidecar = why(error))),
        ]);
        return delivery;
      }),
    ),
  );
}

/** The students whose server or sidecar did not take their end (stopped ones aside), as one line each. */
export function failedDeliveries(deliveries: Delivery[]): string[] {
  return deliveries.flatMap((d) => {
    const stopped = (v: true | string) => typeof v === 'string' && v.startsWith('stopped');
    const out: string[] = [];
    if (d.server !== true && !stopped(d.server)) out.push(`student ${d.student}'s server: ${d.server}`);
    if (d.sidecar !== true && !stopped(d.sidecar)) out.push(`student ${d.student}'s sidecar: ${d.sidecar}`);
    return out;
  });
}

/** Reads a time box as asked, without changing anything: a wrong one stops `up` before it starts anyone. */
export function checkTimeBox(box: TimeBox, now: Date = new Date()): void {
  if (box.until !== undefined && box.for !== undefined)
    throw usageError('--until and --for both set the end: give one of them.');
  if (box.for !== undefined) parseDuration(box.for, '--for');
  if (box.until !== undefined) parseUntil(box.until, '--until', now, localTimeZone());
}

/**
 * `up`'s part: a class without a time box gets the one asked for (its end counted from now, once every student
 * answers); a class with one keeps it (`extend` moves it). Either way every running student is given their end, so
 * a student `up` just added or recreated holds it too. Runs under `up`'s lock.
 */
export async function settleSession(
  engine: Engine,
  className: string,
  box: TimeBox,
  feedback: Feedback,
  now: () => Date = () => new Date(),
  messenger: Messenger = realMessenger,
): Promise<Session | undefined> {
  checkTimeBox(box, now());
  const observed = await observeClass(engine, className);
  let session = sessionOf(className, observed.objects.volumes);
  const asked = box.until !== undefined || box.for !== undefined;
  if (session && asked) {
    feedback.info(
      `Class ${className} already has a time box, ending at ${clockText(Date.parse(session.end), session.timeZone)}: it is kept. \`labctl extend\` moves it.`,
    );
  } else if (!session && asked) {
    const at = now();
    const timeZone = localTimeZone();
    const end =
      box.until !== undefined
        ? parseUntil(box.until, '--until', at, timeZone)
        : at.getTime() + parseDuration(box.for!, '--for');
    if (end <= at.getTime())
      throw usageError(
        `--until ${box.until} is already past (it is ${clockText(at.getTime(), timeZone)}).`,
        'Give a later time, or a date and time (2026-12-02T16:00).',
      );
    session = await saveSession(
      engine,
      {
        class: className,
        start: at.toISOString(),
        end: new Date(end).toISOString(),
        timeZone,
        extra: {},
        archived: {},
        savedAt: at.toISOString(),
      },
      at,
    );
  }
  if (!session) return undefined;
  const failed = failedDeliveries(await pushSession(engine, observed, session, undefined, messenger));
  if (failed.length > 0) feedback.warn(`The session's end did not reach ${failed.join('; ')}.`);
  return session;
}

export interface ExtendInput {
  className: string;
  student?: number;
  /** Move the end by this much (2h, 15m). */
  by?: string;
  /** Or set it: a time of day or a date and time. */
  until?: string;
}

export interface ExtendResult {
  session: Session;
  /** The ends before and after, per student changed. */
  changed: { student: number; before: string; after: string; extraMs: number }[];
  deliveries: Delivery[];
}

/**
 * Moves the end of the class, or of one student (their extra time), on the class's record and on the servers and
 * sidecars concerned, without recreating anything. Holds the class's lock.
 */
export async function extendSession(
  engine: Engine,
  input: ExtendInput,
  feedback: Feedback,
  signal: AbortSignal,
  now: () => Date = () => new Date(),
  messenger: Messenger = realMessenger,
): Promise<ExtendResult> {
  if ((input.by === undefined) === (input.until === undefined))
    throw usageError('How much? Give --by DURATION (e.g. 15m) or --until TIME (e.g. 16:30).');
  // --by -5m takes time back (a mistake, or extra time given to the wrong seat).
  const by =
    input.by === undefined
      ? undefined
      : input.by.trim().startsWith('-')
        ? -parseDuration(input.by.trim().slice(1), '--by')
        : parseDuration(input.by, '--by');
  return withClassLock(
    engine,
    input.className,
    async () => {
      const observed = await observeClass(engine, input.className, input.student);
      const session = sessionOf(input.className, observed.objects.volumes);
      if (!session) {
        throw usageError(
          `Class ${input.className} has no time box to extend.`,
          `Give it one with \`labctl up --class ${input.className} --for 2h\` (or --until 16:00).`,
        );
      }
      const until = input.until === undefined ? undefined : parseUntil(input.until, '--until', now(), session.timeZone);
      const seats = observed.students.filter((s) => s.mail).map((s) => s.student);
      const before = new Map(seats.map((n) => [n, studentEnd(session, n)]));
      const next: Session = { ...session, extra: { ...session.extra } };
      if (input.student === undefined) {
        const end = until ?? Date.parse(session.end) + by!;
        next.end = new Date(end).toISOString();
      } else {
        const key = String(input.student);
        const extra = until !== undefined ? until - Date.parse(session.end) : (session.extra[key] ?? 0) + by!;
        if (extra === 0) delete next.extra[key];
        else next.extra[key] = extra;
      }
      const saved = await saveSession(engine, next, now());
      const changed = seats
        .map((n) => ({
          student: n,
          before: new Date(before.get(n)!).toISOString(),
          after: new Date(studentEnd(saved, n)).toISOString(),
          extraMs: saved.extra[String(n)] ?? 0,
        }))
        .filter((c) => c.before !== c.after);
      const deliveries = await pushSession(
        engine,
        observed,
        saved,
        changed.map((c) => c.student),
        messenger,
      );
      return { session: saved, changed, deliveries };
    },
    { command: 'extend', onWait: (message) => feedback.info(message), signal },
  );
}

/** "16:15 (+15 min)": a student's end as the CLI says it. */
export function endLine(session: Session, n: number): string {
  const extra = session.extra[String(n)] ?? 0;
  const sign = extra < 0 ? '-' : '+';
  return `${clockText(studentEnd(session, n), session.timeZone)}${extra !== 0 ? ` (${sign}${durationText(Math.abs(extra))})` : ''}`;
}

/** Exit 4 when some running student did not take their new end: their labels and their server disagree. */
export function deliveryError(deliveries: Delivery[]): LabctlError | undefined {
  const failed = failedDeliveries(deliveries);
  if (failed.length === 0) return undefined;
  return new LabctlError(
    ExitCode.engine,
    `The new end is recorded with the class, but did not reach ${failed.join('; ')}.`,
    'Run the same command again once they answer (`labctl status`); `labctl start` and `labctl up` give it too.',
  );
}

/**
 * Notes on the class's session that these students' evidence was archived at `at` (ISO): `down --purge` wants an
 * archive made after each student's end. No time box: nothing to note. Holds the class's lock.
 */
export async function noteArchived(
  engine: Engine,
  className: string,
  students: number[],
  at: string,
  signal?: AbortSignal,
): Promise<Session | undefined> {
  return withClassLock(
    engine,
    className,
    async () => {
      const session = sessionOf(className, (await engine.list(className)).volumes);
      if (!session) return undefined;
      const archived = { ...session.archived };
      for (const n of students) archived[String(n)] = at;
      return saveSession(engine, { ...session, archived });
    },
    { command: 'archive', ...(signal && { signal }) },
  );
}

/**
 * Why `down --purge` must not run on these seats of a graded class: the students whose evidence has no archive
 * made after their end (none: it may). A class without a time box is not graded: it may.
 */
export function unarchivedSeats(session: Session | undefined, seats: number[]): number[] {
  if (!session) return [];
  return seats.filter((n) => !archivedAfterEnd(session, n));
}
