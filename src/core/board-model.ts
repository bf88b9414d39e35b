import pLimit from 'p-limit';
import type { DiskInfo, Engine } from '../docker/engine.js';
import { BOARD_CONCURRENCY, concurrency } from './limits.js';
import { isStopped, observeClass, type ObservedClass } from './observed-class.js';
import type { PersonFields } from './roster.js';
import { SidecarClient, SidecarMismatchError } from './sidecar-client.js';
import { clockText, sessionOf, studentEnd } from './session.js';
import type { ExerciseStatus } from './wire.js';

/** One exercise of one student, as their sidecar says it (the wire schema). */
export type ExerciseResult = ExerciseStatus;

export interface StudentResults extends PersonFields {
  student: number;
  /**
   * Set when the student's sidecar did not answer (their row shows nothing done), or answered that it cannot keep
   * their progress (their row shows what it holds in memory): their row says so, the others still show.
   */
  error?: string;
  /** Set when the student sleeps (`labctl stop`): nothing failed, and their sidecar is not asked until `start`. */
  stopped?: true;
  /** Their node's name, when the engine places students on nodes (Swarm). */
  node?: string;
  /** Set when the student's node is down or gone: they have no server (their node's name). */
  lostNode?: string;
  /** Set when the student's mail server is not running, on a node that is not lost (`mail exited`): no server. */
  noServer?: string;
  exercises: ExerciseResult[];
  /** The last time the student made progress (ISO), as their sidecar says (see wire.ts). */
  lastProgressAt?: string;
  /** Set when the student has made no progress for the board's stuck time or more: for how long, in minutes. */
  stuckMinutes?: number;
  /** How full the student's disk is, where the engine gives them one. */
  disk?: DiskUse;
}

export interface DiskUse {
  usedBytes: number;
  /** The disk's size: what the student may write in all. */
  boundBytes: number;
  /** Whole percent of what the student may write that is used, as `df` gives it. */
  percent: number;
}

/** A disk this full (percent) is flagged on the board and in `status`: its student is near their bound. */
export const DISK_NEAR_FULL = 90;

/** How full a mounted disk is; undefined for one that is not mounted. */
export function diskUse(disk: DiskInfo | undefined): DiskUse | undefined {
  if (!disk || disk.usedBytes === undefined || disk.availableBytes === undefined) return undefined;
  const usable = disk.usedBytes + disk.availableBytes;
  const percent = usable > 0 ? Math.ceil((100 * disk.usedBytes) / usable) : 100;
  return { usedBytes: disk.usedBytes, boundBytes: disk.bytes, percent: Math.min(100, percent) };
}

/** How many students (of those on the board) have done one exercise. */
export interface ExerciseShare {
  id: string;
  done: number;
  students: number;
  /** done / students, as a whole percentage (0 for an empty board). */
  percent: number;
}

export interface Board {
  class: string;
  lab: string;
  exercises: { id: string; title: string }[];
  students: StudentResults[];
  /** A student with no progress for this many minutes or more is marked stuck. */
  stuckAfterMinutes: number;
  /** Per exercise, in the lab's order: the share of the class that has done it. */
  shares: ExerciseShare[];
  /** A graded session's end (`up --for/--until`), as the room reads it, and the students with extra time. */
  session?: BoardSession;
}

export interface BoardSession {
  end: string;
  /** "16:00", in the class's time zone. */
  endText: string;
  extra: { student: number; end: string; endText: string }[];
}

/** A student is stuck after this long without progress, unless told otherwise (`--stuck`). */
export const DEFAULT_STUCK_MINUTES = 15;

export interface BoardOptions {
  student?: number;
  /** Minutes without progress before a student is marked stuck. */
  stuckMinutes?: number;
  now?: () => Date;
}

/**
 * Marks the students who have made no progress for `stuckMinutes` or more, by `now`: their last credit, else
 * when their progress began to count, is that old, and they have exercises left. A student whose sidecar did
 * not answer, or did not say (an older sidecar), is not marked.
 */
export function markStuck(students: StudentResults[], stuckMinutes: number, now: Date): StudentResults[] {
  return students.map(({ stuckMinutes: _, ...s }) => {
    const last = s.lastProgressAt === undefined ? NaN : Date.parse(s.lastProgressAt);
    const idle = Math.floor((now.getTime() - last) / 60_000);
    const left = s.exercises.some((e) => !e.done);
    return !s.error && left && Number.isFinite(idle) && idle >= stuckMinutes ? { ...s, stuckMinutes: idle } : s;
  });
}

