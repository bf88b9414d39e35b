import pLimit, { type LimitFunction } from 'p-limit';
import type { Engine } from '../docker/engine.js';
import { ExitCode, LabctlError } from '../errors.js';
import { PROBE_CONCURRENCY } from './limits.js';
import { probe, type Greeting } from './readiness.js';
import { diskUse, type DiskUse } from './board-model.js';
import type { Lab } from './lab.js';
import { isStopped, observeClasses, type ObservedStudent } from './observed-class.js';
import { SidecarClient } from './sidecar-client.js';
import type { Health } from './wire.js';

export interface StudentStatus {
  class: string;
  lab: string;
  student: number;
  /** Where the student's ports answer, as the engine says. */
  address: string;
  /** Their node, when the engine has several; and its state when it is not ready (the student has no server). */
  node?: string;
  nodeLost?: string;
  /** The state of each of the student's workloads (mail, sidecar); a missing one is absent. */
  containers: Record<string, string>;
  /** Whether each service answers: listens, as its server's kernel says, or answered its greeting just now. */
  services: Record<string, boolean>;
  /** `listeners` when the student's sidecar gave what listens on their server (else each service was greeted). */
  seen?: 'listeners';
  /** Why a service does not answer, where its server's kernel tells: nothing listens, or connections wait. */
  why?: Record<string, string>;
  /** How full the student's disk is, where the engine gives them one. */
  disk?: DiskUse;
  /**
   * up: every workload runs and every service answers; stopped: the student sleeps (`labctl stop`: both workloads
   * stopped, nothing asked of their ports); down: anything else, a failure.
   */
  state: 'up' | 'stopped' | 'down';
}

export interface StatusProbe {
  /** How long each answer may take. */
  timeoutMs?: number;
  /** Greet every service now (as `up` waits for them), instead of reading what the servers' kernels say. */
  greet?: boolean;
}

/**
 * Per student of every class (or one): the workloads' state, and whether each service answers. By default each
 * student's sidecar says (its /health) what listens on their server's ports, as the server's own kernel says it:
 * nothing is asked of the daemons, no line lands in the mail log the student reads, and a class of 150 is read in
 * under a second. A service that is not listening there (closed, or stuck: connections left waiting) is greeted to
 * say for sure, as is every service of a student whose sidecar does not answer or has no listeners to give (an older
 * image). `greet`: greet every service (each greeting costs its server a process: seconds for a class of 150).
 */
export async function classStatus(
  engine: Pick<Engine, 'list' | 'address'>,
  className?: string,
  options: StatusProbe = {},
): Promise<StudentStatus[]> {
  const timeoutMs = options.timeoutMs ?? 1500;
  const classes = await observeClasses(engine, className);
  const rows = classes.flatMap((c) =>
    c.students.map((s) => {
      const containers: Record<string, string> = {};
      if (s.mail) containers.mail = s.mail.state;
      if (s.sidecar) containers.sidecar = s.sidecar.state;
      const disk = diskUse(s.disk);
      return {
        row: {
          class: c.className,
          lab: c.lab.name,
          student: s.student,
          address: s.address,
          ...(s.nodeName !== undefined && { node: s.nodeName }),
          ...(s.nodeLost !== undefined && { nodeLost: s.nodeLost }),
          containers,
          // In the lab's order (the columns of status), whatever order the probes answer in.
          services: Object.fromEntries([...Object.keys(c.lab.services), 'web'].map((k) => [k, false])),
          ...(disk && { disk }),
          state: isStopped(s) ? 'stopped' : 'down',
        } as StudentStatus,
        s,
        lab: c.lab,
      };
    }),
  );
  const limit = pLimit(PROBE_CONCURRENCY);
  await Promise.all(rows.map(({ row, s, lab }) => probeStudent(row, s, lab, limit, timeoutMs, options.greet ?? false)));
  for (const { row } of rows) {
    const running = Object.values(row.containers).filter((c) => c === 'running').length === 2;
    if (running && Object.values(row.services).every(Boolean)) row.state = 'up';
  }
  return rows.map(({ row }) => row);
}

