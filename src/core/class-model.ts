import type { Engine } from '../docker/engine.js';
import { pairFor, type Lab } from './lab.js';
import { observeClass, type ObservedClass } from './observed-class.js';
import { studentDomain } from './plan.js';
import { studentPorts } from './ports.js';
import type { PersonFields } from './roster.js';
import { labServices, usesTls, type ServiceInfo } from './services.js';
import { classCa } from './tls.js';

export interface StudentInfo extends PersonFields {
  student: number;
  host: string;
  domain: string;
  ports: Record<string, number>;
  accounts: { user: string; password: string }[];
  pair: [string, string];
  state: string;
  /** The student's progress page (the sidecar), with their key. */
  page: string | null;
}

export interface ClassInfo {
  class: string;
  lab: string;
  title: string;
  /** The services of the lab's server, in its order (the cards list them). */
  services?: ({ name: string } & ServiceInfo)[];
  /** The class's certificate authority (PEM), when the lab's services speak TLS: `openssl s_client -CAfile` checks with it. */
  ca?: string;
  students: StudentInfo[];
}

/** Everything a student needs to connect (their card), from the observed class. */
export function infoOf(observed: ObservedClass): ClassInfo {
  return {
    class: observed.className,
    lab: observed.lab.name,
    title: observed.lab.title,
    services: labServices(observed.lab),
    ...(observed.token && usesTls(observed.lab) && { ca: classCa(observed.token, observed.className).cert }),
    students: observed.students
      .filter((s) => s.mail)
      .map((s) => ({
        student: s.student,
        ...(s.name !== undefined && { name: s.name }),
        ...(s.email !== undefined && { email: s.email }),
        ...(s.number !== undefined && { number: s.number }),
        ...(s.group !== undefined && { group: s.group }),
        host: s.host,
        domain: s.domain,
        ports: s.ports,
        accounts: s.accounts,
        pair: s.pair,
        state: s.mail!.state,
        page: s.page,
      })),
  };
}

/** Everything a student needs to connect, read from the engine: no state file. */
export async function classInfo(className: string, engine: Engine, student?: number): Promise<ClassInfo> {
  return infoOf(await observeClass(engine, className, student));
}

/**
 * A class as `up` would make it, before it exists: what a handout needs of each student (host, domain, ports, the
 * lab's accounts and passwords, the pair), without page addresses or the class's CA (both come from its token).
 */
export function plannedClassInfo(
  lab: Lab,
  options: { className: string; students: number; basePort: number; host: string; student?: number },
): ClassInfo {
  const students: StudentInfo[] = [];
  for (let n = 1; n <= options.students; n++) {
    if (options.student !== undefined && n !== options.student) continue;
    students.push({
      student: n,
      host: options.host,
      domain: studentDomain(options.className, n),
      ports: studentPorts(lab, options.basePort, n),
      accounts: lab.accounts,
      pair: pairFor(lab, n),
      state: 'planned',
      page: null,
    });
  }
  return { class: options.className, lab: lab.name, title: lab.title, services: labServices(lab), students };
}

/**
 * Where the students connect, as `up` and its dry run say it: each placed student's host from the model (their node's
 * address on an engine that places students on nodes, as on their card), `up --host` for a student not made yet,
 * and on such an engine, for them, that their node is chosen when they are made.
 */
export function connectText(
  observed: ObservedClass | undefined,
  students: number[],
  host: string,
  placesOnNodes: boolean,
): string {
  const placed = new Map((observed?.students ?? []).filter((s) => s.mail).map((s) => [s.student, s.host]));
  const hosts = [...new Set(students.flatMap((n) => placed.get(n) ?? []))];
  const unplaced = students.some((n) => !placed.has(n));
  if (!placesOnNodes) return `students connect to ${[...new Set([...hosts, ...(unplaced ? [host] : [])])].join(', ')}`;
  if (!unplaced && hosts.length === 1) return `students connect to ${hosts[0]}`;
  const known = hosts.length > 0 ? ` (${hosts.join(', ')})` : '';
  const later = unplaced ? ', chosen when each is created' : '';
  return `students connect to their node's address${known}${later}: see \`labctl info\` or the cards`;
}
