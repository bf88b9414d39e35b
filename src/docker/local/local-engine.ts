import type Docker from 'dockerode';
import { ExitCode, LabctlError } from '../../errors.js';
import { dockerClient } from '../client.js';
import type {
  AddressPool,
  ClassObjects,
  WorkloadInfo,
  WorkloadSpec,
  DiskSpec,
  DiskSupport,
  Engine,
  EngineNode,
  ExecResult,
  ImageFile,
  LabelKeys,
  LabelledObject,
  LockHolder,
  MissedNode,
  LogStream,
  Maintenance,
  MaintenanceResult,
  Replacement,
  Snapshot,
  WorkloadMove,
} from '../engine.js';
import { engineUnreachable, failed, statusIs, type DockerError } from '../errors.js';
import { ensureBaseImage } from '../images/base-image.js';
import { buildImage } from '../images/build.js';
import { pushImage } from '../images/push.js';
import { portFree, publishedAddress, remoteEngineHost } from '../net.js';
import * as containers from './containers.js';
import { exec } from './exec.js';
import { loadImages, saveImages } from './image-archive.js';
import { acquireLock, lockHolder, releaseLock } from './locks.js';
import { maintenance, streamLog } from './maintenance.js';
import { createNetwork, createVolume, removeNetwork, removeVolume } from './networks.js';
import { listObjects, objectNames, publishedPorts } from './objects.js';
import { logs, memoryUsage } from './output.js';
import { replaceContainer } from './replace.js';
import { StudentDisks } from './student-disks.js';

/** How long the engine has to answer a ping (`/_ping` takes no lock: a busy engine answers it in milliseconds). */
const PING_TIMEOUT_MS = 10_000;

/** The class on one Docker engine: a student's workloads are containers on their own bridge network. */
export class LocalEngine implements Engine {
  readonly where: string;
  readonly parallelism = 4;
  readonly placesOnNodes = false;
  private readonly disks: StudentDisks;

  constructor(
    private readonly labels: LabelKeys,
    private readonly docker: Docker = dockerClient(),
    disks?: StudentDisks,
  ) {
    this.where = process.env.DOCKER_HOST ?? 'unix:///var/run/docker.sock';
    this.disks = disks ?? new StudentDisks(labels.class);
  }

  /**
   * Within PING_TIMEOUT_MS: an engine that takes a connection and never answers (hung, or something else on its
   * port) fails the command (exit 4) within that time rather than holding it forever, `doctor` included.
   */
  async ping(): Promise<void> {
    try {
      // dockerode takes the signal; its types know ping() only with a callback. The timer is cleared once the ping
      // answers: a signal aborted later would destroy the request, and with it the kept-alive socket now serving
      // another call (seen: ECONNRESET on a later list).
      const ping = this.docker.ping.bind(this.docker) as unknown as (o: {
        abortSignal: AbortSignal;
      }) => Promise<unknown>;
      const timeout = new AbortController();
      const timer = setTimeout(
        () => timeout.abort(Object.assign(new Error('timed out'), { name: 'TimeoutError' })),
        PING_TIMEOUT_MS,
      );
      try {
        await ping({ abortSignal: timeout.signal });
      } finally {
        clearTimeout(timer);
      }
    } catch (error) {
      const timedOut = (error as Error).name === 'AbortError' || (error as Error).name === 'TimeoutError';
      throw engineUnreachable(
        timedOut ? new Error(`no answer within ${PING_TIMEOUT_MS / 1000} s`) : (error as DockerError),
      );
    }
  }

  async addressPools(): Promise<AddressPool[] | undefined> {
    try {
      const info = (await this.docker.info()) as { DefaultAddressPools?: { Base?: string; Size?: number }[] | null };
      const pools = info.DefaultAddressPools;
      if (!Array.isArray(pools) || pools.length === 0) return undefined;
      return pools
        .filter((p) => typeof p.Base === 'string' && typeof p.Size === 'number')
        .map((p) => ({ base: p.Base!, size: p.Size! }));
    } catch (error) {
      throw failed('read the engine info', error);
    }
  }

  async list(className?: string): Promise<ClassObjects> {
    const [objects, disks] = await Promise.all([
      listObjects(this.docker, this.labels.class, className),
      this.disks.list(className).catch((error: unknown) => {
        throw failed('list labctl objects', error);
      }),
    ]);
    return { ...objects, disks };
  }

  names() {
    return objectNames(this.docker);
  }

  publishedPorts(): Promise<Map<number, string>> {
    return publishedPorts(this.docker);
  }

  /** Binds the port here, which says something only when the engine publishes on this machine. */
  portAvailable(bind: string, port: number): Promise<boolean> {
    if (remoteEngineHost()) return Promise.resolve(true);
    return portFree(bind, port);
  }

  address(bind: string): string {
    return publishedAddress(bind);
  }

  diskSupport(): Promise<DiskSupport> {
    return this.disks.support();
  }