/** One student's services: from their sidecar's listeners, greeting those it cannot vouch for (all, with `greet`). */
async function probeStudent(
  row: StudentStatus,
  s: ObservedStudent,
  lab: Lab,
  limit: LimitFunction,
  timeoutMs: number,
  greet: boolean,
): Promise<void> {
  const mailUp = s.mail?.state === 'running';
  const webPort = s.ports.web;
  // The sidecar's /health: the page answers, and what listens (waited for first, unless every port is greeted).
  const asked: Promise<Health | undefined> =
    s.sidecar?.state === 'running' && webPort !== undefined
      ? limit(() => new SidecarClient({ host: s.address, port: webPort }).report(timeoutMs)).catch(() => undefined)
      : Promise.resolve(undefined);
  const listeners = greet ? undefined : (await asked)?.listeners;
  if (listeners) row.seen = 'listeners';
  const why: Record<string, string> = {};
  await Promise.all(
    Object.keys(lab.services).map(async (service) => {
      const port = s.ports[service];
      if (!mailUp || port === undefined) return;
      const heard = listeners?.[service];
      if (heard?.state === 'listening' && heard.waiting === 0 && heard.port === lab.services[service]) {
        row.services[service] = true;
        return;
      }
      // Each service as its lab speaks it (a TLS port: a handshake first).
      const greeting: Greeting = lab.protocols[service]!;
      row.services[service] = await limit(() => probe(s.address, port, greeting, timeoutMs)).then(
        () => true,
        () => false,
      );
      if (!row.services[service] && heard?.state === 'closed') why[service] = 'nothing listens';
      else if (!row.services[service] && heard && heard.waiting > 0)
        why[service] = `${heard.waiting} connections left waiting`;
    }),
  );
  row.services.web = (await asked) !== undefined;
  if (Object.keys(why).length > 0) row.why = why;
}

/** Every service of the rows' labs, in their order, the page last: the columns of `labctl status`. */
export function statusEndpoints(rows: StudentStatus[]): string[] {
  return [...new Set(rows.flatMap((r) => Object.keys(r.services).filter((s) => s !== 'web'))), 'web'];
}

/** "node lbn-2 is down: students 2, 5 have no server", one line a lost node, from the rows. */
export function lostNodes(rows: Pick<StudentStatus, 'student' | 'node' | 'nodeLost'>[]): string[] {
  const byNode = new Map<string, { state: string; students: number[] }>();
  for (const r of rows) {
    if (!r.nodeLost) continue;
    const name = r.node ?? '?';
    const entry = byNode.get(name) ?? { state: r.nodeLost, students: [] };
    entry.students.push(r.student);
    byNode.set(name, entry);
  }
  return [...byNode].map(([name, { state, students }]) => {
    const who = students.length === 1 ? `student ${students[0]} has` : `students ${students.join(', ')} have`;
    return `node ${name} is ${state === 'gone' ? 'gone from the swarm' : state}: ${who} no server`;
  });
}

/**
 * "student 2 of class td1: mail exited; smtp, pop3 do not answer", one line a student that is down on a node that
 * is not lost (those are lostNodes' lines). At most `max` lines, then how many more.
 */
export function downStudents(rows: StudentStatus[], max = 10): string[] {
  const lines = rows
    .filter((r) => r.state === 'down' && !r.nodeLost)
    .map((r) => {
      const why = ['mail', 'sidecar'].flatMap((w) =>
        r.containers[w] === undefined ? [`no ${w}`] : r.containers[w] !== 'running' ? [`${w} ${r.containers[w]}`] : [],
      );
      const silent = Object.entries(r.services).flatMap(([service, ok]) => (ok ? [] : [service]));
      const named = silent.map((s) => (r.why?.[s] ? `${s} (${r.why[s]})` : s));
      if (silent.length > 0) why.push(`${named.join(', ')} ${silent.length > 1 ? 'do' : 'does'} not answer`);
      return `student ${r.student} of class ${r.class}: ${why.join('; ')}`;
    });
  return lines.length > max ? [...lines.slice(0, max), `and ${lines.length - max} more`] : lines;
}

/** What `up`, `status` and `check` fail with when students have no server: exit 6, a line a lost node, then `hint`. */
export function nodeLostError(lines: string[], hint: string): LabctlError {
  return new LabctlError(ExitCode.notReady, `${lines.join('.\n')}.`, hint, 'node-lost');
}
