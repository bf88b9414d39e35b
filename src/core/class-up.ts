import type { ClassObjects, Engine } from '../docker/engine.js';
import { ExitCode, LabctlError } from '../errors.js';
import { applyDiff, applyPrune, checkHostPorts, refuseConflicts, waitStudentReady } from './apply.js';
import { withClassLock } from './class-lock.js';
import { imageContexts, ensureImages } from './images.js';
import type { Lab, PasswordPolicy } from './lab.js';
import { concurrency } from './limits.js';
import { planClass, type Plan } from './plan.js';
import { ephemeralWarning, readEphemeralRange } from './ports.js';
import type { Feedback } from './feedback.js';
import { formatBytes, ranges, reconcile, type Diff, type Observed } from './reconcile.js';
import { tracePhase } from './trace.js';
import { newClassToken } from './token.js';
import { decodeClass, label, passwordPolicyOf, tokenOf, type ObservedClass } from './observed-class.js';
import { LABEL } from './labels.js';
import { checkTimeBox, settleSession, type TimeBox } from './class-session.js';
import { lostNodes } from './class-status.js';
import type { Session } from './session.js';

export interface ClassUpInput {
  lab: Lab;
  className: string;
  students: number;
  basePort: number;
  host: string;
  bind: string;
  prune?: boolean;
  timeoutSeconds?: number;
  /** Default: what the class has, else lab. */
  passwords?: PasswordPolicy;
  /** A graded session's time box (--until, --for), for a class that has none yet. */
  timeBox?: TimeBox;
  /** Students whose node is down or gone start again on other nodes, from their snapshot if they have one. */
  replaceLost?: boolean;
  /** The command named to another run that waits for the class lock: `up` unless said (`reset --hard`). */
  command?: string;
}

/** A student `up --replace-lost` started again on another node, and what came back of their volumes. */
export interface Replaced {
  student: number;
  /** The node they were on. */
  from: string;
  /** The time of the snapshot they were restored from; none: they start with empty mailboxes and no progress. */
  snapshot?: string;
  /** Why their snapshot could not be restored. */
  problem?: string;
}

const NOTHING: ClassObjects = { containers: [], networks: [], volumes: [], disks: [] };

/** What runs for the class, as reconcile wants it. */
export async function observe(engine: Engine, className: string): Promise<Observed> {
  const [objects, names, published, disks] = await Promise.all([
    engine.list(className),
    engine.names(),
    engine.publishedPorts(),
    engine.diskSupport(),
  ]);
  return { objects, names, published, disks: disks.ok };
}

/** The plan for the class: its token and password policy come from what runs, if anything does. */
export async function planFor(
  input: ClassUpInput,
  existing: ClassObjects,
  dryRun = false,
  images?: Awaited<ReturnType<typeof imageContexts>>,
): Promise<Plan> {
  images ??= await imageContexts(input.lab);
  return planClass(input.lab, {
    className: input.className,
    students: input.students,
    basePort: input.basePort,
    host: input.host,
    bind: input.bind,
    mailImage: images.mail.tag,
    sidecarImage: images.sidecar.tag,
    // The class keeps its token across runs; a dry run of a new class shows the plan without making one.
    token: tokenOf(existing) ?? (dryRun ? 'dry-run' : newClassToken()),
    passwords: input.passwords ?? passwordPolicyOf(existing) ?? 'lab',
  });
}

/**
 * The plan and its diff against what runs, changing nothing (`up --dry-run`), and the class as it runs (if it does);
 * a fresh class when no engine answers.
 */
export async function dryRun(
  input: ClassUpInput,
  engine: Engine,
): Promise<{ plan: Plan; diff: Diff; engine: boolean; observed?: ObservedClass }> {
  const observed = await engine
    .ping()
    .then(() => observe(engine, input.className))
    .catch((): undefined => undefined);
  const empty: Observed = {
    objects: NOTHING,
    names: { containers: new Set(), networks: new Set(), volumes: new Set() },
    published: new Map(),
    disks: false,
  };
  const plan = await planFor(input, observed?.objects ?? NOTHING, true);
  const running = observed && decodeClass(input.className, observed.objects, engine);
  return {
    plan,
    diff: reconcile(plan, observed ?? empty, { prune: input.prune }),
    engine: observed !== undefined,
    ...(running && { observed: running }),
  };
}

/**
 * Brings the class to its plan: reconcile with what runs, refuse conflicts before changing anything, build missing
 * images, apply the diff student by student and wait until every changed student answers. A failure or an abort of
 * `signal` undoes what this run changed.
 */
