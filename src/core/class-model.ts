import type { Engine } from '../docker/engine.js';
import { studentMails } from './class-objects.js';
import { labFromLabels, pairFor, studentAccounts, type Lab } from './lab.js';
import { studentDomain, usesTls } from './plan.js';
import { studentPorts } from './ports.js';
import { labServices, type ServiceInfo } from './services.js';
import { classCa } from './tls.js';
import { LABEL } from './labels.js';
import { parsePorts } from './ports.js';
import { personAt, rosterOf, type PersonFields } from './roster.js';
import { classToken, studentKey } from './token.js';

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

/** Everything a student needs to connect, read from the containers' labels: no state file. */
export async function classInfo(className: string, engine: Engine, student?: number): Promise<ClassInfo> {
  const { containers, volumes } = await engine.list(className);
  const roster = rosterOf(className, volumes);
  const token = classToken(containers);
  const mails = studentMails(containers, className, student);
  const labs = new Map<string, Lab>();
  const labOf = async (labels: Record<string, string>) => {
    const key = labels[LABEL.labData] ?? labels[LABEL.labFile] ?? '';
    let lab = labs.get(key);
    if (!lab) labs.set(key, (lab = await labFromLabels(labels)));
    return lab;
  };
  const students: StudentInfo[] = [];
  for (const c of mails) {
    const n = Number(c.labels[LABEL.student]);
    const lab = await labOf(c.labels);
    const ports = parsePorts(c.labels[LABEL.ports]);
    // On several nodes (Swarm), students connect to the node that runs their server; on one, to --host.
    const host = c.node && !/^(127\.|::1$|localhost$)/.test(c.node) ? c.node : (c.labels[LABEL.host] ?? '');
    students.push({
      student: n,
      ...personAt(roster, n),
      host,
      domain: c.labels[LABEL.domain] ?? '',
      ports,
      accounts: token
        ? studentAccounts(lab, c.labels[LABEL.passwords] === 'random' ? 'random' : 'lab', token, n)
        : lab.accounts,
      pair: pairFor(lab, n),
      state: c.state,
      page: token && ports.web ? `http://${host}:${ports.web}/?k=${studentKey(token, n)}` : null,
    });
  }
  const first = await labOf(mails[0]!.labels);
  return {
    class: className,
    lab: first.name,
    title: first.title,
    services: labServices(first),
    ...(token && usesTls(first) && { ca: classCa(token, className).cert }),
    students,
  };
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
