import type {
  AddressPool,
  ClassObjects,
  WorkloadInfo,
  WorkloadSpec,
  DiskInfo,
  DiskSpec,
  DiskSupport,
  Engine,
  EngineNode,
  ImageFile,
  LabelledObject,
  MissedNode,
  LockHolder,
  LogStream,
  Maintenance,
  MaintenanceResult,
  Replacement,
  Snapshot,
  WorkloadMove,
} from '../../src/docker/engine.js';
import { Readable } from 'node:stream';
import tar from 'tar-stream';
import { ExitCode, LabctlError } from '../../src/errors.js';

/** What a collect copies out of a student's server, as the engines give it back (a tar with `backup/` at its root). */
export async function collected(mail: string, files: Record<string, string> = {}): Promise<Buffer> {
  const pack = tar.pack();
  const all = {
    'backup/mail/util1/spool': `From util2@fake  Mon Dec  1 10:00:00 2026\nSubject: de ${mail}\n\nbonjour\n`,
    'backup/log/mail.log': `Dec  1 10:00:00 mail postfix/smtpd[1]: connect from ${mail}\n`,
    'backup/evidence/log/verify.log': '2026-12-01T10:00:00 uid=101 postfix/smtpd[1]: connect\n',
    ...files,
  };
  for (const [name, content] of Object.entries(all)) pack.entry({ name }, content);
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

interface FakeContainer {
  name: string;
  labels: Record<string, string>;
  image: string;
  state: string;
  ports: { container: number; host: number }[];
  /** On an engine of several nodes: the workload's node (its address, its name), and its state when it is not ready. */
  node?: string;
  nodeName?: string;
  nodeLost?: string;
}

/**
 * The one engine in memory, for unit tests of core code and of commands through their Context: objects, names,
 * states, locks and images; no workload ever runs, so maintenance and the mail log answer what a test sets.
 * `failOn` makes a call throw, as a failing engine would; `asked` lists every call, reads included; `onCall` sees each
 * change as it is made (a test presses Ctrl-C there).
 */
export class FakeEngine implements Engine {
  readonly where = 'fake://';
  parallelism = 4;
  /** As a Swarm engine: students connect to their workloads' `node`. */
  placesOnNodes = false;
  containers = new Map<string, FakeContainer>();
  networks = new Map<string, LabelledObject>();
  volumes = new Map<string, LabelledObject>();
  /** The students' disks, when `diskSupport` says the engine has them (by default it does). */
  disks = new Map<string, DiskInfo>();
  diskSupportAnswer: DiskSupport = { ok: true };
  images = new Set<string>();
  /** Every call that changed something, in order: "create-container labctl-…-mail". */
  calls: string[] = [];
  /** Every call, reads included, by method name: what a command asked of the engine. */
  asked: string[] = [];
  failOn: (call: string) => boolean = () => false;
  onCall: (call: string) => void = () => {};
  /** What a maintenance action answers; by default two accounts, each reset with nothing to remove. */
  maintenanceAnswer: (mail: WorkloadInfo, task: Maintenance) => MaintenanceResult | Promise<MaintenanceResult> = async (
    mail,
    task,
  ) => {
    if (task.action === 'accounts') return { exitCode: 0, stdout: 'util1\nutil11\n', stderr: '' };
    if (task.action === 'collect') return { exitCode: 0, stdout: '', stderr: '', backup: await collected(mail.name) };
    if (task.action === 'session') return { exitCode: 0, stdout: '', stderr: '' };
    const stdout = task.users.map((u) => `${u} spool=0 maildir=0 mbox=0\n`).join('');
    return { exitCode: 0, stdout, stderr: '', ...(task.backup && { backup: Buffer.from('tar') }) };
  };
  /** The students' mail log, as streamLog gives it. */
  mailLog = '';

  private record(call: string) {
    if (this.failOn(call)) throw new Error(`fake engine: ${call} failed`);
    this.calls.push(call);
    this.onCall(call);
  }

  private ask(method: string) {
    this.asked.push(method);
    if (this.failOn(method)) throw new Error(`fake engine: ${method} failed`);
  }

  ping() {
    this.ask('ping');
    return Promise.resolve();
  }
  addressPools(): Promise<AddressPool[] | undefined> {
    return Promise.resolve([{ base: '10.213.0.0/16', size: 26 }]);
  }
  list(className?: string): Promise<ClassObjects> {
    this.ask('list');
    const mine = (labels: Record<string, string>) =>
      labels['dev.labctl.class'] !== undefined && (!className || labels['dev.labctl.class'] === className);
    return Promise.resolve({
      containers: [...this.containers.values()]
        .filter((c) => mine(c.labels))
        .map((c): WorkloadInfo => ({
          id: c.name,
          name: c.name,
          labels: c.labels,
          image: c.image,
          state: c.state,
          status: c.state,
          ports: c.state === 'running' ? c.ports.map((p) => ({ ...p, ip: '0.0.0.0' })) : [],
          ...(c.node !== undefined && { node: c.node }),
          ...(c.nodeName !== undefined && { nodeName: c.nodeName }),
          ...(c.nodeLost !== undefined && { nodeLost: c.nodeLost }),
        })),
      networks: [...this.networks.values()].filter((n) => mine(n.labels)),
      volumes: [...this.volumes.values()].filter((v) => mine(v.labels)),
      disks: [...this.disks.values()].filter((d) => mine(d.labels)),
    });
  }
  names() {
    return Promise.resolve({
      containers: new Set(this.containers.keys()),
      networks: new Set(this.networks.keys()),
      volumes: new Set(this.volumes.keys()),
    });
  }
  publishedPorts() {
    const used = new Map<number, string>();
    for (const c of this.containers.values()) for (const p of c.ports) used.set(p.host, c.name);
    return Promise.resolve(used);
  }
  portAvailable() {
    return Promise.resolve(true);
  }
  createNetwork(name: string, labels: Record<string, string>) {
    this.record(`create-network ${name}`);
    if (this.networks.has(name)) throw new Error(`network ${name} exists`);
    this.networks.set(name, { name, labels });
    return Promise.resolve();
  }
  createVolume(name: string, labels: Record<string, string>) {
    this.record(`create-volume ${name}`);
    this.volumes.set(name, { name, labels });
    return Promise.resolve();
  }
  diskSupport() {
    return Promise.resolve(this.diskSupportAnswer);
  }
  createDisk(disk: DiskSpec) {
    const known = this.disks.get(disk.name);
    this.record(`${known ? 'mount' : 'create'}-disk ${disk.name}`);
    this.disks.set(disk.name, { name: disk.name, labels: disk.labels, bytes: disk.bytes, mounted: true });
    return Promise.resolve(known ? ('mounted' as const) : ('created' as const));
  }
  removeDisk(name: string) {
    this.record(`remove-disk ${name}`);
    this.disks.delete(name);
    return Promise.resolve();
  }
  /** Milliseconds a call takes, for tests of what is in flight. */
  delayOn: (call: string) => number = () => 0;

  async createWorkload(spec: WorkloadSpec) {
    const delay = this.delayOn(`create-container ${spec.name}`);
    if (delay > 0) await new Promise((r) => setTimeout(r, delay));
    this.record(`create-container ${spec.name}`);
    if (this.containers.has(spec.name)) throw new Error(`container ${spec.name} exists`);
    // As Docker does: a missing volume is made with the mount's labels.
    for (const m of spec.mounts)
      if (!this.volumes.has(m.volume)) this.volumes.set(m.volume, { name: m.volume, labels: m.labels ?? {} });
    this.containers.set(spec.name, {
      name: spec.name,
      labels: spec.labels,
      image: spec.image,
      state: 'created',
      ports: spec.ports.map((p) => ({ container: p.container, host: p.host })),
    });
    return Promise.resolve();
  }
  private get(name: string) {
    const c = this.containers.get(name);
    if (!c) throw new Error(`no container ${name}`);
    return c;
  }
  startWorkload(name: string) {
    this.record(`start ${name}`);
    this.get(name).state = 'running';
    return Promise.resolve();
  }
  stopWorkload(name: string) {
    this.record(`stop ${name}`);
    const c = this.containers.get(name);
    if (c) c.state = 'exited';
    return Promise.resolve();
  }
  async replaceWorkload(spec: WorkloadSpec): Promise<Replacement> {
    this.record(`replace ${spec.name}`);
    const old = this.get(spec.name);
    this.containers.delete(spec.name);
    await this.createWorkload(spec);
    await this.startWorkload(spec.name);
    return {
      undo: () => {
        this.calls.push(`undo-replace ${spec.name}`);
        this.containers.set(spec.name, { ...old, state: 'running' });
        return Promise.resolve();
      },
      commit: () => Promise.resolve(),
    };
  }
  removeWorkload(name: string) {
    this.record(`remove-container ${name}`);
    this.containers.delete(name);
    return Promise.resolve();
  }
  removeNetwork(name: string) {
    this.record(`remove-network ${name}`);
    this.networks.delete(name);
    return Promise.resolve();
  }
  removeVolume(name: string) {
    this.record(`remove-volume ${name}`);
    this.volumes.delete(name);
    return Promise.resolve();
  }
  address(bind: string, node?: string) {
    return node ?? (bind === '0.0.0.0' ? '127.0.0.1' : bind);
  }
  maintenance(mail: WorkloadInfo, task: Maintenance): Promise<MaintenanceResult> {
    this.record(`maintenance ${task.action} ${mail.name}`);
    return Promise.resolve(this.maintenanceAnswer(mail, task));
  }
  /** Gives the mail log; following, waits for the signal as the real engines do. */
  async streamLog(mail: WorkloadInfo, { follow, onChunk, signal }: LogStream): Promise<void> {
    this.ask(`streamLog ${mail.name}`);
    onChunk(this.mailLog);
    if (!follow || signal?.aborted) return;
    await new Promise<void>((resolve) => signal?.addEventListener('abort', () => resolve(), { once: true }));
  }
  logs() {
    return Promise.resolve('');
  }
  memoryUsage() {
    return Promise.resolve(0);
  }
  imageExists(ref: string) {
    return Promise.resolve(this.images.has(ref));
  }
  ensureBaseImage() {
    return Promise.resolve('present' as const);
  }
  buildImage(tag: string, _files: ImageFile[]) {
    this.images.add(tag);
    return Promise.resolve();
  }
  /** Locks by name; each taking gets an id of its own, as a container's would. */
  locks = new Map<string, LockHolder>();
  private nextLock = 1;
  acquireLock(name: string, labels: Record<string, string>) {
    this.ask('acquireLock');
    if (this.locks.has(name)) return Promise.resolve(undefined);
    const id = `lock${this.nextLock++}`;
    this.locks.set(name, { id, labels });
    return Promise.resolve(id);
  }
  lockHolder(name: string) {
    this.ask('lockHolder');
    return Promise.resolve(this.locks.get(name));
  }
  releaseLock(id: string) {
    this.ask('releaseLock');
    for (const [name, holder] of this.locks) if (holder.id === id) this.locks.delete(name);
    return Promise.resolve();
  }
  /** An archive of the images: their names, one a line. */
  saveImages(refs: string[]): Promise<NodeJS.ReadableStream> {
    this.ask('saveImages');
    if (refs.some((r) => !this.images.has(r))) return Promise.reject(new Error('no such image'));
    return Promise.resolve(Readable.from([refs.join('\n')]));
  }
  async loadImages(archive: NodeJS.ReadableStream): Promise<string[]> {
    this.record('load-images');
    let text = '';
    for await (const chunk of archive) text += String(chunk);
    const tags = text.split('\n').filter((t) => /^[\w./-]+:[\w.-]+$/.test(t));
    for (const t of tags) this.images.add(t);
    return tags;
  }
  /** Every volume is seen but on a node that is not ready, which is missed. */
  volumesEverywhere(className: string): Promise<{ volumes: LabelledObject[]; missed: MissedNode[] }> {
    this.ask('volumesEverywhere');
    const missed = (this.nodeList ?? [])
      .filter((n) => n.state !== 'ready')
      .map((n) => ({ node: n.name, why: `it is ${n.state}` }));
    return Promise.resolve({
      volumes: [...this.volumes.values()].filter((v) => v.labels['dev.labctl.class'] === className),
      missed,
    });
  }
  workloadNode(): Promise<string | undefined> {
    return Promise.resolve(undefined);
  }
  /** The nodes, when a test gives the engine several (a swarm); one host by default. */
  nodeList: EngineNode[] | undefined;
  nodes(): Promise<EngineNode[] | undefined> {
    this.asked.push('nodes');
    return Promise.resolve(this.nodeList?.map((n) => ({ ...n })));
  }
  /** A snapshot: a volume of role snapshot for the student of `names`, on no node in particular. */
  snapshotWorkloads(names: string[]): Promise<Snapshot> {
    this.record(`snapshot ${names.join(' ')}`);
    const mail = this.containers.get(names[0]!);
    if (!mail || mail.nodeLost) return Promise.reject(new Error(`fake engine: ${names[0]} cannot be read`));
    const time = new Date().toISOString();
    const labels = {
      ...Object.fromEntries(['dev.labctl.class', 'dev.labctl.student'].map((k) => [k, mail.labels[k]!])),
      'dev.labctl.role': 'snapshot',
      'dev.labctl.snapshot': time,
    };
    this.volumes.set(`${mail.name}-snap`, { name: `${mail.name}-snap`, labels });
    return Promise.resolve({ node: mail.nodeName ?? 'here', bytes: 1024, time });
  }
  restoreWorkloads(names: string[]): Promise<Snapshot | undefined> {
    const snap = this.volumes.get(`${names[0]!}-snap`);
    if (!snap) return Promise.resolve(undefined);
    this.record(`restore ${names.join(' ')}`);
    const time = snap.labels['dev.labctl.snapshot']!;
    return Promise.resolve({ node: this.containers.get(names[0]!)?.nodeName ?? 'here', bytes: 1024, time });
  }
  /** Moves a student's workloads to node `to`: their nodeName changes; undo puts it back. */
  /** Nodes that do not meet the class's placement constraints: a move there is refused before anything stops. */
  unplaceable = new Set<string>();
  moveWorkloads(names: string[], to: string): Promise<WorkloadMove> {
    const node = this.nodeList?.find((n) => n.id === to);
    if (node && this.unplaceable.has(node.name)) {
      const why = `Node ${node.name} does not meet the class's placement constraint node.labels.room==b12.`;
      return Promise.reject(new LabctlError(ExitCode.usage, why, undefined, 'placement'));
    }
    this.record(`move ${names.join(' ')} ${to}`);
    const moved = names.map((n) => this.containers.get(n)).filter((c): c is FakeContainer => c !== undefined);
    const from = moved[0]?.nodeName ?? '?';
    if (!node) return Promise.reject(new Error(`no node ${to}`));
    for (const c of moved) c.nodeName = node.name;
    return Promise.resolve({
      from,
      to: node.name,
      bytes: 0,
      wasRunning: moved.some((c) => c.state === 'running'),
      undo: () => {
        this.record(`undo-move ${names.join(' ')}`);
        for (const c of moved) c.nodeName = from;
        return Promise.resolve();
      },
      commit: () => {
        this.record(`commit-move ${names.join(' ')}`);
        return Promise.resolve();
      },
    });
  }
  pushImage(): Promise<string> {
    return Promise.reject(new Error('FakeEngine has no registry'));
  }
}
