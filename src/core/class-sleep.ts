import pLimit from 'p-limit';
import { ExitCode, LabctlError } from '../errors.js';
import type { Engine, WorkloadInfo } from '../docker/engine.js';
import { bootInTurn, waitStudentReady } from './apply.js';
import { planFor } from './class-up.js';
import { classStatus, type StudentStatus } from './class-status.js';
import { concurrency } from './limits.js';
import type { ObservedClass, ObservedStudent } from './observed-class.js';
import type { Plan, StudentPlan } from './plan.js';

/** A student after `stop` or `start`, as the engine and their ports say afterwards. */
export interface SleepRow {
  student: number;
  state: StudentStatus['state'];
  /** What did not stop or come back: a workload's state, a service that did not answer, an engine's refusal. */
  problem?: string;
}

export interface SleepResult {
  class: string;
  students: SleepRow[];
  seconds: number;
  /** Ctrl-C came: the students under way were finished, the others not begun (the rows say where each is). */
  interrupted?: boolean;
}

/** How long each service may take to greet, when the state is read afterwards. */
const PROBE_MS = 5000;

const workloads = (s: ObservedStudent): WorkloadInfo[] => [s.mail, s.sidecar].flatMap((w) => (w ? [w] : []));

/**
 * The students' rows as the engine holds them now (and, for running ones, as their ports answer now); a student not
 * in the state `wanted` says why, from what the engine and the ports say, else from what the run met (`problems`).
 */
async function afterwards(
  engine: Engine,
  observed: ObservedClass,
  wanted: StudentStatus['state'],
  problems: Map<number, string>,
): Promise<SleepRow[]> {
  const chosen = new Set(observed.students.map((s) => s.student));
  // Every port of the class is asked at once: on a busy host an sshd re-exec may take seconds, which is not a failure.
  const rows = (await classStatus(engine, observed.className, { timeoutMs: PROBE_MS, greet: true })).filter((r) =>
    chosen.has(r.student),
  );
  return rows.map((r) => {
    if (r.state === wanted) return { student: r.student, state: r.state };
    const roles = ['mail', 'sidecar'] as const;
    const seen = [
      ...roles.filter((role) => !(role in r.containers)).map((role) => `no ${role}`),
      ...roles
        .filter((role) => role in r.containers && (wanted === 'stopped') === (r.containers[role] === 'running'))
        .map((role) => `${role} ${r.containers[role]}`),
      ...Object.entries(r.services)
        .filter(([service, up]) => !up && r.containers[service === 'web' ? 'sidecar' : 'mail'] === 'running')
        .map(([service]) => `${service} does not answer`),
    ];
    const problem = problems.get(r.student) ?? (seen.join(', ') || r.state);
    return { student: r.student, state: r.state, problem };
  });
}

/**
 * Stops every workload of the class's students (of `observed`, already narrowed to one student when asked), and
 * keeps everything else: networks, volumes, disks, progress. A stopped workload stays stopped when the engine
 * restarts (restart policy `unless-stopped`), until `startClass`. Ctrl-C (`signal`): the students under way are
 * stopped, the others left running.
 */
export async function stopClass(engine: Engine, observed: ObservedClass, signal?: AbortSignal): Promise<SleepResult> {
  const started = Date.now();
  const limit = pLimit(concurrency(engine.parallelism));
  const problems = new Map<number, string>();
  await Promise.all(
    observed.students.map((s) =>
      limit(async () => {
        if (signal?.aborted) return;
        // The mail server's PID 1 stops its daemons on SIGTERM (Postfix finishes writing a mailbox): 3 s is plenty.
        const failures = await Promise.allSettled(workloads(s).map((w) => engine.stopWorkload(w.name, 3)));
        const failed = failures.find((f): f is PromiseRejectedResult => f.status === 'rejected');
        if (failed) problems.set(s.student, (failed.reason as Error).message);
      }),
    ),
  );
  return {
    class: observed.className,
    students: await afterwards(engine, observed, 'stopped', problems),
    seconds: secs(started),
    ...(signal?.aborted && { interrupted: true }),
  };
}

