import type Docker from 'dockerode';
import { ExitCode, LabctlError } from '../../errors.js';
import { dockerClient } from '../client.js';
import {
  BASE_IMAGE,
  type AddressPool,
  type ClassObjects,
  type WorkloadInfo,
  type WorkloadSpec,
  type DiskSupport,
  type Engine,
  type EngineNode,
  type ImageFile,
  type LabelKeys,
  type LabelledObject,
  type MissedNode,
  type LockHolder,
  type LogStream,
  type Maintenance,
  type MaintenanceResult,
  type Replacement,
  type Snapshot,
  type WorkloadMove,
} from '../engine.js';
import { failed } from '../errors.js';
import { splitReference } from '../images/push.js';
import { LocalEngine } from '../local/local-engine.js';
import { portFree, workloadAddress } from '../net.js';
import { parseConstraint } from './constraints.js';
import { logs, maintenance, streamLog } from './maintenance.js';
import { createNetwork, removeNetwork, removeVolume } from './networks.js';
import { moveWorkloads, swarmNodes } from './move.js';
import { containerHere, workloadNode } from './nodes.js';
import { listObjects, servicePorts } from './objects.js';
import { PinnedImages } from './pinned-images.js';
import { Placement } from './placement.js';
import { restoreWorkloads, snapshotWorkloads } from './snapshot.js';
import { serviceSpec, type ServiceSpec } from './service-spec.js';
import { inspectService, listServices, removeService, scaled, stopService, updateService } from './services.js';
import { isManager } from './survey.js';
import { NodeVolumes, volumesOnNodes, type VolumeHome } from './volumes.js';

export interface SwarmOptions {
  /** Placement constraints for new students, e.g. node.labels.room==b12. */
  constraints?: string[];
  /** A registry the nodes pull the images from (pushed there by `labctl build --push`); else each node's own. */
  registry?: string;
}

const BASE_REPO = splitReference(BASE_IMAGE).repo;

/**
 * The class on Docker Swarm mode: a student's workload is a service of one replica pinned to one node (their volumes
 * stay there), on the student's own overlay network, its ports published in host mode on that node. Maintenance and
 * the mail log run as one-off jobs on the student's node, read back through the manager (jobs.ts). Images and locks
 * go to this (the manager's) engine, as the local engine's.
 */
export class SwarmEngine implements Engine {
  readonly where: string;
  readonly parallelism = 16;
  readonly placesOnNodes = true;
  private readonly local: LocalEngine;
  private readonly constraints: string[];
  private readonly placement: Placement;
  private readonly pinned: PinnedImages | undefined;
  /** Labels of the volumes createVolume was told of, for the node that makes them. */
  private readonly volumeLabels = new Map<string, Record<string, string>>();
  /** The node of each volume the class's services mount, as list() last saw them: removeVolume removes it there. */
  private readonly volumeHomes = new Map<string, VolumeHome>();
  /** Other nodes that hold a volume of the same name, as volumesEverywhere() found them. */
  private readonly otherHomes = new Map<string, VolumeHome[]>();
  private readonly nodeVolumes: NodeVolumes;
  private selfNode: Promise<string | undefined> | undefined;

  constructor(
    private readonly labels: LabelKeys,
    private readonly docker: Docker = dockerClient(),
    options: SwarmOptions = {},
  ) {
    this.where = `Swarm at ${process.env.DOCKER_HOST ?? 'unix:///var/run/docker.sock'}`;
    this.local = new LocalEngine(labels, docker);
    this.constraints = options.constraints ?? [];
    this.placement = new Placement(docker, labels, this.constraints.map(parseConstraint));
    const registry = options.registry?.replace(/\/+$/, '');
    this.pinned = registry ? new PinnedImages(docker, registry) : undefined;
    this.nodeVolumes = new NodeVolumes(docker);
  }

  async ping(): Promise<void> {
    await this.local.ping();
    if (!(await isManager(this.docker))) {
      throw new LabctlError(
        ExitCode.engine,
        `The Docker engine at ${this.local.where} is not a Swarm manager, so it cannot run a class on Swarm.`,
        'Make it one with `docker swarm init --advertise-addr ADDRESS` (then `docker swarm join` the other nodes), or leave out --engine swarm.',
        'no-swarm',
      );
    }
  }

  async addressPools(): Promise<AddressPool[] | undefined> {
    try {
      const swarm = (await this.docker.swarmInspect()) as { DefaultAddrPool?: string[]; SubnetSize?: number };
      if (!swarm.DefaultAddrPool?.length || !swarm.SubnetSize) return undefined;
      return swarm.DefaultAddrPool.map((base) => ({ base, size: swarm.SubnetSize! }));
    } catch (error) {
      throw failed('read the swarm', error);
    }
  }

  list(className?: string): Promise<ClassObjects> {
    return listObjects(this.docker, this.labels.class, className, this.volumeHomes);
  }