export async function classUp(
  input: ClassUpInput,
  engine: Engine,
  feedback: Feedback,
  signal: AbortSignal,
): Promise<{ plan: Plan; diff: Diff; lost: string[]; replaced: Replaced[] }> {
  tracePhase('up: locked');
  await engine.ping();
  const [seen, images] = await Promise.all([observe(engine, input.className), imageContexts(input.lab)]);
  tracePhase('up: observed what runs');
  const replaced = input.replaceLost ? await dropLost(input.className, seen.objects, engine, feedback) : [];
  const observed = replaced.length > 0 ? await observe(engine, input.className) : seen;
  const plan = await planFor(input, observed.objects, false, images);
  tracePhase('up: planned');
  const range = readEphemeralRange();
  const ephemeral =
    range &&
    ephemeralWarning(
      plan.students.flatMap((s) => Object.values(s.ports)),
      { basePort: plan.basePort, students: plan.students.length },
      range,
    );
  if (ephemeral) feedback.warn(ephemeral);
  const diff = reconcile(plan, observed, { prune: input.prune });
  // Students whose node is down: nothing of theirs can start until it is back, so they are left as they are rather
  // than waited for (their tasks start again with the node), and named once the others are up.
  const lost = lostOnNodes(input.className, observed.objects, engine);
  const applied = { ...diff, apply: diff.apply.filter((s) => !lost.students.has(s.student)) };
  const disks = await engine.diskSupport();
  if (!disks.ok) {
    feedback.warn(
      `What each student writes is not bounded on this engine (${disks.why}): one student can fill its disk. See README, "Disk".`,
    );
  } else if (disks.freeBytes !== undefined && plan.students.length * input.lab.disk > disks.freeBytes) {
    feedback.warn(
      `${plan.students.length} students may write up to ${formatBytes(plan.students.length * input.lab.disk)} in all (${formatBytes(input.lab.disk)} each), and the engine's host has ${formatBytes(disks.freeBytes)} free: students who fill their disks could fill it.`,
    );
  }
  if (disks.ok && diff.unbounded.length > 0) {
    feedback.warn(
      `Student${diff.unbounded.length > 1 ? 's' : ''} ${ranges(diff.unbounded)} keep${diff.unbounded.length > 1 ? '' : 's'} mailboxes made before disks were bounded: what they write is not bounded until \`labctl down --purge\` and \`up\` make their volumes again.`,
    );
  }
  refuseConflicts(diff);
  await checkHostPorts(applied, plan, engine);
  tracePhase('up: reconciled, no conflict');
  await ensureImages(input.lab, engine, feedback, { contexts: images, signal });
  tracePhase('up: images present');
  // Ctrl-C during an image build: nothing of the class was changed yet.
  signal.throwIfAborted();
  const changing = applied.apply.length;
  if (changing > 0) {
    const services = Object.values(plan.lab.protocols)
      .map((p) => p.label)
      .join(', ');
    await feedback.task(
      `Starting ${changing === 1 ? "1 student's" : `${changing} students'`} servers and waiting for ${services} to answer`,
      (update) =>
        applyDiff(applied, plan, engine, {
          concurrency: concurrency(engine.parallelism),
          timeoutSeconds: input.timeoutSeconds ?? 90,
          signal,
          onProgress: (done, total) => {
            update(`${done}/${total} ready`);
            if (done === 1 || done === total) tracePhase(`up: ${done}/${total} students answer`);
          },
        }),
    );
  }
  if (input.prune && diff.prune.length > 0) await applyPrune(diff, engine);
  await restoreReplaced(replaced, plan, engine, feedback, input.timeoutSeconds ?? 90, signal);
  return { plan, diff, lost: lost.lines, replaced };
}

/**
 * `up --replace-lost`: the workloads of the students whose node is down or gone are removed (their volumes stay on
 * that node), so that this run creates them on other nodes; says what each gets back. Resolves to those students.
 */
