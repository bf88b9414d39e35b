import { createHash } from 'node:crypto';
import type { Account, Lab, PasswordPolicy, Service, ServiceInfo } from './lab.js';
import { pairFor, studentAccounts } from './lab.js';
import { LABEL, studentLabels } from './labels.js';
import type { Endpoint, PortMap } from './ports.js';
import {
  collisionText,
  formatPorts,
  maxStudents,
  portCollision,
  studentPorts,
  WEB_CONTAINER_PORT,
  WEB_OFFSET,
} from './ports.js';
import { adminKey, studentKey } from './token.js';
import { classCa } from './tls.js';
import { labServices, usesTls } from './services.js';
import type { Card, SidecarLab } from './wire.js';
import { usageError } from '../errors.js';
import type { WorkloadLimits, WorkloadSecurity, DiskSpec } from '../docker/engine.js';
import { MAIL_LIMITS, SIDECAR_LIMITS } from './limits.js';
import { configEnv, renderMailConfig, type PlannedFile } from './mail-config.js';

export { diskLimits, renderMailConfig, studentUid, TLS_FILES, type PlannedFile } from './mail-config.js';
export { usesTls } from './services.js';

export interface ClassOptions {
  className: string;
  students: number;
  basePort: number;
  /** The address students connect to, shown on their cards. */
  host: string;
  /** The host address the ports are published on. */
  bind: string;
  mailImage: string;
  sidecarImage: string;
  /** The class's secret (see core/token.ts). */
  token: string;
  /** The TD's password for every account (lab), or each student's own (random). */
  passwords: PasswordPolicy;
}

export interface PlannedWorkload {
  name: string;
  role: 'mail' | 'sidecar';
  image: string;
  hostname: string;
  labels: Record<string, string>;
  /** Published ports: container port -> host port. */
  ports: { service: Endpoint; container: number; host: number }[];
  /** `disk`: the student's disk the volume lives on (bounded where the engine bounds disks). */
  mounts: { volume: string; target: string; readOnly?: boolean; disk?: string }[];
  env: string[];
  /**
   * Rendered configuration. It travels in the workload's own spec (env LABCTL_SERVER_CONFIG, a gzipped tar in base64, which
   * the image's entrypoint unpacks at every start), so that any engine can carry it, with no copy into a container.
   */
  files: PlannedFile[];
  /** What the container may use (see core/limits.ts). */
  limits: WorkloadLimits;
  security: WorkloadSecurity;
}

export interface PlannedVolume {
  name: string;
  labels: Record<string, string>;
  /** The student's disk it lives on, when it holds what the student can fill. */
  disk?: string;
}

export interface StudentPlan {
  student: number;
  id: string;
  hostname: string;
  domain: string;
  ports: PortMap;
  pair: [string, string];
  network: { name: string; labels: Record<string, string> };
  /** Holds every volume the student can fill: what their server writes is bounded by its size. */
  disk: DiskSpec;
  volumes: PlannedVolume[];
  containers: PlannedWorkload[];
}

export interface Plan {
  className: string;
  lab: { name: string; file: string; title: string; protocols: Record<Service, ServiceInfo> };
  host: string;
  bind: string;
  basePort: number;
  /** The class's CA (PEM), when the lab speaks TLS: `up` checks each server's certificate against it. */
  ca?: string;
  students: StudentPlan[];
}

const CLASS_NAME = /^[a-z0-9][a-z0-9-]{0,23}$/;

/** Refuses class options (and a lab whose services would share a host port) with the value and the fix. */
export function validateClassOptions(options: ClassOptions, lab?: Pick<Lab, 'file' | 'services'>): void {
  if (!CLASS_NAME.test(options.className)) {
    throw usageError(
      `--class "${options.className}" is not a valid class name`,
      'Use 1 to 24 lower-case letters, digits or dashes, starting with a letter or digit (e.g. td1).',
    );
  }
  if (!Number.isInteger(options.basePort) || options.basePort < 1024 || options.basePort > 64000) {
    throw usageError(`--base-port ${options.basePort} is out of range`, 'Use a whole number from 1024 to 64000.');
  }
  const max = maxStudents(options.basePort);
  if (!Number.isInteger(options.students) || options.students < 1 || options.students > max) {
    throw usageError(
      `--students ${options.students} is out of range`,
      `With --base-port ${options.basePort} the port plan holds 1 to ${max} students (100 ports each); lower --base-port for more.`,
    );
  }
  const collision = lab && portCollision(lab.services);
  if (collision) {
    throw usageError(
      `Lab ${lab.file}: services ${collision.service} and ${collision.other} would share a host port (${collisionText(collision)})`,
      `Give ${collision.service} a container port whose last two digits differ from every other service's and from ${WEB_OFFSET}.`,
    );
  }
}