  /** Volumes everywhere, each node asked by a job (volumes.ts), which then knows where each is to remove it. */
  async volumesEverywhere(className: string): Promise<{ volumes: LabelledObject[]; missed: MissedNode[] }> {
    const { volumes, missed } = await volumesOnNodes(
      this.docker,
      `${this.labels.class}=${className}`,
      await this.jobImages(),
    );
    // A name on several nodes (a lost node came back with the old copies of students made again elsewhere): one
    // volume for the caller, removed on each of its nodes.
    const unique = new Map<string, LabelledObject>();
    for (const v of volumes) {
      if (unique.has(v.name)) this.otherHomes.set(v.name, [...(this.otherHomes.get(v.name) ?? []), v.home]);
      else this.volumeHomes.set(v.name, v.home);
      unique.set(v.name, { name: v.name, labels: v.labels });
    }
    return { volumes: [...unique.values()], missed };
  }

  /**
   * Images a node may have for a job that no workload names (Perl is in each): labctl's mail and sidecar images on
   * this node, newest first, as the nodes know them (by digest in the registry, when there is one).
   */
  private async jobImages(): Promise<string[]> {
    try {
      const images = await this.docker.listImages({ filters: { reference: ['labctl/mail', 'labctl/sidecar'] } });
      const refs = images
        .sort((a, b) => b.Created - a.Created)
        .flatMap((i) => {
          const pinned = (i.RepoDigests ?? []).filter((d) => this.pinned && d.startsWith(`${this.pinned.registry}/`));
          return [...pinned, ...(i.RepoTags ?? []).filter((t) => t.startsWith('labctl/'))];
        });
      return refs.slice(0, 4);
    } catch (error) {
      throw failed('list labctl images', error);
    }
  }

  async names() {
    try {
      const [local, services] = await Promise.all([this.local.names(), listServices(this.docker)]);
      for (const s of services) local.containers.add(s.Spec.Name);
      return local;
    } catch (error) {
      throw failed('list services and networks', error);
    }
  }

  async publishedPorts(): Promise<Map<number, string>> {
    return servicePorts(this.docker, await this.local.publishedPorts());
  }

  /** Binds the port on this node (every node publishes the class's ports in host mode; this one is a node too). */
  portAvailable(_bind: string, port: number): Promise<boolean> {
    return portFree('0.0.0.0', port);
  }

  address(bind: string, node?: string): string {
    return workloadAddress(bind, node);
  }

  createNetwork(name: string, labels: Record<string, string>): Promise<void> {
    return createNetwork(this.docker, name, labels);
  }

  /** Students' volumes are made by the nodes that run them, where labctl mounts nothing. */
  diskSupport(): Promise<DiskSupport> {
    return Promise.resolve({
      ok: false,
      why: 'on Swarm, each node makes the volumes of the students it runs, and labctl mounts no disk there',
    });
  }

  createDisk(): Promise<'created' | 'mounted' | 'present'> {
    return Promise.reject(new LabctlError(ExitCode.engine, 'Swarm nodes have no labctl disks.'));
  }

  removeDisk(): Promise<void> {
    return Promise.resolve();
  }

  /**
   * A student's volume is created by the node that first runs a task mounting it; here only its labels are kept for
   * that. A volume of the class itself (no student: its roster, its session), which no task mounts, is made here, on
   * the manager, where every labctl of the class lists it.
   */
  createVolume(name: string, labels: Record<string, string>): Promise<void> {
    if (labels[this.labels.student] === undefined) return this.local.createVolume(name, labels);
    this.volumeLabels.set(name, labels);
    return Promise.resolve();
  }

  private async specFor(spec: WorkloadSpec, replicas: number): Promise<ServiceSpec> {
    const nodeId = await this.placement.nodeFor(spec.labels);
    if (this.pinned) spec = { ...spec, image: await this.pinned.get(spec.image) };
    const { class: cls, student, role } = this.labels;
    return serviceSpec(spec, {
      nodeId,
      constraints: this.constraints,
      replicas,
      volumeLabels: (name) =>
        this.volumeLabels.get(name) ?? {
          [cls]: spec.labels[cls] ?? '',
          [student]: spec.labels[student] ?? '',
          [role]: 'volume',
        },
    });
  }

  /** Created with no replica: start gives it one, like a created container that is started. */
  async createWorkload(spec: WorkloadSpec): Promise<void> {
    const body = await this.specFor(spec, 0);
    try {
      await this.docker.createService(body as unknown as Docker.CreateServiceOptions);
    } catch (error) {
      throw failed(`create service ${spec.name}`, error);
    }
  }

  startWorkload(name: string): Promise<void> {
    return updateService(this.docker, name, scaled(1));
  }

  stopWorkload(name: string, timeoutSeconds: number): Promise<void> {
    return stopService(this.docker, name, timeoutSeconds);
  }