async function dropLost(
  className: string,
  objects: ClassObjects,
  engine: Engine,
  feedback: Feedback,
): Promise<Replaced[]> {
  const students = (decodeClass(className, objects, engine)?.students ?? []).filter((s) => s.nodeLost !== undefined);
  if (students.length === 0) return [];
  const snapshots = new Map<number, string>();
  for (const v of objects.volumes) {
    const time = v.labels[LABEL.snapshot];
    const n = label.student(v);
    if (label.role(v) === 'snapshot' && time && time > (snapshots.get(n) ?? '')) snapshots.set(n, time);
  }
  const replaced = students.map((s) => ({
    student: s.student,
    from: `${s.nodeName ?? s.node ?? '?'} (${s.nodeLost ?? 'lost'})`,
    ...(snapshots.has(s.student) && { snapshot: snapshots.get(s.student) }),
  }));
  const bare = replaced.filter((r) => !r.snapshot).map((r) => r.student);
  if (bare.length > 0) {
    feedback.warn(
      `Student${bare.length > 1 ? 's' : ''} ${ranges(bare)} start${bare.length > 1 ? '' : 's'} again on another node with empty mailboxes and no progress: their node is lost and no snapshot of theirs exists (\`labctl snapshot\` makes one).`,
    );
  }
  for (const r of replaced.filter((x) => x.snapshot))
    feedback.warn(
      `Student ${r.student} starts again on another node with their volumes as of their snapshot of ${r.snapshot}: what came after is lost with node ${r.from}.`,
    );
  await Promise.all(
    students.flatMap((s) => [s.mail, s.sidecar]).flatMap((w) => (w ? [engine.removeWorkload(w.name)] : [])),
  );
  return replaced;
}

/** Each replaced student with a snapshot gets it back on their new node, and answers there again. */
async function restoreReplaced(
  replaced: Replaced[],
  plan: Plan,
  engine: Engine,
  feedback: Feedback,
  timeoutSeconds: number,
  signal: AbortSignal,
): Promise<void> {
  const from = replaced.filter((r) => r.snapshot);
  if (from.length === 0) return;
  await feedback.task(`Restoring ${from.length} student${from.length > 1 ? 's' : ''} from their snapshot`, () =>
    Promise.all(
      from.map(async (r) => {
        const target = plan.students.find((p) => p.student === r.student);
        if (!target) return;
        try {
          const restored = await engine.restoreWorkloads(target.containers.map((c) => c.name));
          if (!restored) throw new Error('their snapshot is no longer whole');
          r.snapshot = restored.time;
          await waitStudentReady(target, plan, engine, Date.now() + timeoutSeconds * 1000, signal);
        } catch (error) {
          r.problem = (error as Error).message.split('\n')[0];
        }
      }),
    ),
  );
}

/** The students whose node is down or gone, and one line a node ("node X is down: students 2, 5 have no server"). */
function lostOnNodes(className: string, objects: ClassObjects, engine: Engine) {
  const rows = (decodeClass(className, objects, engine)?.students ?? [])
    .filter((s) => s.nodeLost !== undefined)
    .map((s) => ({ student: s.student, node: s.nodeName ?? s.node, nodeLost: s.nodeLost }));
  return { students: new Set(rows.map((r) => r.student)), lines: lostNodes(rows) };
}

/**
 * `up`: one run of a class at a time, from any shell or host (a second one waits for the first: class-lock.ts). An
 * abort of `signal` (Ctrl-C) while the class comes up undoes what the run changed, and rejects with
 * interruptedError; once every student answers, it no longer does. `lost`: a line for each node that is down, naming
 * its students, who have no server (the caller says so, exit 6).
 */
export async function upClass(
  input: ClassUpInput,
  engine: Engine,
  feedback: Feedback,
  signal: AbortSignal,
): Promise<{ plan: Plan; diff: Diff; lost: string[]; replaced: Replaced[]; session?: Session }> {
  checkTimeBox(input.timeBox ?? {});
  return withClassLock(
    engine,
    input.className,
    async (held) => {
      const stop = new AbortController();
      const onAbort = () => stop.abort(interruptedError(input.className));
      if (held.aborted) onAbort();
      held.addEventListener('abort', onAbort, { once: true });
      try {
        const up = await classUp(input, engine, feedback, stop.signal);
        // Every student answers: the time box counts from now, and each of them is given their end.
        const session = await settleSession(engine, input.className, input.timeBox ?? {}, feedback);
        return { ...up, ...(session && { session }) };
      } finally {
        held.removeEventListener('abort', onAbort);
      }
    },
    { onWait: (message) => feedback.info(message), signal, command: input.command ?? 'up' },
  );
}

export const interruptedError = (className: string) =>
  new LabctlError(
    ExitCode.interrupted,
    `Interrupted: what this run changed was undone; class ${className} is as it was before.`,
    'Run the same `labctl up` again to bring the class up.',
  );
