import { z } from 'zod';
import type { ClassObjects, WorkloadInfo, DiskInfo, Engine } from '../docker/engine.js';
import { ExitCode, LabctlError, usageError } from '../errors.js';
import { labFromLabel, pairFor, studentAccounts, type Account, type Lab, type PasswordPolicy } from './lab.js';
import { LABEL } from './labels.js';
import { parsePorts } from './ports.js';
import { personAt, rosterOf, type PersonFields, type Roster } from './roster.js';
import { adminKey, studentKey } from './token.js';

/**
 * A class as the engine holds it. Labels are written in one place (the plan) and read in this one: each workload's
 * labels are decoded once, with zod, into the facts every command needs about a student.
 */
export interface ObservedClass {
  className: string;
  lab: Lab;
  /** What `up` was told for the class (its first student's labels): the port plan's base, --host and --bind. */
  basePort: number;
  host: string;
  bind: string;
  /** The class's secret (a label on the sidecars and progress volumes); undefined for a class being made. */
  token?: string;
  roster?: Roster;
  /** Every student with a workload, in order. */
  students: ObservedStudent[];
  /** The class's objects as listed, for what removes or reconciles them. */
  objects: ClassObjects;
}

export interface ObservedStudent extends PersonFields {
  student: number;
  mail?: WorkloadInfo;
  sidecar?: WorkloadInfo;
  domain: string;
  ports: Record<string, number>;
  /** Where the student's ports answer from here (the engine says: loopback, DOCKER_HOST's host, the Swarm node). */
  address: string;
  /** The address the student connects to, printed on their card: their node on Swarm, else `up --host`. */
  host: string;
  /** The node their workloads run on, when the engine has several: its address, its name, and why it is lost. */
  node?: string;
  nodeName?: string;
  nodeLost?: string;
  passwords: PasswordPolicy;
  accounts: Account[];
  pair: [string, string];
  /** This student's sidecar's admin key and their page's key, from the class token. */
  adminKey?: string;
  studentKey?: string;
  /** Their page, with their key. */
  page: string | null;
  disk?: DiskInfo;
}

const isLoopback = (host: string) => /^(127\.|::1$|localhost$)/.test(host);
const whole = z.coerce.number().int().positive();

const workloadLabels = z.object({
  [LABEL.class]: z.string(),
  [LABEL.student]: whole,
  [LABEL.role]: z.enum(['mail', 'sidecar']),
});

const mailLabels = z.object({
  [LABEL.lab]: z.string(),
  [LABEL.labData]: z.string().optional(),
  [LABEL.labFile]: z.string().optional(),
  [LABEL.host]: z.string(),
  [LABEL.domain]: z.string(),
  [LABEL.ports]: z.string().transform(parsePorts),
  [LABEL.basePort]: z.coerce.number().int(),
  [LABEL.bind]: z.string().default('0.0.0.0'),
  [LABEL.passwords]: z.enum(['lab', 'random']).catch('lab'),
});

type MailLabels = z.infer<typeof mailLabels>;

function decode<T extends z.ZodType>(schema: T, object: { name: string; labels: Record<string, string> }) {
  const parsed = schema.safeParse(object.labels);
  if (parsed.success) return parsed.data as z.infer<T>;
  const issue = parsed.error.issues[0]!;
  throw new LabctlError(
    ExitCode.engine,
    `${object.name} carries a label labctl cannot read (${issue.path.join('.') || 'labels'}: ${issue.message}).`,
    'It was not made by this labctl: `labctl up` makes it again.',
  );
}

type Labelled = { labels: Record<string, string> };

/**
 * Single labels of raw objects, for what works on them before there is a class to decode (reconcile, down): the
 * other place labels are read is decodeClass, below.
 */
export const label = {
  student: (o: Labelled) => Number(o.labels[LABEL.student] ?? NaN),
  role: (o: Labelled) => o.labels[LABEL.role],
  /** The digest of the spec a workload was made from (plan.ts specHash). */
  spec: (o: Labelled) => o.labels[LABEL.spec],
  /** On a volume: the student's disk it lives on. */
  disk: (o: Labelled) => o.labels[LABEL.disk],
};

/** The class's token, from its sidecars or, while they are gone, its progress volumes. */
export function tokenOf(objects: Pick<ClassObjects, 'containers' | 'volumes'>): string | undefined {
  return [...objects.containers, ...objects.volumes].find((o) => o.labels[LABEL.token])?.labels[LABEL.token];
}

/** The password policy the class was made with (`up --passwords`), if it was. */
export function passwordPolicyOf(objects: Pick<ClassObjects, 'containers' | 'volumes'>): PasswordPolicy | undefined {
  const value = [...objects.containers, ...objects.volumes].find((o) => o.labels[LABEL.passwords])?.labels[
    LABEL.passwords
  ];
  return value === 'random' || value === 'lab' ? value : undefined;
}

