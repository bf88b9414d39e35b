import net from 'node:net';
import { PassThrough } from 'node:stream';
import type Docker from 'dockerode';
import { ExitCode, LabctlError } from '../errors.js';
import { LABEL } from '../core/labels.js';
import { dockerClient } from './client.js';
import type {
  AddressPool,
  ClassObjects,
  ContainerInfo,
  ContainerSpec,
  DiskSupport,
  Engine,
  ExecResult,
  ImageFile,
  LabelledObject,
  LockHolder,
  LogStream,
  Maintenance,
  MaintenanceResult,
  Replacement,
} from './engine.js';
import { failed, type DockerError } from './errors.js';
import { LocalEngine, demux, publishedAddress } from './local-engine.js';
import { resetCommand } from './reset-command.js';
import {
  ENGINE_LABEL,
  chooseNode,
  parseConstraint,
  pinnedNode,
  pinnedReference,
  serviceSpec,
  type NodeView,
  type ServiceSpec,
} from './swarm-spec.js';

interface SwarmService {
  ID: string;
  Version: { Index: number };
  Spec: ServiceSpec;
  PreviousSpec?: ServiceSpec;
  Endpoint?: { Ports?: { TargetPort: number; PublishedPort: number }[] };
}

interface SwarmTask {
  ID: string;
  ServiceID: string;
  NodeID?: string;
  DesiredState: string;
  Status: {
    State: string;
    Message?: string;
    Err?: string;
    Timestamp?: string;
    ContainerStatus?: { ContainerID?: string; ExitCode?: number };
  };
}

interface SwarmNode {
  ID: string;
  Spec: { Labels?: Record<string, string>; Role: string; Availability: string };
  Description: { Hostname: string; Platform?: { OS?: string; Architecture?: string } };
  Status: { State: string; Addr?: string };
}

const LOG = '/var/log/mail.log';
/** Marks a job service with the mail service it works for. */
const JOB_LABEL = 'dev.labctl.job';
const BACKUP_MARK = '--- labctl backup (tar, base64) ---';
/**
 * What a job does before its command, as the mail server's entrypoint does at its start: unpack the student's
 * configuration and give the accounts their uids (the files already carry them), so that labctl-reset sees the
 * same accounts as the running server.
 */
const JOB_PREAMBLE = `set -e
if [ -n "\${LABCTL_SERVER_CONFIG:-}" ]; then printf '%s' "$LABCTL_SERVER_CONFIG" | base64 -d | tar -xzf - -C / --no-same-owner; fi
unset LABCTL_SERVER_CONFIG
if [ -s /etc/labctl/uids ]; then
  changes=$(awk -F: 'NR == FNR { split($0, a, " "); want[a[1]] = a[2]; next }
    ($1 in want) && $3 != want[$1] { print $1, $3, want[$1] }' /etc/labctl/uids /etc/passwd)
  [ -z "$changes" ] || sed -i "$(printf '%s\\n' "$changes" | awk '{ printf "s/^%s:x:%s:/%s:x:%s:/\\n", $1, $2, $1, $3 }')" /etc/passwd
fi
set +e
exec "$@"`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const isLoopback = (ip: string) => ip.startsWith('127.') || ip === '::1' || ip === 'localhost';

export interface SwarmSurvey {
  /** This engine's swarm state: inactive, active, pending, error. */
  state: string;
  manager: boolean;
  nodes: { hostname: string; address: string; ready: boolean }[];
  /** docker_gwbridge's subnet on this node, when there is one. */
  gwbridge?: string;
  gwbridgeStudents?: number;
}

export interface SwarmOptions {
  /** Placement constraints for new students, e.g. node.labels.room==b12. */
  constraints?: string[];
  /** A registry the nodes pull the images from (pushed there by `labctl build --push`); else each node's own. */
  registry?: string;
}

/**
 * The class on Docker Swarm mode: a student's workload is a service of one replica pinned to one node (their volumes
 * stay there), on the student's own overlay network, its ports published in host mode on that node. Maintenance and
 * the mail log run as one-off tasks on the student's node, read back through the manager (see maintenance). Images
 * and locks go to this (the manager's) engine.
 */