  createDisk(disk: DiskSpec): Promise<'created' | 'mounted' | 'present'> {
    return this.disks.create(disk);
  }

  removeDisk(name: string): Promise<void> {
    return this.disks.remove(name);
  }

  createNetwork(name: string, labels: Record<string, string>): Promise<void> {
    return createNetwork(this.docker, name, labels);
  }

  async createVolume(name: string, labels: Record<string, string>, disk?: string): Promise<void> {
    await createVolume(this.docker, name, labels, await this.disks.volumeDriver(name, disk));
  }

  async createWorkload(spec: WorkloadSpec): Promise<void> {
    // A volume made with the workload on the student's disk is bound from its directory there.
    const drivers = await Promise.all(
      spec.mounts.map((m) => (m.labels ? this.disks.volumeDriver(m.volume, m.disk) : undefined)),
    );
    await containers.createContainer(this.docker, spec, drivers);
  }

  startWorkload(name: string): Promise<void> {
    return containers.startContainer(this.docker, name);
  }

  stopWorkload(name: string, timeoutSeconds: number): Promise<void> {
    return containers.stopContainer(this.docker, name, timeoutSeconds);
  }

  replaceWorkload(spec: WorkloadSpec): Promise<Replacement> {
    return replaceContainer(this.docker, spec, () => this.createWorkload(spec));
  }

  removeWorkload(name: string): Promise<void> {
    return containers.removeContainer(this.docker, name);
  }

  removeNetwork(name: string): Promise<void> {
    return removeNetwork(this.docker, name);
  }

  removeVolume(name: string): Promise<void> {
    return removeVolume(this.docker, name);
  }

  maintenance(mail: WorkloadInfo, task: Maintenance): Promise<MaintenanceResult> {
    return maintenance(this.docker, mail, task);
  }

  streamLog(mail: WorkloadInfo, stream: LogStream): Promise<void> {
    return streamLog(this.docker, mail, stream);
  }

  /** Runs a command in a container, as root unless told; not on the seam (the bench uses it). */
  exec(name: string, cmd: string[], user?: string): Promise<ExecResult> {
    return exec(this.docker, name, cmd, user);
  }

  logs(name: string, tail: number): Promise<string> {
    return logs(this.docker, name, tail);
  }

  memoryUsage(name: string): Promise<number> {
    return memoryUsage(this.docker, name);
  }

  async imageExists(ref: string): Promise<boolean> {
    try {
      await this.docker.getImage(ref).inspect();
      return true;
    } catch (error) {
      if (statusIs(error, 404)) return false;
      throw failed(`inspect image ${ref}`, error);
    }
  }

  ensureBaseImage(onStep: (line: string) => void, signal?: AbortSignal) {
    return ensureBaseImage(this.docker, onStep, signal);
  }

  buildImage(
    tag: string,
    files: ImageFile[],
    onStep: (line: string) => void,
    buildArgs?: Record<string, string>,
    signal?: AbortSignal,
  ) {
    return buildImage(this.docker, this.labels.image, tag, files, onStep, buildArgs, signal);
  }

  pushImage(ref: string, registry: string, onStep: (line: string) => void, signal?: AbortSignal): Promise<string> {
    return pushImage(this.docker, ref, registry, onStep, signal);
  }

  saveImages(refs: string[]): Promise<NodeJS.ReadableStream> {
    return saveImages(this.docker, refs);
  }

  loadImages(archive: NodeJS.ReadableStream): Promise<string[]> {
    return loadImages(this.docker, archive);
  }

  acquireLock(name: string, labels: Record<string, string>): Promise<string | undefined> {
    return acquireLock(this.docker, name, labels);
  }

  lockHolder(name: string): Promise<LockHolder | undefined> {
    return lockHolder(this.docker, name);
  }

  releaseLock(id: string): Promise<void> {
    return releaseLock(this.docker, id);
  }

  /** One host: every volume is here. */
  async volumesEverywhere(className: string): Promise<{ volumes: LabelledObject[]; missed: MissedNode[] }> {
    return { volumes: (await this.list(className)).volumes, missed: [] };
  }

  /** One host: every workload is here. */
  workloadNode(): Promise<string | undefined> {
    return Promise.resolve(undefined);
  }

  nodes(): Promise<EngineNode[] | undefined> {
    return Promise.resolve(undefined);
  }

  snapshotWorkloads(): Promise<Snapshot> {
    return Promise.reject(
      new LabctlError(
        ExitCode.usage,
        `The engine at ${this.where} is one host: its students' volumes are where a snapshot would be.`,
        '`labctl archive` keeps a copy of the class elsewhere.',
      ),
    );
  }

  /** One host: no snapshot is ever made. */
  restoreWorkloads(): Promise<Snapshot | undefined> {
    return Promise.resolve(undefined);
  }

  moveWorkloads(): Promise<WorkloadMove> {
    return Promise.reject(
      new LabctlError(
        ExitCode.usage,
        `The engine at ${this.where} is one host: it has no other node to move a student to.`,
      ),
    );
  }
}