  /** A service update to the new spec (its old task stops first); undo updates it back to the previous spec. */
  async replaceWorkload(spec: WorkloadSpec): Promise<Replacement> {
    const previous = await inspectService(this.docker, spec.name);
    if (!previous) {
      await this.createWorkload(spec);
      await this.startWorkload(spec.name);
      return { undo: () => this.removeWorkload(spec.name), commit: () => Promise.resolve() };
    }
    const next = await this.specFor(spec, 1);
    await updateService(this.docker, spec.name, () => next);
    return {
      undo: () => updateService(this.docker, spec.name, () => scaled(1)(previous.Spec)),
      commit: () => Promise.resolve(),
    };
  }

  removeWorkload(name: string): Promise<void> {
    return removeService(this.docker, name);
  }

  removeNetwork(name: string): Promise<void> {
    return removeNetwork(this.docker, name);
  }

  /**
   * On the manager's engine, unless list() saw it mounted by a service pinned to another node: there, by a job
   * (volumes.ts). A volume that stays (its node is down, say) is an error that names it.
   */
  async removeVolume(name: string): Promise<void> {
    this.selfNode ??= this.docker.info().then((i: { Swarm?: { NodeID?: string } }) => i.Swarm?.NodeID);
    const self = await this.selfNode;
    const homes = [this.volumeHomes.get(name), ...(this.otherHomes.get(name) ?? [])];
    await Promise.all(
      homes.map((home) =>
        !home || home.nodeId === self ? removeVolume(this.docker, name) : this.nodeVolumes.remove(name, home),
      ),
    );
    this.volumeHomes.delete(name);
    this.otherHomes.delete(name);
  }

  snapshotWorkloads(names: string[]): Promise<Snapshot> {
    return snapshotWorkloads(this.docker, this.labels, names);
  }

  restoreWorkloads(names: string[]): Promise<Snapshot | undefined> {
    return restoreWorkloads(this.docker, this.labels, names);
  }

  maintenance(mail: WorkloadInfo, task: Maintenance): Promise<MaintenanceResult> {
    return maintenance(this.docker, mail, task);
  }

  streamLog(mail: WorkloadInfo, stream: LogStream): Promise<void> {
    return streamLog(this.docker, mail, stream);
  }

  logs(name: string, tail: number): Promise<string> {
    return logs(this.docker, name, tail);
  }

  workloadNode(name: string): Promise<string | undefined> {
    return workloadNode(this.docker, name);
  }

  nodes(): Promise<EngineNode[] | undefined> {
    return swarmNodes(this.docker, this.labels).catch((error: unknown) => {
      throw failed('list the swarm nodes', error);
    });
  }

  moveWorkloads(names: string[], to: string): Promise<WorkloadMove> {
    return moveWorkloads(this.docker, this.labels, names, to);
  }

  /** From the engine's stats: only for a workload on this node. */
  async memoryUsage(name: string): Promise<number> {
    return this.local.memoryUsage(await containerHere(this.docker, name));
  }

  imageExists(ref: string): Promise<boolean> {
    return this.local.imageExists(ref);
  }

  ensureBaseImage(onStep: (line: string) => void, signal?: AbortSignal) {
    return this.local.ensureBaseImage(onStep, signal);
  }

  /** Built on the manager; with a registry, pushed there at once, so that the nodes find it. */
  async buildImage(
    tag: string,
    files: ImageFile[],
    onStep: (line: string) => void,
    buildArgs?: Record<string, string>,
    signal?: AbortSignal,
  ): Promise<void> {
    await this.local.buildImage(tag, files, onStep, buildArgs, signal);
    if (this.pinned && !tag.startsWith(`${BASE_REPO}:`)) {
      this.pinned.pushed(tag, await this.local.pushImage(tag, this.pinned.registry, onStep, signal));
    }
  }

  pushImage(ref: string, registry: string, onStep: (line: string) => void, signal?: AbortSignal): Promise<string> {
    return this.local.pushImage(ref, registry, onStep, signal);
  }

  /** Locks are containers on the manager's engine: every labctl of the class talks to the same manager. */
  acquireLock(name: string, labels: Record<string, string>): Promise<string | undefined> {
    return this.local.acquireLock(name, labels);
  }

  lockHolder(name: string): Promise<LockHolder | undefined> {
    return this.local.lockHolder(name);
  }

  releaseLock(id: string): Promise<void> {
    return this.local.releaseLock(id);
  }

  /** This node's images; run `labctl images load` against each node (DOCKER_HOST) to put them there. */
  saveImages(refs: string[]): Promise<NodeJS.ReadableStream> {
    return this.local.saveImages(refs);
  }

  loadImages(archive: NodeJS.ReadableStream): Promise<string[]> {
    return this.local.loadImages(archive);
  }
}