export interface StartOptions {
  timeoutSeconds: number;
  signal: AbortSignal;
  onProgress?: (done: number, total: number) => void;
  /** How a started student is waited for; by default, until every port answers with its greeting (as `up`). */
  ready?: (s: StudentPlan, deadline: () => number, signal: AbortSignal) => Promise<void>;
}

/**
 * Brings stopped students back: their disk mounted again if it is not (after a reboot of the engine's host), their
 * workloads started, a few students booting at a time as `up` does, each waited for until every service answers.
 * A student who does not come back is reported, never undone: the others stay up. What is reported is read from the
 * engine and the ports afterwards, not from what this run remembers.
 */
export async function startClass(engine: Engine, observed: ObservedClass, options: StartOptions): Promise<SleepResult> {
  const started = Date.now();
  const plan = await planOf(observed);
  const byStudent = new Map(plan.students.map((s) => [s.student, s]));
  const problems = new Map<number, string>();
  let done = 0;
  const tasks = bootInTurn(
    observed.students,
    { concurrency: concurrency(engine.parallelism), timeoutSeconds: options.timeoutSeconds },
    async (s) => {
      options.signal.throwIfAborted();
      const missing = (['mail', 'sidecar'] as const).filter((role) => !s[role]);
      if (missing.length > 0) throw new Error(`no ${missing.join(' or ')} workload: \`labctl up\` makes it again`);
      // After a reboot the disk is not mounted, and the volumes bound from it would not mount: mount it first.
      if (s.disk) await engine.createDisk({ name: s.disk.name, bytes: s.disk.bytes, labels: s.disk.labels });
      await Promise.all(workloads(s).map((w) => (w.state === 'running' ? undefined : engine.startWorkload(w.name))));
    },
    async (s, deadline) => {
      const target = byStudent.get(s.student)!;
      await (options.ready
        ? options.ready(target, deadline, options.signal)
        : waitStudentReady(target, plan, engine, deadline, options.signal));
      options.onProgress?.(++done, observed.students.length);
    },
  );
  const results = await Promise.allSettled(tasks);
  const interrupted = options.signal.aborted;
  results.forEach((r, i) => {
    const student = observed.students[i]!.student;
    if (r.status === 'rejected')
      problems.set(student, interrupted ? 'interrupted' : firstLine((r.reason as Error).message));
  });
  // What answers now decides, whatever the run saw: a student who answered may have stopped since, and the reverse.
  const rows = await afterwards(engine, observed, 'up', problems);
  return { class: observed.className, students: rows, seconds: secs(started), ...(interrupted && { interrupted }) };
}

/** The plan the class was made with, for where its ports answer and what they greet with (its CA, its names). */
export function planOf(observed: ObservedClass): Promise<Plan> {
  return planFor(
    {
      lab: observed.lab,
      className: observed.className,
      students: Math.max(...observed.students.map((s) => s.student)),
      basePort: observed.basePort,
      host: observed.host,
      bind: observed.bind,
    },
    observed.objects,
  );
}

const secs = (since: number) => Math.round((Date.now() - since) / 100) / 10;
const firstLine = (text: string) => text.split('\n')[0] ?? text;

/** What an interrupted `stop` or `start` says: who reached `wanted`, who did not, and how to finish (exit 130). */
export function interruptedSleep(
  result: SleepResult,
  wanted: 'up' | 'stopped',
  command: 'stop' | 'start',
  className: string,
): LabctlError {
  const reached = result.students.filter((s) => s.state === wanted).map((s) => s.student);
  const not = result.students.filter((s) => s.state !== wanted).map((s) => s.student);
  const list = (ns: number[]) => (ns.length > 0 ? `student(s) ${ns.join(', ')}` : 'nobody');
  return new LabctlError(
    ExitCode.interrupted,
    `Interrupted: ${wanted}: ${list(reached)}; not ${wanted}: ${list(not)}.`,
    `Run \`labctl ${command} --class ${className}\` again for the others.`,
  );
}