/** The share of the students on the board that has done each exercise. */
export function exerciseShares(exercises: { id: string }[], students: StudentResults[]): ExerciseShare[] {
  return exercises.map(({ id }) => {
    const done = students.filter((s) => s.exercises.some((e) => e.id === id && e.done)).length;
    const percent = students.length === 0 ? 0 : Math.round((100 * done) / students.length);
    return { id, done, students: students.length, percent };
  });
}

/**
 * The class's pace: when each credit of the students on the board came (ISO), earliest first, whoever earned it. An
 * exercise done without a time (the log did not tell), or proved only after the session's end, is not in it.
 */
export function creditTimes(students: StudentResults[]): string[] {
  const times = students.flatMap((s) => s.exercises.flatMap((e) => (e.done && e.at !== null ? [e.at] : [])));
  return times
    .map((at) => ({ at, t: Date.parse(at) }))
    .filter((x) => Number.isFinite(x.t))
    .sort((a, b) => a.t - b.t)
    .map((x) => x.at);
}

/** Asks every student's sidecar for their results, in parallel (bounded), each with its own admin key. */
export async function classBoard(className: string, engine: Engine, options: BoardOptions = {}): Promise<Board> {
  return boardOf(await observeClass(engine, className, options.student), options);
}

/** The board of an observed class: what each student's sidecar says. */
export async function boardOf(observed: ObservedClass, options: BoardOptions = {}): Promise<Board> {
  const { lab } = observed;
  const stuckAfterMinutes = options.stuckMinutes ?? DEFAULT_STUCK_MINUTES;
  const limit = pLimit(concurrency(BOARD_CONCURRENCY));
  const students = await Promise.all(
    observed.students
      .filter((s) => s.mail)
      .map((s) =>
        limit(async (): Promise<StudentResults> => {
          const notDone: ExerciseResult[] = lab.exercises.map((e) => ({ ...e, done: false, at: null, evidence: null }));
          const answer = (fields: Omit<StudentResults, 'student' | 'exercises'>, exercises = notDone) => ({
            student: s.student,
            exercises,
            ...fields,
          });
          if (isStopped(s)) return answer({ stopped: true });
          if (!s.sidecar || !s.adminKey || s.ports.web === undefined) return answer({ error: 'no sidecar' });
          if (s.nodeLost) {
            const node = s.nodeName ?? '?';
            return answer({ error: `node ${node} is ${s.nodeLost}: no server`, lostNode: node });
          }
          const mail = s.mail!.state === 'running' ? {} : { noServer: `mail ${s.mail!.state}` };
          if (s.sidecar.state !== 'running') return answer({ error: `sidecar ${s.sidecar.state}`, ...mail });
          try {
            const client = new SidecarClient({ host: s.address, port: s.ports.web, key: s.adminKey });
            const progress = await client.progress();
            const byId = new Map(progress.exercises.map((e) => [e.id, e]));
            return answer(
              {
                ...mail,
                ...(progress.lastProgressAt !== undefined && { lastProgressAt: progress.lastProgressAt }),
                ...(progress.problem !== undefined && { error: `progress not saved: ${progress.problem}` }),
              },
              notDone.map((e) => byId.get(e.id) ?? e),
            );
          } catch (error) {
            const message = (error as Error).message;
            return answer({
              error: error instanceof SidecarMismatchError ? message : `sidecar down (${message})`,
              ...mail,
            });
          }
        }),
      ),
  );
  const marked = markStuck(students, stuckAfterMinutes, (options.now ?? (() => new Date()))());
  const person = new Map(observed.students.map((s) => [s.student, s]));
  const about = (n: number) => {
    const s = person.get(n);
    const disk = diskUse(s?.disk);
    return {
      ...(s?.name !== undefined && { name: s.name }),
      ...(s?.email !== undefined && { email: s.email }),
      ...(s?.number !== undefined && { number: s.number }),
      ...(s?.group !== undefined && { group: s.group }),
      ...(s?.nodeName !== undefined && { node: s.nodeName }),
      ...(disk && { disk }),
    };
  };
  const session = sessionOf(observed.className, observed.objects.volumes);
  return {
    class: observed.className,
    lab: lab.name,
    exercises: lab.exercises,
    students: marked.map((s) => ({ ...s, ...about(s.student) })),
    stuckAfterMinutes,
    shares: exerciseShares(lab.exercises, marked),
    ...(session && {
      session: {
        end: session.end,
        endText: clockText(Date.parse(session.end), session.timeZone),
        extra: Object.keys(session.extra)
          .map(Number)
          .filter((n) => person.has(n))
          .sort((a, b) => a - b)
          .map((n) => {
            const end = studentEnd(session, n);
            return { student: n, end: new Date(end).toISOString(), endText: clockText(end, session.timeZone) };
          }),
      },
    }),
  };
}
