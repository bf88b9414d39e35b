import pLimit from 'p-limit';
import type { Engine, Replacement } from '../docker/engine.js';
import { ExitCode, LabctlError, conflictError } from '../errors.js';
import type { Plan, PlannedWorkload, StudentPlan } from './plan.js';
import { waitUntilReady, type Deadline, type Greeting } from './readiness.js';
import type { Diff, Step, StudentDiff } from './reconcile.js';

/**
 * What this run changed, as the way back: each entry undoes one step. Entries are written before the engine is
 * asked, so a step cut short is undone too (undoing what is not there is fine).
 */
class Journal {
  private readonly undo: { order: number; run: () => Promise<void> }[] = [];
  /** Old workloads kept while their replacements start: let go once the run succeeds. */
  readonly replacements: Replacement[] = [];

  /** `parallel`: at most this many undo steps at once (a whole class undone at once only makes the engine thrash). */
  constructor(
    private readonly engine: Engine,
    private readonly parallel: number,
  ) {}

  createdNetwork(name: string) {
    this.undo.push({ order: 3, run: () => this.engine.removeNetwork(name) });
  }
  createdVolume(name: string) {
    this.undo.push({ order: 4, run: () => this.engine.removeVolume(name) });
  }
  /** A disk this run made (not one it only mounted again): removed after the volumes on it. */
  createdDisk(name: string) {
    this.undo.push({ order: 5, run: () => this.engine.removeDisk(name) });
  }
  createdContainer(name: string) {
    this.undo.push({ order: 1, run: () => this.engine.removeWorkload(name) });
  }
  startedContainer(name: string) {
    this.undo.push({ order: 2, run: () => this.engine.stopWorkload(name, 5) });
  }
  /** A workload replaced by a new spec: on rollback the old one comes back; on success it is let go. */
  replaced(replacement: Replacement) {
    this.replacements.push(replacement);
    this.undo.push({ order: 2, run: () => replacement.undo() });
  }

  /** Undoes every step: workloads first, then networks, then volumes, then disks. Call once nothing is in flight. */
  async rollback(): Promise<string[]> {
    const failures: string[] = [];
    const limit = pLimit(this.parallel);
    for (const order of [1, 2, 3, 4, 5]) {
      await Promise.all(
        this.undo
          .filter((u) => u.order === order)
          .map((u) => limit(() => u.run().catch((error: unknown) => void failures.push((error as Error).message)))),
      );
    }
    return failures;
  }
}

/** Students booting at once, by default: a few per core of a small host, enough to keep it busy. */
export const BOOTING = 12;

export interface ApplyOptions {
  /** At most this many students being changed at once (the engine's calls). */
  concurrency: number;
  /** At most this many students between their start and their answer; default BOOTING, never below concurrency. */
  booting?: number;
  /** Seconds each student's services have to answer, from the last start of the run so far (theirs or later). */
  timeoutSeconds: number;
  /** Aborting it stops the run: nothing new starts, then what this run changed is undone. */
  signal: AbortSignal;
  onProgress?: (done: number, total: number) => void;
  /** How a changed student is waited for; by default, until every port answers with its greeting. */
  ready?: (s: StudentPlan, deadline: () => number, signal: AbortSignal) => Promise<void>;
}

/** Throws the first conflict of the diff, before anything is changed. */
export function refuseConflicts(diff: Diff): void {
  const [first] = diff.conflicts;
  if (first) {
    throw conflictError(
      first.message,
      diff.conflicts.length > 1
        ? `${first.hint} (${diff.conflicts.length - 1} more conflict(s): see \`labctl up --dry-run\`.)`
        : first.hint,
      first.code,
    );
  }
}

/** Ports the diff will publish that something on the engine's host holds outside Docker. */
export async function checkHostPorts(diff: Diff, plan: Plan, engine: Engine): Promise<void> {
  for (const s of diff.apply) {
    for (const step of s.steps) {
      if (step.kind !== 'create') continue;
      for (const port of step.container.ports) {
        if (!(await engine.portAvailable(plan.bind, port.host))) {
          throw conflictError(
            `Host port ${port.host} (student ${s.student}, ${port.service}) is already in use on ${plan.bind}; nothing was created.`,
            'Choose another --base-port (each student takes 100 ports from base + n * 100), or free the port.',
            'port-taken',
          );
        }
      }
    }
  }
}

