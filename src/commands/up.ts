import net from 'node:net';
import pLimit from 'p-limit';
import { loadLab, type PasswordPolicy } from '../core/lab.js';
import { LABEL } from '../core/labels.js';
import { planClass, type Plan, type StudentPlan } from '../core/plan.js';
import { classToken, newClassToken } from '../core/token.js';
import { DEFAULT_BASE_PORT } from '../core/ports.js';
import type { ClassObjects, Engine } from '../docker/engine.js';
import { ExitCode, LabctlError, conflictError } from '../errors.js';
import { probeHost, waitForGreeting } from '../probe.js';
import { formatPlan, studentTable } from '../ui/tables.js';
import { imageContexts, ensureImages } from './build.js';
import { classInfo } from './info.js';
import { concurrency, DEFAULT_CLASS, defaultContext, defaultHost, type Context } from './context.js';

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

/** What this run created, so a failure can take it back: nothing is left half-made. */
class Created {
  containers: string[] = [];
  networks: string[] = [];
  volumes: string[] = [];

  async rollback(engine: Engine): Promise<void> {
    await Promise.all(this.containers.map((c) => engine.removeContainer(c).catch(() => {})));
    await Promise.all(this.networks.map((n) => engine.removeNetwork(n).catch(() => {})));
    await Promise.all(this.volumes.map((v) => engine.removeVolume(v).catch(() => {})));
  }
}

export async function up(options: UpOptions, ctx: Context = defaultContext(options)) {
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
  try {
    const deadline = Date.now() + (options.timeout ?? 90) * 1000;
    // Each student is probed as soon as its container starts, while the others are still being created;
    // the wait does not hold a slot of the concurrency limit.
    await reporter.task(
      `Starting ${plan.students.length} mail servers and waiting for SMTP 220, POP3 +OK, IMAP * OK, ssh`,
      () =>
        Promise.all(
          plan.students.map((s) =>
            limit(() => applyStudent(s, plan, existing, engine, created)).then(() =>
              waitStudent(s, plan, engine, deadline),
            ),
          ),
        ),
    );
    if (extra.length > 0) await removeStudents(engine, existing, extra);
  } catch (error) {
    await created.rollback(engine);
    throw error;
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
          'Choose another --base-port (each student takes 1000 ports from base + n * 1000), or free the port.',
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

async function applyStudent(s: StudentPlan, plan: Plan, existing: ClassObjects, engine: Engine, created: Created) {
  // The network and the volumes do not depend on each other: create them together.
  await Promise.all([
    existing.networks.some((n) => n.name === s.network.name)
      ? undefined
      : engine.createNetwork(s.network.name, s.network.labels).then(() => created.networks.push(s.network.name)),
    ...s.volumes
      .filter((v) => !existing.volumes.some((e) => e.name === v.name))
      .map((v) => engine.createVolume(v.name, v.labels).then(() => created.volumes.push(v.name))),
  ]);
  for (const c of s.containers) {
    const current = existing.containers.find((e) => e.name === c.name);
    if (current && current.labels[LABEL.spec] === c.labels[LABEL.spec]) {
      if (current.state !== 'running') await engine.startContainer(c.name);
      continue;
    }
    if (current) {
      await engine.stopContainer(c.name, 5);
      await engine.removeContainer(c.name);
    }
    await engine.createContainer({ ...c, network: s.network.name, bind: plan.bind });
    created.containers.push(c.name);
    await engine.startContainer(c.name);
  }
}

async function waitStudent(s: StudentPlan, plan: Plan, engine: Engine, deadline: number) {
  const host = probeHost(plan.bind);
  for (const c of s.containers) {
    try {
      await Promise.all(c.ports.map((p) => waitForGreeting(host, p.host, p.service, deadline)));
    } catch (error) {
      const logs = await engine.logs(c.name, 20).catch(() => '(no logs)');
      throw new LabctlError(
        ExitCode.notReady,
        `Student ${s.student}'s ${c.role} server did not get ready: ${(error as Error).message}\nLast lines of ${c.name}:\n${logs.trimEnd() || '(empty)'}`,
        'Containers created by this run were removed. Run `labctl doctor`, then try again with a longer --timeout.',
      );
    }
  }
}