export class SwarmEngine implements Engine {
  readonly where: string;
  readonly parallelism = 16;
  private readonly local: LocalEngine;
  private readonly constraints: string[];
  private readonly registry: string | undefined;
  private readonly volumeLabels = new Map<string, Record<string, string>>();
  /** Student (class/n) -> the node chosen for them in this run, so their two services land together. */
  private readonly placements = new Map<string, Promise<string>>();
  private readonly chosen = new Map<string, string>();
  private placementQueue: Promise<unknown> = Promise.resolve();
  /** Local image -> its reference in the registry, by digest (see pinned). */
  private readonly pinnedImages = new Map<string, Promise<string>>();

  constructor(
    private readonly docker: Docker = dockerClient(),
    options: SwarmOptions = {},
  ) {
    this.where = `Swarm at ${process.env.DOCKER_HOST ?? 'unix:///var/run/docker.sock'}`;
    this.local = new LocalEngine(docker);
    this.constraints = options.constraints ?? [];
    this.registry = options.registry?.replace(/\/+$/, '');
    for (const c of this.constraints) parseConstraint(c);
  }

  /** Whether this engine is a Swarm manager (and so can run a class on Swarm). */
  static async isManager(docker: Docker = dockerClient()): Promise<boolean> {
    const info = (await docker.info()) as { Swarm?: { LocalNodeState?: string; ControlAvailable?: boolean } };
    return info.Swarm?.LocalNodeState === 'active' && info.Swarm.ControlAvailable === true;
  }

  /**
   * What `doctor` says of Swarm on this engine: whether it is in a swarm and a manager, its nodes, and how many
   * students this node's docker_gwbridge has room for (each task with published ports takes an address there).
   */
  static async survey(docker: Docker = dockerClient()): Promise<SwarmSurvey> {
    const info = (await docker.info()) as { Swarm?: { LocalNodeState?: string; ControlAvailable?: boolean } };
    const state = info.Swarm?.LocalNodeState ?? 'inactive';
    const manager = state === 'active' && info.Swarm?.ControlAvailable === true;
    const nodes = manager
      ? ((await docker.listNodes()) as SwarmNode[]).map((n) => ({
          hostname: n.Description.Hostname,
          address: SwarmEngine.nodeAddress(n) ?? '',
          ready: n.Status.State === 'ready' && n.Spec.Availability === 'active',
        }))
      : [];
    const bridge = await docker
      .getNetwork('docker_gwbridge')
      .inspect()
      .catch(() => undefined);
    const subnet = (bridge as { IPAM?: { Config?: { Subnet?: string }[] } } | undefined)?.IPAM?.Config?.[0]?.Subnet;
    const prefix = subnet ? Number(subnet.split('/')[1]) : undefined;
    // Addresses of the subnet but its network, broadcast and gateway; two workloads per student.
    const gwbridgeStudents = prefix ? Math.floor((2 ** (32 - prefix) - 3) / 2) : undefined;
    return { state, manager, nodes, gwbridge: subnet, gwbridgeStudents };
  }

  /** Whether class `className` (any class, without one) runs as services here. */
  static async holdsClass(className?: string, docker: Docker = dockerClient()): Promise<boolean> {
    if (!(await SwarmEngine.isManager(docker).catch(() => false))) return false;
    const label = [className ? `${LABEL.class}=${className}` : LABEL.class];
    const services = await docker.listServices({ filters: { label } });
    return services.length > 0;
  }

