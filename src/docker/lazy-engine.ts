import type {
  ClassObjects,
  WorkloadInfo,
  WorkloadSpec,
  DiskSpec,
  Engine,
  ImageFile,
  LogStream,
  Maintenance,
} from './engine.js';

export interface LazyEngineOptions {
  /** What answers the fields until the choice is made: the engine asked for, else the likely one. */
  provisional: Engine;
  /** Chooses the engine (it may ask Docker, and refuse); called once, at the first call. */
  choose: () => Promise<Engine>;
  /** How the chosen engine lists, when that is not its own list(). */
  list?: (engine: Engine, className?: string) => Promise<ClassObjects>;
}

/**
 * An engine chosen at its first call, so that commands that never reach an engine never ask Docker which one runs
 * the class. From then on every call and field answers from the chosen engine; before it, the fields answer from
 * the provisional one.
 */
export class LazyEngine implements Engine {
  private engine: Engine;
  private choice: Promise<Engine> | undefined;

  constructor(private readonly options: LazyEngineOptions) {
    this.engine = options.provisional;
  }

  get where(): string {
    return this.engine.where;
  }

  get parallelism(): number {
    return this.engine.parallelism;
  }

  get placesOnNodes(): boolean {
    return this.engine.placesOnNodes;
  }

  /** Calls the chosen engine, choosing it first if need be; a refused choice is given to every call. */
  private async on<T>(call: (engine: Engine) => Promise<T>): Promise<T> {
    this.choice ??= this.options.choose().then((engine) => (this.engine = engine));
    return call(await this.choice);
  }

  /** Synchronous: before the choice (no workload listed yet, so no node), the provisional engine answers. */
  address(bind: string, node?: string): string {
    return this.engine.address(bind, node);
  }

  readonly ping = () => this.on((e) => e.ping());
  readonly addressPools = () => this.on((e) => e.addressPools());
  readonly list = (className?: string) =>
    this.on((e) => (this.options.list ? this.options.list(e, className) : e.list(className)));
  readonly volumesEverywhere = (className: string) => this.on((e) => e.volumesEverywhere(className));
  readonly names = () => this.on((e) => e.names());
  readonly publishedPorts = () => this.on((e) => e.publishedPorts());
  readonly portAvailable = (bind: string, port: number) => this.on((e) => e.portAvailable(bind, port));
  readonly createNetwork = (name: string, labels: Record<string, string>) =>
    this.on((e) => e.createNetwork(name, labels));
  readonly createVolume = (name: string, labels: Record<string, string>, disk?: string) =>
    this.on((e) => e.createVolume(name, labels, disk));
  readonly diskSupport = () => this.on((e) => e.diskSupport());
  readonly createDisk = (disk: DiskSpec) => this.on((e) => e.createDisk(disk));
  readonly removeDisk = (name: string) => this.on((e) => e.removeDisk(name));
  readonly createWorkload = (spec: WorkloadSpec) => this.on((e) => e.createWorkload(spec));
  readonly startWorkload = (name: string) => this.on((e) => e.startWorkload(name));
  readonly stopWorkload = (name: string, timeoutSeconds: number) =>
    this.on((e) => e.stopWorkload(name, timeoutSeconds));
  readonly replaceWorkload = (spec: WorkloadSpec) => this.on((e) => e.replaceWorkload(spec));
  readonly removeWorkload = (name: string) => this.on((e) => e.removeWorkload(name));
  readonly removeNetwork = (name: string) => this.on((e) => e.removeNetwork(name));
  readonly removeVolume = (name: string) => this.on((e) => e.removeVolume(name));
  readonly maintenance = (mail: WorkloadInfo, task: Maintenance) => this.on((e) => e.maintenance(mail, task));
  readonly streamLog = (mail: WorkloadInfo, stream: LogStream) => this.on((e) => e.streamLog(mail, stream));
  readonly logs = (name: string, tail: number) => this.on((e) => e.logs(name, tail));
  readonly memoryUsage = (name: string) => this.on((e) => e.memoryUsage(name));
  readonly imageExists = (ref: string) => this.on((e) => e.imageExists(ref));
  readonly ensureBaseImage = (onStep: (line: string) => void, signal?: AbortSignal) =>
    this.on((e) => e.ensureBaseImage(onStep, signal));
  readonly buildImage = (
    tag: string,
    files: ImageFile[],
    onStep: (line: string) => void,
    buildArgs?: Record<string, string>,
    signal?: AbortSignal,
  ) => this.on((e) => e.buildImage(tag, files, onStep, buildArgs, signal));
  readonly acquireLock = (name: string, labels: Record<string, string>) => this.on((e) => e.acquireLock(name, labels));
  readonly lockHolder = (name: string) => this.on((e) => e.lockHolder(name));
  readonly releaseLock = (id: string) => this.on((e) => e.releaseLock(id));
  readonly saveImages = (refs: string[]) => this.on((e) => e.saveImages(refs));
  readonly loadImages = (archive: NodeJS.ReadableStream) => this.on((e) => e.loadImages(archive));
  readonly pushImage = (ref: string, registry: string, onStep: (line: string) => void, signal?: AbortSignal) =>
    this.on((e) => e.pushImage(ref, registry, onStep, signal));
  readonly workloadNode = (name: string) => this.on((e) => e.workloadNode(name));
  readonly nodes = () => this.on((e) => e.nodes());
  readonly snapshotWorkloads = (names: string[]) => this.on((e) => e.snapshotWorkloads(names));
  readonly restoreWorkloads = (names: string[]) => this.on((e) => e.restoreWorkloads(names));
  readonly moveWorkloads = (names: string[], to: string) => this.on((e) => e.moveWorkloads(names, to));
}