export const studentId = (n: number) => `s${String(n).padStart(2, '0')}`;
export const resourceName = (className: string, n: number, suffix?: string) =>
  `labctl-${className}-${studentId(n)}${suffix ? `-${suffix}` : ''}`;

/** Turns a lab and the class options into everything `up` will create. Pure but for reading templates. */
export async function planClass(lab: Lab, options: ClassOptions): Promise<Plan> {
  validateClassOptions(options, lab);
  const students: StudentPlan[] = [];
  for (let n = 1; n <= options.students; n++) students.push(await planStudent(lab, options, n));
  return {
    className: options.className,
    lab: { name: lab.name, file: lab.file, title: lab.title, protocols: lab.protocols },
    host: options.host,
    bind: options.bind,
    basePort: options.basePort,
    ...(usesTls(lab) && { ca: classCa(options.token, options.className).cert }),
    students,
  };
}

export function studentDomain(className: string, n: number): string {
  return `${studentId(n)}.${className}.test`;
}

async function planStudent(lab: Lab, options: ClassOptions, n: number): Promise<StudentPlan> {
  const { className } = options;
  const domain = studentDomain(className, n);
  const hostname = `mail.${domain}`;
  const ports = studentPorts(lab, options.basePort, n);
  const accounts = studentAccounts(lab, options.passwords, options.token, n);
  const files = await renderMailConfig(lab, className, n, domain, options.token);
  if (options.passwords === 'random') {
    // The entrypoint gives the accounts these passwords (chpasswd) when the container starts.
    const lines = accounts.map((a) => `${a.user}:${a.password}\n`).join('');
    files.push({ path: 'etc/labctl/passwords', content: lines, mode: 0o600 });
  }
  const volume = (suffix: string): PlannedVolume => ({
    name: resourceName(className, n, suffix),
    labels: studentLabels(className, n, 'volume'),
  });
  // Everything the student can fill, directly or through the daemons, is on their disk; what only labctl's side
  // writes (progress, host keys) is not, so that a full disk never costs a credit.
  const disk: DiskSpec = {
    name: resourceName(className, n, 'disk'),
    bytes: lab.disk,
    labels: studentLabels(className, n, 'disk'),
  };
  const onDisk = (suffix: string): PlannedVolume => {
    const v = volume(suffix);
    return { ...v, labels: { ...v.labels, [LABEL.disk]: disk.name }, disk: disk.name };
  };
  // The progress volume outlives the containers (down keeps it): it carries the class token and password policy too.
  const progress = volume('progress');
  progress.labels = { ...progress.labels, [LABEL.token]: options.token, [LABEL.passwords]: options.passwords };
  const spool = onDisk('spool');
  const home = onDisk('home');
  const log = onDisk('log');
  // The trusted log and Postfix's message archive (only root, Postfix and the sidecar read them), and the
  // ssh host keys made at the server's first start.
  const evidence = onDisk('evidence');
  // Postfix's queue: a student's local sendmail fills it as fast as the mailboxes.
  const queue = onDisk('queue');
  const keys = volume('keys');
  const volumes = [spool, home, log, evidence, queue, keys, progress];
  const pair = pairFor(lab, n);
  const mail: PlannedWorkload = {
    name: resourceName(className, n, 'mail'),
    role: 'mail',
    image: options.mailImage,
    hostname,
    labels: {},
    ports: Object.entries(lab.services).map(([service, container]) => ({
      service,
      container,
      host: ports[service]!,
    })),
    env: [await configEnv(files)],
    mounts: [
      { volume: spool.name, target: '/var/mail', disk: disk.name },
      { volume: home.name, target: '/home', disk: disk.name },
      { volume: log.name, target: '/var/log', disk: disk.name },
      { volume: evidence.name, target: '/var/lib/labctl/evidence', disk: disk.name },
      { volume: queue.name, target: '/var/spool/postfix', disk: disk.name },
      { volume: keys.name, target: '/var/lib/labctl/keys' },
    ],
    files,
    limits: MAIL_LIMITS,
    // NET_ADMIN only to set the egress firewall: the entrypoint drops it before any daemon starts.
    // Students write only their homes and the spool (volumes on their disk) and these (bounded) places: /run
    // holds the world-writable /run/lock, which on the container's own layer would be the host's disk.
    security: {
      capAdd: ['NET_ADMIN'],
      capDrop: ['NET_RAW', 'MKNOD'],
      tmpfs: {
        '/tmp': 'size=64m,mode=1777',
        '/var/tmp': 'size=64m,mode=1777',
        '/run': 'size=16m,mode=755',
      },
    },
  };
  mail.labels = {
    ...studentLabels(className, n, 'mail'),
    [LABEL.lab]: lab.name,
    [LABEL.labFile]: lab.file,
    [LABEL.labData]: JSON.stringify(lab.definition),
    [LABEL.host]: options.host,
    [LABEL.domain]: domain,
    [LABEL.ports]: formatPorts(ports),
    [LABEL.basePort]: String(options.basePort),
    [LABEL.bind]: options.bind,
    [LABEL.passwords]: options.passwords,
    [LABEL.spec]: specHash(mail, options.bind, options.host),
  };
  const sidecar = planSidecar(lab, options, n, {
    domain,
    ports,
    pair,
    accounts,
    evidence: evidence.name,
    disk: disk.name,
    progress: progress.name,
  });
  return {
    student: n,
    id: studentId(n),
    hostname,
    domain,
    ports,
    pair,
    network: { name: resourceName(className, n), labels: studentLabels(className, n, 'network') },
    disk,
    volumes,
    containers: [mail, sidecar],
  };
}

