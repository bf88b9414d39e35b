import net from 'node:net';
import pLimit from 'p-limit';
import { classInfo } from '../core/class-model.js';
import { withClassLock } from '../core/class-lock.js';
import { loadLab, type PasswordPolicy } from '../core/lab.js';
import { LABEL } from '../core/labels.js';
import { concurrency } from '../core/limits.js';
import { planClass, type Plan, type StudentPlan } from '../core/plan.js';
import { classToken, newClassToken } from '../core/token.js';
import { DEFAULT_BASE_PORT, ephemeralWarning, readEphemeralRange } from '../core/ports.js';
import type { ClassObjects, Engine } from '../docker/engine.js';
import { ExitCode, LabctlError, conflictError } from '../errors.js';
import { probeHost, waitForGreeting } from '../probe.js';
import { formatPlan, studentTable } from '../ui/tables.js';
import { imageContexts, ensureImages } from './build.js';
import { DEFAULT_CLASS, defaultContext, defaultHost, type Context } from './context.js';

export interface UpOptions {
  students: number;
  className?: string;
  lab?: string;
  basePort?: number;
  host?: string;
  bind?: string;
  dryRun?: boolean;
  json?: boolean;
  prune?: boolean;
  timeout?: number;
  /** lab: the lab's password everywhere; random: each student's own. Default: what the class has, else lab. */
  passwords?: PasswordPolicy;
}

/**
 * What this run created or changed, so a failure or Ctrl-C can take it back. Names are recorded before the
 * engine is asked, so an object whose creation was cut short is removed too (removing a missing one is fine).
 */
class Created {
  containers: string[] = [];
  networks: string[] = [];
  volumes: string[] = [];
  /** Containers of students that existed before, recreated by this run (new spec): they are kept on rollback. */
  recreated: string[] = [];
  /** Stopped containers of students that existed before, started by this run: stopped again on rollback. */
  started: string[] = [];

  /** Call only once nothing is in flight any more. */
  async rollback(engine: Engine, className: string, existing: ClassObjects): Promise<void> {
    // Anything labelled with the class that was not there before the run is this run's too.
    const before = {
      containers: new Set(existing.containers.map((c) => c.name)),
      networks: new Set(existing.networks.map((n) => n.name)),
      volumes: new Set(existing.volumes.map((v) => v.name)),
    };
    const now = await engine.list(className).catch((): ClassObjects => ({ containers: [], networks: [], volumes: [] }));
    const kept = new Set(this.recreated);
    const containers = new Set([
      ...this.containers.filter((c) => !kept.has(c)),
      ...now.containers.map((c) => c.name).filter((c) => !before.containers.has(c)),
    ]);
    const networks = new Set(
      [...this.networks, ...now.networks.map((n) => n.name)].filter((n) => !before.networks.has(n)),
    );
    const volumes = new Set([...this.volumes, ...now.volumes.map((v) => v.name)].filter((v) => !before.volumes.has(v)));
    await Promise.all([...containers].map((c) => engine.removeContainer(c).catch(() => {})));
    await Promise.all(this.started.map((c) => engine.stopContainer(c, 5).catch(() => {})));
    await Promise.all([...networks].map((n) => engine.removeNetwork(n).catch(() => {})));
    await Promise.all([...volumes].map((v) => engine.removeVolume(v).catch(() => {})));
  }
}

export async function up(options: UpOptions, ctx: Context = defaultContext(options)) {
  if (options.dryRun) return upLocked(options, ctx);
  // One `up` of a class at a time, from any shell or host: a second one waits for the first (src/core/class-lock.ts).
  await ctx.engine.ping();
  const onWait = (message: string) => ctx.reporter.info(message);
  const className = options.className ?? DEFAULT_CLASS;
  return withClassLock(ctx.engine, className, () => upLocked(options, ctx), { onWait, handleSigint: true });
}

