import type {
  AddressPool,
  ClassObjects,
  ContainerInfo,
  ContainerSpec,
  DiskInfo,
  DiskSpec,
  DiskSupport,
  Engine,
  ImageFile,
  LabelledObject,
  LockHolder,
  LogStream,
  Maintenance,
  MaintenanceResult,
  Replacement,
} from '../../src/docker/engine.js';

interface FakeContainer {
  name: string;
  labels: Record<string, string>;
  image: string;
  state: string;
  ports: { container: number; host: number }[];
}

/**
 * An engine in memory, for unit tests of pure core code (reconcile, apply, rollback): objects, names and states
 * only; no workload ever runs. `failOn` makes a call throw, as a failing engine would.
 */
export class FakeEngine implements Engine {
  readonly where = 'fake://';
  readonly parallelism = 4;
  containers = new Map<string, FakeContainer>();
  networks = new Map<string, LabelledObject>();
  volumes = new Map<string, LabelledObject>();
  /** The students' disks, when `diskSupport` says the engine has them (by default it does). */
  disks = new Map<string, DiskInfo>();
  diskSupportAnswer: DiskSupport = { ok: true };
  images = new Set<string>();
  /** Every call that changed something, in order: "create-container labctl-…-mail". */
  calls: string[] = [];
  failOn: (call: string) => boolean = () => false;

  private record(call: string) {
    if (this.failOn(call)) throw new Error(`fake engine: ${call} failed`);
    this.calls.push(call);
  }

  ping() {
    return Promise.resolve();
  }
  addressPools(): Promise<AddressPool[] | undefined> {
    return Promise.resolve([{ base: '10.213.0.0/16', size: 26 }]);
  }
  list(className?: string): Promise<ClassObjects> {
    const mine = (labels: Record<string, string>) =>
      labels['dev.labctl.class'] !== undefined && (!className || labels['dev.labctl.class'] === className);
    return Promise.resolve({
      containers: [...this.containers.values()]
        .filter((c) => mine(c.labels))
        .map((c): ContainerInfo => ({
          id: c.name,
          name: c.name,
          labels: c.labels,
          image: c.image,
          state: c.state,
          status: c.state,
          ports: c.state === 'running' ? c.ports.map((p) => ({ ...p, ip: '0.0.0.0' })) : [],
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

  async createContainer(spec: ContainerSpec) {
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
  startContainer(name: string) {
    this.record(`start ${name}`);
    this.get(name).state = 'running';
    return Promise.resolve();
  }
  stopContainer(name: string) {
    this.record(`stop ${name}`);
    const c = this.containers.get(name);
    if (c) c.state = 'exited';
    return Promise.resolve();
  }
  async replaceContainer(spec: ContainerSpec): Promise<Replacement> {
    this.record(`replace ${spec.name}`);
    const old = this.get(spec.name);
    this.containers.delete(spec.name);
    await this.createContainer(spec);
    await this.startContainer(spec.name);
    return {
      undo: () => {
        this.calls.push(`undo-replace ${spec.name}`);
        this.containers.set(spec.name, { ...old, state: 'running' });
        return Promise.resolve();
      },
      commit: () => Promise.resolve(),
    };
  }
  removeContainer(name: string) {
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
  address(bind: string) {
    return bind === '0.0.0.0' ? '127.0.0.1' : bind;
  }
  maintenance(_mail: ContainerInfo, _task: Maintenance): Promise<MaintenanceResult> {
    return Promise.reject(new Error('the fake engine runs no workload'));
  }
  streamLog(_mail: ContainerInfo, _stream: LogStream): Promise<void> {
    return Promise.reject(new Error('the fake engine runs no workload'));
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
  private locks = new Map<string, LockHolder>();
  acquireLock(name: string, labels: Record<string, string>) {
    if (this.locks.has(name)) return Promise.resolve(undefined);
    this.locks.set(name, { id: name, labels });
    return Promise.resolve(name);
  }
  lockHolder(name: string) {
    return Promise.resolve(this.locks.get(name));
  }
  releaseLock(id: string) {
    this.locks.delete(id);
    return Promise.resolve();
  }
  saveImages(): Promise<NodeJS.ReadableStream> {
    return Promise.reject(new Error('FakeEngine has no images to save'));
  }
  loadImages(): Promise<string[]> {
    return Promise.reject(new Error('FakeEngine cannot load images'));
  }
  workloadNode(): Promise<string | undefined> {
    return Promise.resolve(undefined);
  }
  pushImage(): Promise<string> {
    return Promise.reject(new Error('FakeEngine has no registry'));
  }
}