  async ping(): Promise<void> {
    await this.local.ping();
    if (!(await SwarmEngine.isManager(this.docker))) {
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

  private async services(className?: string): Promise<SwarmService[]> {
    const label = [className ? `${LABEL.class}=${className}` : LABEL.class];
    return (await this.docker.listServices({ filters: { label } })) as unknown as SwarmService[];
  }

  private async nodes(): Promise<SwarmNode[]> {
    return (await this.docker.listNodes()) as SwarmNode[];
  }

  /** The address a node is reached at: its Swarm address. */
  private static nodeAddress(node: SwarmNode | undefined): string | undefined {
    return node?.Status.Addr && node.Status.Addr !== '0.0.0.0' ? node.Status.Addr : node?.Description.Hostname;
  }

  async list(className?: string): Promise<ClassObjects> {
    try {
      const [services, tasks, nodes, networks, volumes] = await Promise.all([
        this.services(className),
        this.docker.listTasks({ filters: { 'desired-state': ['running'] } }) as Promise<SwarmTask[]>,
        this.nodes(),
        this.docker.listNetworks({ filters: { label: [className ? `${LABEL.class}=${className}` : LABEL.class] } }),
        this.docker.listVolumes({ filters: { label: [className ? `${LABEL.class}=${className}` : LABEL.class] } }),
      ]);
      const nodeById = new Map(nodes.map((n) => [n.ID, n]));
      const containers = services.map((s): ContainerInfo => {
        const task = newest(tasks.filter((t) => t.ServiceID === s.ID));
        const replicas = s.Spec.Mode.Replicated?.Replicas ?? 0;
        const node = nodeById.get(task?.NodeID ?? pinnedNode(s.Spec.TaskTemplate.Placement?.Constraints) ?? '');
        const state =
          replicas === 0 ? 'exited' : task?.Status.State === 'running' ? 'running' : task ? 'restarting' : 'created';
        return {
          id: s.ID,
          name: s.Spec.Name,
          labels: s.Spec.Labels ?? {},
          // The plan's name of the image, whichever registry it is pulled from.
          image: s.Spec.TaskTemplate.ContainerSpec.Image.replace(/@sha256:.*$/, '').replace(/^[^/]+[.:][^/]*\//, ''),
          state,
          status: task
            ? `${task.Status.State}${task.Status.Err ? ` (${task.Status.Err})` : ''} on ${node?.Description.Hostname ?? task.NodeID ?? '?'}`
            : `${replicas} replica(s)`,
          node: SwarmEngine.nodeAddress(node),
          ports: (s.Spec.EndpointSpec?.Ports ?? []).map((p) => ({
            container: p.TargetPort,
            host: p.PublishedPort,
            ip: '',
          })),
        };
      });
      // Volumes live on the nodes: this node's, plus those the services mount (on whichever node runs them).
      const seen = new Map<string, LabelledObject>();
      for (const v of volumes.Volumes ?? []) seen.set(v.Name, { name: v.Name, labels: v.Labels ?? {} });
      for (const s of services) {
        for (const m of s.Spec.TaskTemplate.ContainerSpec.Mounts ?? []) {
          if (m.Type === 'volume' && !seen.has(m.Source))
            seen.set(m.Source, { name: m.Source, labels: m.VolumeOptions.Labels });
        }
      }
      return {
        containers,
        networks: networks.map((n) => ({ name: n.Name, labels: n.Labels ?? {} })),
        volumes: [...seen.values()],
        disks: [],
      };
    } catch (error) {
      throw failed('list labctl services', error);
    }
  }

  async names() {
    try {
      const [local, services] = await Promise.all([
        this.local.names(),
        this.docker.listServices() as unknown as Promise<SwarmService[]>,
      ]);
      for (const s of services) local.containers.add(s.Spec.Name);
      return local;
    } catch (error) {
      throw failed('list services and networks', error);
    }
  }

  async publishedPorts(): Promise<Map<number, string>> {
    const used = await this.local.publishedPorts();
    try {
      const services = (await this.docker.listServices()) as unknown as SwarmService[];
      for (const s of services)
        for (const p of s.Spec.EndpointSpec?.Ports ?? []) used.set(p.PublishedPort, s.Spec.Name);
      return used;
    } catch (error) {
      throw failed('list published ports', error);
    }
  }

  /** Binds the port on this node (every node publishes the class's ports in host mode; this one is a node too). */
  portAvailable(_bind: string, port: number): Promise<boolean> {
    return new Promise((resolve) => {
      const server = net.createServer();
      server.once('error', () => resolve(false));
      server.listen({ host: '0.0.0.0', port, exclusive: true }, () => server.close(() => resolve(true)));
    });
  }

  async createNetwork(name: string, labels: Record<string, string>): Promise<void> {
    try {
      await this.docker.createNetwork({
        Name: name,
        Driver: 'overlay',
        Attachable: true,
        Labels: { ...labels, [ENGINE_LABEL]: 'swarm' },
        CheckDuplicate: true,
      });
    } catch (error) {
      const message = (error as DockerError).json?.message ?? '';
      if (/address pool|non-overlapping|no available/i.test(message)) {
        throw new LabctlError(
          ExitCode.engine,
          `The swarm has no free subnet left for network ${name}.`,
          'Create the swarm with a larger pool: `docker swarm init --default-addr-pool 10.0.0.0/8 --default-addr-pool-mask-length 26`.',
          'no-subnet',
        );
      }
      throw failed(`create network ${name}`, error);
    }
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

  /** A volume is created by the node that first runs a task mounting it; here only its labels are kept for that. */
  createVolume(name: string, labels: Record<string, string>): Promise<void> {
    this.volumeLabels.set(name, labels);
    return Promise.resolve();
  }

  /**
   * The node of student `labels` (class, n): where their services are pinned, else a new choice spread over the
   * nodes. Choices are made one at a time, each counting those made before it, so a student's two services (created
   * together) land together and students spread evenly.
   */
  private placement(labels: Record<string, string>): Promise<string> {
    const key = `${labels[LABEL.class]}/${labels[LABEL.student]}`;
    let chosen = this.placements.get(key);
    if (!chosen) {
      chosen = this.placementQueue.then(() => this.choose(key, labels));
      this.placementQueue = chosen.catch(() => undefined);
      this.placements.set(key, chosen);
    }
    return chosen;
  }

  private async choose(key: string, labels: Record<string, string>): Promise<string> {
    const [services, nodes] = await Promise.all([this.services(), this.nodes()]);
    const mine = services.find(
      (s) =>
        s.Spec.Labels[LABEL.class] === labels[LABEL.class] && s.Spec.Labels[LABEL.student] === labels[LABEL.student],
    );
    const pinned = pinnedNode(mine?.Spec.TaskTemplate.Placement.Constraints);
    if (pinned) {
      this.chosen.set(key, pinned);
      return pinned;
    }
    const load = new Map<string, number>();
    const counted = new Set<string>();
    for (const s of services) {
      const id = pinnedNode(s.Spec.TaskTemplate.Placement?.Constraints);
      const student = `${s.Spec.Labels[LABEL.class]}/${s.Spec.Labels[LABEL.student]}`;
      if (!id || counted.has(student)) continue;
      counted.add(student);
      load.set(id, (load.get(id) ?? 0) + 1);
    }
    // Chosen in this run but not yet created.
    for (const [other, id] of this.chosen) if (!counted.has(other)) load.set(id, (load.get(id) ?? 0) + 1);
    const views: NodeView[] = nodes.map((n) => ({
      id: n.ID,
      hostname: n.Description.Hostname,
      role: n.Spec.Role,
      labels: n.Spec.Labels ?? {},
      os: n.Description.Platform?.OS,
      arch: n.Description.Platform?.Architecture,
      available: n.Status.State === 'ready' && n.Spec.Availability === 'active',
    }));
    const id = chooseNode(views, this.constraints.map(parseConstraint), load).id;
    this.chosen.set(key, id);
    return id;
  }

  /**
   * A local image as the nodes pull it from the registry: by the digest `build --push` (or this run's build) got back
   * for it, which this engine recorded; an image it never pushed there is pushed now. Never by tag alone: the
   * registry may let anyone on the network push, and a tag is whatever was pushed last.
   */
  private pinned(image: string, registry: string): Promise<string> {
    let ref = this.pinnedImages.get(image);
    if (!ref) {
      ref = (async () => {
        const recorded = await this.docker
          .getImage(image)
          .inspect()
          .then(
            (i) => i.RepoDigests ?? [],
            () => [],
          );
        return pinnedReference(image, registry, recorded) ?? (await this.local.pushImage(image, registry, () => {}));
      })();
      ref.catch(() => this.pinnedImages.delete(image));
      this.pinnedImages.set(image, ref);
    }
    return ref;
  }

  private async specFor(spec: ContainerSpec, replicas: number): Promise<ServiceSpec> {
    const nodeId = await this.placement(spec.labels);
    if (this.registry) spec = { ...spec, image: await this.pinned(spec.image, this.registry) };
    return serviceSpec(spec, {
      nodeId,
      constraints: this.constraints,
      replicas,
      volumeLabels: (name) =>
        this.volumeLabels.get(name) ?? {
          [LABEL.class]: spec.labels[LABEL.class] ?? '',
          [LABEL.student]: spec.labels[LABEL.student] ?? '',
          [LABEL.role]: 'volume',
        },
    });
  }

  /** Created with no replica: start gives it one, like a created container that is started. */
  async createContainer(spec: ContainerSpec): Promise<void> {
    const body = await this.specFor(spec, 0);
    try {
      await this.docker.createService(body as unknown as Docker.CreateServiceOptions);
    } catch (error) {
      throw failed(`create service ${spec.name}`, error);
    }
  }

  private async inspect(name: string): Promise<SwarmService | undefined> {
    try {
      return (await this.docker.getService(name).inspect()) as SwarmService;
    } catch (error) {
      if ((error as DockerError).statusCode === 404) return undefined;
      throw failed(`inspect service ${name}`, error);
    }
  }

  private async update(name: string, change: (spec: ServiceSpec) => ServiceSpec): Promise<void> {
    // The version check refuses an update made on a stale read: read again and retry.
    for (let attempt = 0; ; attempt++) {
      const current = await this.inspect(name);
      if (!current) throw new LabctlError(ExitCode.engine, `Service ${name} is not on the swarm any more.`);
      try {
        await this.docker
          .getService(name)
          .update({ ...change(structuredClone(current.Spec)), version: current.Version.Index });
        return;
      } catch (error) {
        if (attempt < 3 && /out of sequence|update out of/i.test((error as DockerError).json?.message ?? '')) continue;
        throw failed(`update service ${name}`, error);
      }
    }
  }

  private tasks(name: string): Promise<SwarmTask[]> {
    return this.docker.listTasks({ filters: { service: [name] } }) as Promise<SwarmTask[]>;
  }

  async startContainer(name: string): Promise<void> {
    await this.update(name, (spec) => ({ ...spec, Mode: { Replicated: { Replicas: 1 } } }));
  }

  /** Scales to none and waits until its task has stopped (its host ports are free then). */
  async stopContainer(name: string, timeoutSeconds: number): Promise<void> {
    const current = await this.inspect(name);
    if (!current) return;
    if ((current.Spec.Mode.Replicated?.Replicas ?? 0) > 0) {
      await this.update(name, (spec) => ({ ...spec, Mode: { Replicated: { Replicas: 0 } } }));
    }
    await this.settled(
      name,
      (t) =>
        !['running', 'starting', 'preparing', 'ready', 'assigned', 'accepted', 'pending', 'new'].includes(
          t.Status.State,
        ),
      timeoutSeconds + 20,
    );
  }

  /** Waits until every task of the service meets `done` (or the service has none). */
  private async settled(name: string, done: (t: SwarmTask) => boolean, seconds: number): Promise<void> {
    const deadline = Date.now() + seconds * 1000;
    for (;;) {
      const tasks = await this.tasks(name).catch((error: DockerError) => {
        if (error.statusCode === 404) return [];
        throw failed(`list the tasks of ${name}`, error);
      });
      if (tasks.every(done)) return;
      if (Date.now() > deadline) {
        throw new LabctlError(ExitCode.engine, `Service ${name}'s task did not stop in ${seconds} s.`);
      }
      await sleep(250);
    }
  }

  /** A service update to the new spec (its old task stops first); undo updates it back to the previous spec. */
  async replaceContainer(spec: ContainerSpec): Promise<Replacement> {
    const previous = await this.inspect(spec.name);
    if (!previous) {
      await this.createContainer(spec);
      await this.startContainer(spec.name);
      return { undo: () => this.removeContainer(spec.name), commit: () => Promise.resolve() };
    }
    const next = await this.specFor(spec, 1);
    await this.update(spec.name, () => next);
    return {
      undo: () => this.update(spec.name, () => ({ ...previous.Spec, Mode: { Replicated: { Replicas: 1 } } })),
      commit: () => Promise.resolve(),
    };
  }

  /** Removes the service, then waits until its tasks (and their containers on this node) are gone. */
  async removeContainer(name: string): Promise<void> {
    // Its jobs first (a `logs --follow` still running, or one left by an interrupted labctl).
    const jobs = await this.docker.listServices({ filters: { label: [`${JOB_LABEL}=${name}`] } }).catch(() => []);
    await Promise.all(jobs.map((j) => this.removeJob(j.Spec?.Name ?? j.ID!)));
    try {
      await this.docker.getService(name).remove();
    } catch (error) {
      if ((error as DockerError).statusCode !== 404) throw failed(`remove service ${name}`, error);
    }
    const deadline = Date.now() + 60_000;
    for (;;) {
      const [tasks, containers] = await Promise.all([
        this.tasks(name).catch(() => []),
        this.docker.listContainers({ all: true, filters: { label: [`com.docker.swarm.service.name=${name}`] } }),
      ]);
      if (tasks.length === 0 && containers.length === 0) return;
      if (Date.now() > deadline) return;
      await sleep(250);
    }
  }

  async removeNetwork(name: string): Promise<void> {
    // An overlay network is let go a moment after its last task: try again a few times.
    for (let attempt = 0; ; attempt++) {
      try {
        await this.docker.getNetwork(name).remove();
        return;
      } catch (error) {
        const e = error as DockerError;
        if (e.statusCode === 404) return;
        if (attempt < 20 && /active endpoints|in use/i.test(e.json?.message ?? '')) {
          await sleep(500);
          continue;
        }
        throw failed(`remove network ${name}`, error);
      }
    }
  }

  /** Removes the volume where this engine sees it (this node); a volume on another node stays there. */
  async removeVolume(name: string): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.docker.getVolume(name).remove();
        return;
      } catch (error) {
        const e = error as DockerError;
        if (e.statusCode === 404) return;
        if (attempt < 20 && e.statusCode === 409) {
          await sleep(500);
          continue;
        }
        throw failed(`remove volume ${name}`, error);
      }
    }
  }

  address(bind: string, node?: string): string {
    if (node && !isLoopback(node)) return node;
    return publishedAddress(bind);
  }

  /** Where service `name`'s running task is: its container, and whether it is on this node. */
  private async runningTask(name: string): Promise<{ container: string; node: string; here: boolean }> {
    const [tasks, info] = await Promise.all([
      this.docker.listTasks({ filters: { service: [name], 'desired-state': ['running'] } }) as Promise<SwarmTask[]>,
      this.docker.info() as Promise<{ Swarm?: { NodeID?: string } }>,
    ]);
    const task = newest(tasks.filter((t) => t.Status.State === 'running'));
    const container = task?.Status.ContainerStatus?.ContainerID;
    if (!task || !container) {
      throw new LabctlError(ExitCode.engine, `Service ${name} has no running task.`, 'Start it with `labctl up`.');
    }
    const nodeId = task.NodeID ?? '';
    if (nodeId === info.Swarm?.NodeID) return { container, node: nodeId, here: true };
    const node = (await this.nodes()).find((n) => n.ID === nodeId);
    const where = `${node?.Description.Hostname ?? nodeId} (${SwarmEngine.nodeAddress(node) ?? '?'})`;
    throw new LabctlError(
      ExitCode.engine,
      `${name} runs on node ${where}; its engine stats are read only on the node it runs on.`,
      `Read them with DOCKER_HOST pointing at ${node?.Description.Hostname ?? 'that node'}'s engine.`,
      'other-node',
    );
  }

  /**
   * A maintenance action runs as a one-off Swarm job on the student's node: the mail image, the student's
   * configuration and volumes, as root, its output read back through the manager (service logs). So nothing needs
   * the worker's Docker API nor an exec into a container on another node.
   */
  async maintenance(mail: ContainerInfo, task: Maintenance): Promise<MaintenanceResult> {
    if (task.action === 'accounts') {
      return this.job(mail.name, ['sh', '-c', 'for d in /home/*/Maildir; do basename "$(dirname "$d")"; done']);
    }
    const reset = resetCommand(task);
    if (!task.backup) return this.job(mail.name, reset);
    // The reset's output, then after a marker line its backup (even from a reset that failed halfway) as a tar, with
    // DIR/backup at its root as the local engine's, in base64. The job's container goes when the job is removed.
    const script = [
      'out=$("$@")',
      'status=$?',
      'printf "%s\\n" "$out"',
      'dir=$(printf "%s\\n" "$out" | sed -n "1s/^backup //p")',
      `[ -z "$dir" ] || { echo '${BACKUP_MARK}'; tar -C "$dir" -cf - backup | base64 -w 76; }`,
      'exit $status',
    ].join('; ');
    const run: MaintenanceResult = await this.job(mail.name, ['bash', '-c', script, 'labctl-reset', ...reset]);
    const at = run.stdout.indexOf(`${BACKUP_MARK}\n`);
    if (at >= 0) {
      run.backup = Buffer.from(run.stdout.slice(at + BACKUP_MARK.length + 1).replace(/\s+/g, ''), 'base64');
      run.stdout = run.stdout.slice(0, at);
    }
    return run;
  }

  /** The student's mail log, read by a job on their node (tail -F while following), through the manager. */
  async streamLog(mail: ContainerInfo, { follow, onChunk, signal }: LogStream): Promise<void> {
    if (!follow) {
      const run = await this.job(mail.name, ['cat', LOG], { logOnly: true });
      if (run.exitCode !== 0) throw new LabctlError(ExitCode.engine, `Cannot read ${LOG}: ${run.stderr.trim()}`);
      onChunk(run.stdout);
      return;
    }
    const name = await this.startJob(mail.name, ['tail', '-n', '+1', '-F', LOG], { logOnly: true });
    try {
      const stream = await this.docker
        .getService(name)
        .logs({ stdout: true, stderr: false, follow: true, tail: 'all' as unknown as number });
      const out = new PassThrough();
      out.setEncoding('utf8');
      out.on('data', onChunk);
      this.docker.modem.demuxStream(stream, out, new PassThrough());
      await new Promise<void>((resolve, reject) => {
        const abort = () => {
          (stream as unknown as { destroy(): void }).destroy();
          resolve();
        };
        if (signal?.aborted) return abort();
        signal?.addEventListener('abort', abort, { once: true });
        stream.on('end', resolve);
        stream.on('close', resolve);
        stream.on('error', (error) => (signal?.aborted ? resolve() : reject(error)));
      });
    } catch (error) {
      throw failed(`follow the log of ${mail.name}`, error);
    } finally {
      await this.removeJob(name);
    }
  }

  /** Starts a job running `cmd` in student `mailName`'s environment on their node; resolves to the job's name. */
  private async startJob(mailName: string, cmd: string[], options: { logOnly?: boolean } = {}): Promise<string> {
    const mail = await this.inspect(mailName);
    if (!mail) throw new LabctlError(ExitCode.engine, `Service ${mailName} is not on the swarm.`);
    const spec = mail.Spec.TaskTemplate.ContainerSpec;
    // Only what the action needs: the log read-only for logs; the spool and homes for a reset.
    const wanted = options.logOnly ? ['/var/log'] : ['/var/mail', '/home'];
    const mounts = spec.Mounts.filter((m) => m.Type === 'volume' && wanted.includes(m.Target)).map((m) =>
      options.logOnly ? { ...m, ReadOnly: true } : m,
    );
    const name = `${mailName}-job-${Date.now().toString(36)}${Math.floor(Math.random() * 1e4)}`;
    try {
      await this.docker.createService({
        Name: name,
        // Not the class's label: a job is no workload of the class. Its mail service's removal removes it.
        Labels: { [JOB_LABEL]: mailName },
        TaskTemplate: {
          ContainerSpec: {
            Image: spec.Image,
            Env: spec.Env,
            Mounts: mounts,
            Command: ['bash', '-c', JOB_PREAMBLE, 'labctl-job', ...cmd],
            // Its command is PID 1, which ignores SIGTERM (tail -F): no need to wait the default 10 s to stop it.
            StopGracePeriod: 1e9,
          },
          RestartPolicy: { Condition: 'none' },
          Placement: { Constraints: mail.Spec.TaskTemplate.Placement.Constraints },
          LogDriver: { Name: 'json-file', Options: {} },
        },
        // One task, never restarted. Not a replicated-job: Docker 20.10 leaves a removed job's containers behind
        // (even running ones), whereas removing a replicated service stops and removes its task.
        Mode: { Replicated: { Replicas: 1 } },
      } as unknown as Docker.CreateServiceOptions);
    } catch (error) {
      throw failed(`start a job for ${mailName}`, error);
    }
    return name;
  }

  /** Removes a job and waits until its task has let go of the student's volumes. */
  private async removeJob(name: string): Promise<void> {
    await this.removeContainer(name).catch(() => {});
  }

  /** Runs `cmd` as a job in student `mailName`'s environment and waits for it; its output comes from the manager. */
  private async job(mailName: string, cmd: string[], options: { logOnly?: boolean } = {}): Promise<ExecResult> {
    const name = await this.startJob(mailName, cmd, options);
    try {
      const deadline = Date.now() + 120_000;
      let task: SwarmTask | undefined;
      for (;;) {
        task = newest(await this.tasks(name));
        if (task && ['complete', 'failed', 'rejected', 'shutdown', 'orphaned'].includes(task.Status.State)) break;
        if (Date.now() > deadline) throw new LabctlError(ExitCode.engine, `Job ${name} did not finish in 120 s.`);
        await sleep(200);
      }
      if (task.Status.State === 'rejected' || !task.Status.ContainerStatus?.ContainerID) {
        throw new LabctlError(
          ExitCode.engine,
          `Job ${name} for ${mailName} could not run: ${task.Status.Err ?? task.Status.State}.`,
        );
      }
      const exitCode = task.Status.ContainerStatus.ExitCode ?? (task.Status.State === 'complete' ? 0 : -1);
      const buffer = await this.serviceLogs(name);
      return { exitCode, ...demux(buffer) };
    } finally {
      await this.removeJob(name);
    }
  }

  private async serviceLogs(name: string, tail?: number): Promise<Buffer> {
    const out = (await this.docker
      .getService(name)
      .logs({ stdout: true, stderr: true, follow: false, ...(tail !== undefined && { tail }) })) as unknown as
      Buffer | NodeJS.ReadableStream;
    if (Buffer.isBuffer(out)) return out;
    const chunks: Buffer[] = [];
    for await (const chunk of out) chunks.push(Buffer.from(chunk as Buffer));
    return Buffer.concat(chunks);
  }

  /** The service's output, gathered by the manager from whichever node runs it. */
  async logs(name: string, tail: number): Promise<string> {
    try {
      const { stdout, stderr } = demux(await this.serviceLogs(name, tail));
      return stdout + stderr;
    } catch (error) {
      throw failed(`read the logs of ${name}`, error);
    }
  }

  /** The node the service is pinned to (its volumes are there), whether or not its task runs yet. */
  async workloadNode(name: string): Promise<string | undefined> {
    const service = await this.inspect(name);
    const id = pinnedNode(service?.Spec.TaskTemplate.Placement.Constraints);
    if (!id) return undefined;
    return SwarmEngine.nodeAddress((await this.nodes()).find((n) => n.ID === id));
  }

  /** From the engine's stats: only for a workload on this node (see runningTask). */
  async memoryUsage(name: string): Promise<number> {
    const { container } = await this.runningTask(name);
    return this.local.memoryUsage(container);
  }

  imageExists(ref: string): Promise<boolean> {
    return this.local.imageExists(ref);
  }

  ensureBaseImage(onStep: (line: string) => void) {
    return this.local.ensureBaseImage(onStep);
  }

  /** Built on the manager; with a registry, pushed there at once, so that the nodes find it. */
  async buildImage(
    tag: string,
    files: ImageFile[],
    onStep: (line: string) => void,
    buildArgs?: Record<string, string>,
  ): Promise<void> {
    await this.local.buildImage(tag, files, onStep, buildArgs);
    if (this.registry && !tag.startsWith('labctl/base:')) {
      this.pinnedImages.set(tag, Promise.resolve(await this.local.pushImage(tag, this.registry, onStep)));
    }
  }

  pushImage(ref: string, registry: string, onStep: (line: string) => void): Promise<string> {
    return this.local.pushImage(ref, registry, onStep);
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

/** The most recent of a service's tasks. */
function newest(tasks: SwarmTask[]): SwarmTask | undefined {
  return tasks.reduce<SwarmTask | undefined>(
    (best, t) => (!best || (t.Status.Timestamp ?? '') > (best.Status.Timestamp ?? '') ? t : best),
    undefined,
  );
}