async function upLocked(options: UpOptions, ctx: Context) {
  const { engine, reporter } = ctx;
  const className = options.className ?? DEFAULT_CLASS;
  const lab = await loadLab(options.lab);
  const images = await imageContexts(lab);
  let existing: ClassObjects = { containers: [], networks: [], volumes: [] };
  if (!options.dryRun) {
    await engine.ping();
    existing = await engine.list(className);
  }
  const plan = await planClass(lab, {
    className,
    students: options.students,
    basePort: options.basePort ?? DEFAULT_BASE_PORT,
    host: options.host ?? defaultHost(),
    bind: options.bind ?? '0.0.0.0',
    mailImage: images.mail.tag,
    sidecarImage: images.sidecar.tag,
    // The class keeps its token across runs; a dry run shows the plan without making one.
    token: classToken([...existing.containers, ...existing.volumes]) ?? (options.dryRun ? 'dry-run' : newClassToken()),
    passwords: options.passwords ?? classPasswordPolicy(existing) ?? 'lab',
  });
  const range = readEphemeralRange();
  const ephemeral =
    range &&
    ephemeralWarning(
      plan.students.flatMap((s) => Object.values(s.ports)),
      { basePort: plan.basePort, students: plan.students.length },
      range,
    );
  if (ephemeral) reporter.warn(ephemeral);
  if (options.dryRun) {
    reporter.result(formatPlan(plan), plan);
    return plan;
  }

  const extra = extraStudents(existing, options.students);
  if (extra.length > 0 && !options.prune) {
    throw conflictError(
      `Class ${className} has student${extra.length > 1 ? 's' : ''} ${extra.join(', ')} beyond --students ${options.students}; nothing was changed.`,
      `Add --prune to remove ${extra.length > 1 ? 'them' : 'it'} (mailboxes are kept until \`labctl down --purge\`), or run with --students ${Math.max(...extra)}.`,
    );
  }
  await checkConflicts(plan, existing, engine);
  await ensureImages(lab, ctx, false, images);

  const created = new Created();
  const limit = pLimit(concurrency());
  // The first failure, or Ctrl-C, stops new work: no further step of any student starts. Then everything in
  // flight is waited for, and only then is what this run created removed, so nothing is left half-made.
  const stop = new AbortController();
  const interrupted = new LabctlError(
    ExitCode.interrupted,
    `Interrupted: what this run created was removed again; class ${className} is as it was before.`,
    'Run the same `labctl up` again to bring the class up.',
  );
  let rollingBack = false;
  const onSigint = () => {
    if (rollingBack) reporter.info('Still removing what this run created; please wait.');
    else if (!stop.signal.aborted) {
      reporter.info('Interrupted: stopping, then removing what this run created...');
      stop.abort(interrupted);
    }
  };
  process.on('SIGINT', onSigint);
  try {
    const deadline = Date.now() + (options.timeout ?? 90) * 1000;
    // Each student is probed as soon as its container starts, while the others are still being created;
    // the wait does not hold a slot of the concurrency limit.
    await reporter.task(
      `Starting ${plan.students.length} mail servers and waiting for SMTP 220, POP3 +OK, IMAP * OK, ssh`,
      async () => {
        const tasks = plan.students.map((s) =>
          limit(() => applyStudent(s, plan, existing, engine, created, stop.signal)).then(() =>
            waitStudent(s, plan, engine, deadline, stop.signal),
          ),
        );
        for (const task of tasks) task.catch((error: unknown) => stop.abort(error));
        await Promise.allSettled(tasks);
        stop.signal.throwIfAborted();
      },
    );
    // Every student answers: from here on, Ctrl-C no longer undoes the run.
    rollingBack = true;
    if (extra.length > 0) await removeStudents(engine, existing, extra);
  } catch (error) {
    rollingBack = true;
    await created.rollback(engine, className, existing);
    throw error;
  } finally {
    process.off('SIGINT', onSigint);
  }
  const info = await classInfo(className, engine);
  reporter.result(
    `Class ${className} is up: ${plan.students.length} student${plan.students.length > 1 ? 's' : ''}, lab ${lab.name}, students connect to ${plan.host}.\n${studentTable(info.students)}\nCards: labctl info --class ${className}`,
    info,
  );
  if (plan.students[0]?.containers[0]?.labels[LABEL.passwords] === 'lab')
    reporter.warn(
      `Passwords: the TD's ${lab.accounts[0]?.password ?? ''} on every server — any student can log in to a classmate's server; use --passwords random for a graded session.`,
    );
  return plan;
}

/** A class keeps its password policy across runs of `up` unless told otherwise. */
function classPasswordPolicy(existing: ClassObjects): PasswordPolicy | undefined {
  const labelled = [...existing.containers, ...existing.volumes].find((o) => o.labels[LABEL.passwords]);
  const label = labelled?.labels[LABEL.passwords];
  return label === 'random' || label === 'lab' ? label : undefined;
}

function extraStudents(existing: ClassObjects, students: number): number[] {
  const present = new Set<number>();
  for (const o of [...existing.containers, ...existing.networks]) {
    const n = Number(o.labels[LABEL.student]);
    if (n > students) present.add(n);
  }
  return [...present].sort((a, b) => a - b);
}

async function removeStudents(engine: Engine, existing: ClassObjects, students: number[]) {
  const wanted = new Set(students.map(String));
  const containers = existing.containers.filter((c) => wanted.has(c.labels[LABEL.student] ?? ''));
  await Promise.all(containers.map((c) => engine.stopContainer(c.name, 5).then(() => engine.removeContainer(c.name))));
  const networks = existing.networks.filter((n) => wanted.has(n.labels[LABEL.student] ?? ''));
  await Promise.all(networks.map((n) => engine.removeNetwork(n.name)));
}