/**
 * Starts students a few at a time and waits for each to answer; one task per student, resolving when it answers.
 * `start` runs at most `concurrency` at once (the engine's calls), and at most `booting` students (BOOTING by
 * default) are between their start and their answer: a server boots on the CPU it shares with every other, and its
 * readiness probes (an sshd re-exec per try) cost more the slower it goes. Unbounded, a class of 150 on 2 cores had
 * 180 runnable processes and never got ready; bounded, the machine boots a few at full speed.
 * A big class queues its students behind each other, and those started first share the CPU with every start after
 * theirs: each student has the whole timeout from the last start so far, its own or a classmate's, so that none is
 * given up on while the machine is still busy starting the class.
 */
export function bootInTurn<T>(
  items: T[],
  options: Pick<ApplyOptions, 'concurrency' | 'booting' | 'timeoutSeconds'>,
  start: (item: T) => Promise<void>,
  ready: (item: T, deadline: () => number) => Promise<void>,
): Promise<void>[] {
  const limit = pLimit(options.concurrency);
  const booting = pLimit(Math.max(options.concurrency, options.booting ?? BOOTING));
  let lastStart = 0;
  const deadline = () => lastStart + options.timeoutSeconds * 1000;
  return items.map((item) =>
    booting(async () => {
      await limit(async () => {
        await start(item);
        lastStart = Date.now();
      });
      await ready(item, deadline);
    }),
  );
}

/**
 * Carries out the diff, student by student, and waits for each changed student to answer as a student would. On a
 * failure or an abort, nothing new starts, what is in flight finishes, and then every change of this run is undone:
 * created objects are removed, started workloads stopped, replaced workloads put back as they were.
 */
export async function applyDiff(diff: Diff, plan: Plan, engine: Engine, options: ApplyOptions): Promise<void> {
  // Two workloads per student: undo steps may run twice as many at once as students are changed.
  const journal = new Journal(engine, options.concurrency * 2);
  const byStudent = new Map(plan.students.map((s) => [s.student, s]));
  const stop = new AbortController();
  const onAbort = () => stop.abort(options.signal.reason);
  options.signal.addEventListener('abort', onAbort, { once: true });
  let done = 0;
  try {
    const student = (s: StudentDiff) => byStudent.get(s.student)!;
    const tasks = bootInTurn(
      diff.apply,
      options,
      async (s) => {
        await prepareStudent(s.steps, engine, journal, stop.signal);
        await startStudent(s.steps, student(s), plan, engine, journal, stop.signal);
      },
      async (s, deadline) => {
        await (options.ready
          ? options.ready(student(s), deadline, stop.signal)
          : waitStudentReady(student(s), plan, engine, deadline, stop.signal));
        options.onProgress?.(++done, diff.apply.length);
      },
    );
    for (const task of tasks) task.catch((error: unknown) => stop.abort(error));
    await Promise.allSettled(tasks);
    stop.signal.throwIfAborted();
  } catch (error) {
    await journal.rollback();
    throw error;
  } finally {
    options.signal.removeEventListener('abort', onAbort);
  }
  // Every student answers: the old workloads kept aside are not needed any more.
  await Promise.all(journal.replacements.map((r) => r.commit().catch(() => {})));
}

/** Removes students beyond the plan (--prune): their workloads and network; their volumes stay. */
export async function applyPrune(diff: Diff, engine: Engine): Promise<void> {
  await Promise.all(
    diff.prune.map(async (s) => {
      const removals = s.steps.filter((st) => st.kind === 'remove');
      await Promise.all(
        removals.map((st) => engine.stopWorkload(st.name, 5).then(() => engine.removeWorkload(st.name))),
      );
      for (const st of s.steps) if (st.kind === 'remove-network') await engine.removeNetwork(st.name);
    }),
  );
}

/**
 * Like Promise.all, but when one fails it still waits for the others: a rollback must not begin while a creation it
 * should undo is still under way (it would come back after the rollback, and stay).
 */
async function allInFlight(work: (Promise<unknown> | undefined)[]): Promise<void> {
  const results = await Promise.allSettled(work);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}

/** The student's missing volumes that a workload created (or replaced) by this diff mounts. */
function madeWithWorkload(steps: Step[]): Set<string> {
  const missing = new Set(steps.flatMap((st) => (st.kind === 'create-volume' ? [st.name] : [])));
  return new Set(
    steps.flatMap((st) =>
      st.kind === 'create' || st.kind === 'replace'
        ? st.container.mounts.map((m) => m.volume).filter((v) => missing.has(v))
        : [],
    ),
  );
}