/** The verification sidecar: reads the log and the Maildirs read-only, keeps progress on its own volume. */
function planSidecar(
  lab: Lab,
  options: ClassOptions,
  n: number,
  s: {
    domain: string;
    ports: PortMap;
    pair: [string, string];
    accounts: Account[];
    evidence: string;
    /** The student's disk, which the evidence volume lives on. */
    disk: string;
    progress: string;
  },
): PlannedWorkload {
  const card: Card = {
    className: options.className,
    student: n,
    host: options.host,
    domain: s.domain,
    ports: s.ports,
    pair: s.pair,
    password: s.accounts.find((a) => a.user === s.pair[0])?.password ?? '',
    passwords: Object.fromEntries(s.pair.map((u) => [u, s.accounts.find((a) => a.user === u)?.password ?? ''])),
    accounts: lab.accounts.length,
    users: lab.accounts.map((a) => a.user),
    services: labServices(lab),
    ...(usesTls(lab) && { ca: classCa(options.token, options.className).cert }),
    sshHost: resourceName(options.className, n, 'mail'),
  };
  const sidecar: PlannedWorkload = {
    name: resourceName(options.className, n, 'sidecar'),
    role: 'sidecar',
    image: options.sidecarImage,
    hostname: `progress.${s.domain}`,
    labels: {},
    ports: [{ service: 'web', container: WEB_CONTAINER_PORT, host: s.ports.web }],
    // Only the evidence Postfix and Courier wrote (read-only), never the students' homes or mail.log.
    mounts: [
      { volume: s.evidence, target: '/evidence', readOnly: true, disk: s.disk },
      { volume: s.progress, target: '/state' },
    ],
    env: [
      `LABCTL_LAB=${JSON.stringify({ labName: lab.name, labTitle: lab.title, exercises: lab.exercises, evidence: lab.evidence } satisfies SidecarLab)}`,
      `LABCTL_CARD=${JSON.stringify(card)}`,
      // Its own keys only: the class token stays on the host side (the label below, readable with Docker access).
      `LABCTL_ADMIN_KEY=${adminKey(options.token, n)}`,
      `LABCTL_STUDENT_KEY=${studentKey(options.token, n)}`,
    ],
    files: [],
    limits: SIDECAR_LIMITS,
    // Root with four capabilities for its entrypoint only, which hands a progress volume of an older labctl (owned
    // by root) to the sidecar's uid, then runs the sidecar as that uid with none (images/sidecar/entrypoint.sh).
    security: {
      user: '0:0',
      capDrop: ['ALL'],
      capAdd: ['CHOWN', 'SETUID', 'SETGID', 'SETPCAP'],
      noNewPrivileges: true,
      readOnlyRootfs: true,
      tmpfs: { '/tmp': 'size=16m' },
    },
  };
  sidecar.labels = {
    ...studentLabels(options.className, n, 'sidecar'),
    [LABEL.token]: options.token,
    [LABEL.spec]: specHash(sidecar, options.bind, options.host),
  };
  return sidecar;
}

/** A digest of everything that shapes a container; `up` recreates a container whose digest changed. */
function specHash(container: PlannedWorkload, bind: string, host: string): string {
  const { labels: _labels, ...spec } = container;
  return createHash('sha256').update(JSON.stringify({ spec, bind, host })).digest('hex').slice(0, 16);
}