/** Containers that `up` will (re)create: missing ones, and those whose spec changed. */
function containersToCreate(plan: Plan, existing: ClassObjects) {
  const byName = new Map(existing.containers.map((c) => [c.name, c]));
  return plan.students.flatMap((s) =>
    s.containers
      .filter((c) => byName.get(c.name)?.labels[LABEL.spec] !== c.labels[LABEL.spec])
      .map((c) => ({ student: s, container: c })),
  );
}

/** Finds port conflicts and name clashes before anything is created. */
export async function checkConflicts(plan: Plan, existing: ClassObjects, engine: Engine): Promise<void> {
  const ours = {
    containers: new Set(existing.containers.map((c) => c.name)),
    networks: new Set(existing.networks.map((n) => n.name)),
    volumes: new Set(existing.volumes.map((v) => v.name)),
  };
  const names = await engine.names();
  for (const s of plan.students) {
    const clash = (kind: 'containers' | 'networks' | 'volumes', name: string) => {
      if (names[kind].has(name) && !ours[kind].has(name)) {
        throw conflictError(
          `A ${kind.slice(0, -1)} named ${name} already exists and does not belong to class ${plan.className}; nothing was created.`,
          `Remove it, or choose another --class.`,
        );
      }
    };
    clash('networks', s.network.name);
    s.volumes.forEach((v) => clash('volumes', v.name));
    s.containers.forEach((c) => clash('containers', c.name));
  }
  const published = await engine.publishedPorts();
  for (const { student, container } of containersToCreate(plan, existing)) {
    for (const port of container.ports) {
      const owner = published.get(port.host);
      const what = `port ${port.host} (student ${student.student}, ${port.service})`;
      if (owner && owner !== container.name) {
        throw conflictError(
          `Host ${what} is already published by container ${owner}; nothing was created.`,
          'Choose another --base-port, or stop that container.',
        );
      }
      if (!owner && !(await portFree(plan.bind, port.host))) {
        throw conflictError(
          `Host ${what} is already in use on ${plan.bind}; nothing was created.`,
          'Choose another --base-port (each student takes 100 ports from base + n * 100), or free the port.',
        );
      }
    }
  }
}

function portFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

async function applyStudent(
  s: StudentPlan,
  plan: Plan,
  existing: ClassObjects,
  engine: Engine,
  created: Created,
  signal: AbortSignal,
) {
  // Every step starts only if the run is still on, and checks again once the engine has answered.
  const step = async (work: () => Promise<unknown>) => {
    signal.throwIfAborted();
    await work();
    signal.throwIfAborted();
  };
  // The network and the volumes do not depend on each other: create them together.
  await step(() =>
    Promise.all([
      existing.networks.some((n) => n.name === s.network.name)
        ? undefined
        : (created.networks.push(s.network.name), engine.createNetwork(s.network.name, s.network.labels)),
      ...s.volumes
        .filter((v) => !existing.volumes.some((e) => e.name === v.name))
        .map((v) => (created.volumes.push(v.name), engine.createVolume(v.name, v.labels))),
    ]),
  );
  for (const c of s.containers) {
    const current = existing.containers.find((e) => e.name === c.name);
    if (current && current.labels[LABEL.spec] === c.labels[LABEL.spec]) {
      if (current.state !== 'running') {
        created.started.push(c.name);
        await step(() => engine.startContainer(c.name));
      }
      continue;
    }
    if (current) {
      // A student who had a server keeps one: once the old container is stopped, the new one is made and started
      // even if the run is stopped meanwhile, and the rollback leaves it (in its new configuration).
      await step(async () => {
        created.recreated.push(c.name);
        await engine.stopContainer(c.name, 5);
        await engine.removeContainer(c.name);
        await engine.createContainer({ ...c, network: s.network.name, bind: plan.bind });
        await engine.startContainer(c.name);
      });
      continue;
    }
    created.containers.push(c.name);
    await step(() => engine.createContainer({ ...c, network: s.network.name, bind: plan.bind }));
    await step(() => engine.startContainer(c.name));
  }
}

async function waitStudent(s: StudentPlan, plan: Plan, engine: Engine, deadline: number, signal: AbortSignal) {
  const host = probeHost(plan.bind);
  for (const c of s.containers) {
    try {
      await Promise.all(c.ports.map((p) => waitForGreeting(host, p.host, p.service, deadline, signal)));
    } catch (error) {
      if (signal.aborted) throw signal.reason;
      const logs = await engine.logs(c.name, 20).catch(() => '(no logs)');
      throw new LabctlError(
        ExitCode.notReady,
        `Student ${s.student}'s ${c.role} server did not get ready: ${(error as Error).message}\nLast lines of ${c.name}:\n${logs.trimEnd() || '(empty)'}`,
        'Containers created by this run were removed. Run `labctl doctor`, then try again with a longer --timeout.',
      );
    }
  }
}