/** A student's leftovers removed, their disk made or mounted, then their network and volumes created together. */
async function prepareStudent(steps: Step[], engine: Engine, journal: Journal, signal: AbortSignal) {
  // Each step starts only if the run is still on.
  const go = async (work: () => Promise<unknown>) => {
    signal.throwIfAborted();
    await work();
  };
  for (const step of steps) {
    if (step.kind === 'remove') await go(() => engine.removeWorkload(step.name));
  }
  for (const step of steps) {
    if (step.kind !== 'create-disk') continue;
    if (!step.exists) journal.createdDisk(step.disk.name);
    await go(() => engine.createDisk(step.disk));
  }
  await go(() =>
    allInFlight(
      steps.map((step) => {
        if (step.kind === 'create-network') {
          journal.createdNetwork(step.name);
          return engine.createNetwork(step.name, step.labels);
        }
        if (step.kind === 'create-volume') {
          journal.createdVolume(step.name);
          // A volume that a new workload mounts is made with it, as `docker run` does: one call fewer per volume.
          if (madeWithWorkload(steps).has(step.name)) return undefined;
          return engine.createVolume(step.name, step.labels, step.disk);
        }
        return undefined;
      }),
    ),
  );
}

/** A student's workloads created, started or replaced, together. */
async function startStudent(
  steps: Step[],
  s: StudentPlan,
  plan: Plan,
  engine: Engine,
  journal: Journal,
  signal: AbortSignal,
) {
  const go = async (work: () => Promise<unknown>) => {
    signal.throwIfAborted();
    await work();
  };
  const made = madeWithWorkload(steps);
  const labels = new Map(s.volumes.map((v) => [v.name, v.labels]));
  const spec = (c: PlannedWorkload) => ({
    ...c,
    mounts: c.mounts.map((m) => (made.has(m.volume) ? { ...m, labels: labels.get(m.volume) } : m)),
    network: s.network.name,
    bind: plan.bind,
  });
  await go(() =>
    allInFlight(
      steps.map(async (step) => {
        if (step.kind === 'create') {
          journal.createdContainer(step.container.name);
          await engine.createWorkload(spec(step.container));
          await go(() => engine.startWorkload(step.container.name));
        } else if (step.kind === 'start') {
          journal.startedContainer(step.name);
          await engine.startWorkload(step.name);
        } else if (step.kind === 'replace') {
          // The engine keeps the old workload's way back until the new one answers, so a failed run can put it back.
          signal.throwIfAborted();
          journal.replaced(await engine.replaceWorkload(spec(step.container)));
        }
      }),
    ),
  );
}

const READY_POLL_MS = 250;

/** Waits until every port of the student passes its wait strategy (core/readiness.ts: SMTP 220, POP3 +OK, IMAP * OK, SSH-, after TLS where the service speaks it; web /health). */
export async function waitStudentReady(
  s: StudentPlan,
  plan: Plan,
  engine: Engine,
  deadline: Deadline,
  signal: AbortSignal,
) {
  for (const c of s.containers) {
    // Where the workload's ports answer: the node it is placed on, when the engine has several.
    const host = engine.address(plan.bind, await engine.workloadNode(c.name));
    try {
      // While a server starts, one port is asked, every quarter second: a refused try still costs the engine's port
      // proxy and the kernel some CPU, which the servers starting beside it need more. SMTP answers last (Postfix
      // starts after rsyslog, Courier and sshd); once it does, the other ports are asked, and answer at once.
      const [first, ...rest] = [...c.ports].sort((a, b) => Number(b.service === 'smtp') - Number(a.service === 'smtp'));
      // A TLS port answers with the certificate the class's CA signed for this server, or not at all.
      const greeting = (service: string): Greeting | string => {
        const info = plan.lab.protocols[service];
        return info ? { ...info, ...(plan.ca && { ca: plan.ca, servername: s.hostname }) } : service;
      };
      if (first) await waitUntilReady(host, first.host, greeting(first.service), deadline, signal, READY_POLL_MS);
      await Promise.all(rest.map((p) => waitUntilReady(host, p.host, greeting(p.service), deadline, signal)));
    } catch (error) {
      if (signal.aborted) throw signal.reason;
      const logs = await engine.logs(c.name, 20).catch(() => '(no logs)');
      throw new LabctlError(
        ExitCode.notReady,
        `Student ${s.student}'s ${c.role} server did not get ready at ${host}: ${(error as Error).message}\nLast lines of ${c.name}:\n${logs.trimEnd() || '(empty)'}`,
        'What this run changed was undone. Run `labctl doctor`, then try again with a longer --timeout.',
      );
    }
  }
}