/** Decodes one class's objects (already listed) into the model; `engine` says where ports answer. */
export function decodeClass(
  className: string,
  objects: ClassObjects,
  engine: Pick<Engine, 'address'>,
  labs = new Map<string, Lab>(),
): ObservedClass | undefined {
  const token = tokenOf(objects);
  const roster = rosterOf(className, objects.volumes);
  const byStudent = new Map<number, { mail?: WorkloadInfo; sidecar?: WorkloadInfo }>();
  for (const c of objects.containers) {
    if (c.labels[LABEL.role] !== 'mail' && c.labels[LABEL.role] !== 'sidecar') continue;
    const w = decode(workloadLabels, c);
    const entry = byStudent.get(w[LABEL.student]) ?? {};
    entry[w[LABEL.role]] = c;
    byStudent.set(w[LABEL.student], entry);
  }
  const mails = [...byStudent.values()].flatMap((w) => (w.mail ? [w.mail] : []));
  if (mails.length === 0) return undefined;
  const labOf = (labels: MailLabels) => {
    const key = labels[LABEL.labData] ?? labels[LABEL.labFile] ?? labels[LABEL.lab];
    let lab = labs.get(key);
    if (!lab) labs.set(key, (lab = labFromLabel(labels[LABEL.labData], labels[LABEL.labFile])));
    return lab;
  };
  let classLab: Lab | undefined;
  const students: ObservedStudent[] = [];
  for (const [n, { mail, sidecar }] of [...byStudent].sort((a, b) => a[0] - b[0])) {
    // A student without a mail workload (a half-made one) shows with what the class says of everyone.
    const labels = mail ? decode(mailLabels, mail) : undefined;
    const lab = labels ? labOf(labels) : (classLab ?? labOf(decode(mailLabels, mails[0]!)));
    classLab ??= lab;
    const node = mail?.node ?? sidecar?.node;
    const nodeName = mail?.nodeName ?? sidecar?.nodeName;
    const nodeLost = mail?.nodeLost ?? sidecar?.nodeLost;
    const ports = labels?.[LABEL.ports] ?? {};
    const bind = labels?.[LABEL.bind] ?? '0.0.0.0';
    const host = node && !isLoopback(node) ? node : (labels?.[LABEL.host] ?? '');
    const passwords = labels?.[LABEL.passwords] ?? 'lab';
    const keys = token ? { adminKey: adminKey(token, n), studentKey: studentKey(token, n) } : {};
    students.push({
      student: n,
      ...personAt(roster, n),
      ...(mail && { mail }),
      ...(sidecar && { sidecar }),
      domain: labels?.[LABEL.domain] ?? '',
      ports,
      address: engine.address(bind, node),
      host,
      ...(node !== undefined && { node }),
      ...(nodeName !== undefined && { nodeName }),
      ...(nodeLost !== undefined && { nodeLost }),
      passwords,
      accounts: token ? studentAccounts(lab, passwords, token, n) : lab.accounts,
      pair: pairFor(lab, n),
      ...keys,
      page: keys.studentKey && ports.web ? `http://${host}:${ports.web}/?k=${keys.studentKey}` : null,
      ...withDisk(objects.disks, n),
    });
  }
  const first = decode(mailLabels, mails[0]!);
  return {
    className,
    lab: classLab!,
    basePort: first[LABEL.basePort],
    host: first[LABEL.host],
    bind: first[LABEL.bind],
    ...(token && { token }),
    ...(roster && { roster }),
    students,
    objects,
  };
}

function withDisk(disks: DiskInfo[], n: number): { disk?: DiskInfo } {
  const disk = disks.find((d) => d.labels[LABEL.student] === String(n));
  return disk ? { disk } : {};
}

/** Class `className` as the engine holds it, or a clear error when it holds none (or not that student). */
export async function observeClass(
  engine: Pick<Engine, 'list' | 'address'>,
  className: string,
  student?: number,
): Promise<ObservedClass> {
  const observed = decodeClass(className, await engine.list(className), engine);
  if (!observed) {
    throw usageError(
      `No class named ${className} on this Docker engine.`,
      `Start it with \`labctl up --class ${className} --students N\`, or list classes with \`labctl status\`.`,
    );
  }
  return student === undefined ? observed : onlyStudent(observed, student);
}

/** The class with only student `student` (who must have a mail workload), or a clear error. */
export function onlyStudent(observed: ObservedClass, student: number): ObservedClass {
  const one = observed.students.filter((s) => s.student === student && s.mail);
  if (one.length === 0)
    throw usageError(`Class ${observed.className} has no student ${student}.`, 'See `labctl status` for its students.');
  return { ...observed, students: one };
}

/** Every class on the engine (or the one named), each decoded; none is an empty list. */
export async function observeClasses(
  engine: Pick<Engine, 'list' | 'address'>,
  className?: string,
): Promise<ObservedClass[]> {
  const objects = await engine.list(className);
  const names = new Set(
    [...objects.containers, ...objects.volumes].map((o) => o.labels[LABEL.class]).filter((c) => c !== undefined),
  );
  const labs = new Map<string, Lab>();
  const of = <T extends { labels: Record<string, string> }>(list: T[], name: string) =>
    list.filter((o) => o.labels[LABEL.class] === name);
  return [...names].sort().flatMap((name) => {
    const mine: ClassObjects = {
      containers: of(objects.containers, name),
      networks: of(objects.networks, name),
      volumes: of(objects.volumes, name),
      disks: of(objects.disks, name),
    };
    return decodeClass(name, mine, engine, labs) ?? [];
  });
}

/**
 * Whether the student sleeps (`labctl stop`): both workloads are there and neither runs nor restarts. One of them down
 * while the other runs is a failure, not sleep; so is a missing one.
 */
export function isStopped(s: Pick<ObservedStudent, 'mail' | 'sidecar'>): boolean {
  return [s.mail, s.sidecar].every((w) => w !== undefined && w.state === 'exited');
}
