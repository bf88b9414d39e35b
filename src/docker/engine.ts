/**
 * The engine seam: what the core asks of an engine, cut at a class's objects and the roles in them (a student's network,
 * volumes and mail/sidecar workloads; where their ports answer; a maintenance action in a student's environment; a
 * student's log; images), not at `docker exec` command lines. Only src/docker/ talks to Docker; the local engine
 * implements it with containers, a Swarm engine with services.
 */

/** The image the mail and sidecar images are built on: the engine makes it (Engine.ensureBaseImage). */
export const BASE_IMAGE = 'labctl/base:bookworm';

/**
 * The label keys an engine reads, given to it by the core (core/labels.ts names them): it finds a class's objects by
 * `class`, keeps a student's workloads together by `class` and `student`, tells their roles by `role`, and marks the
 * images it builds with `image`. Beyond these, an engine reads only the labels it writes itself (Swarm's marks).
 */
export interface LabelKeys {
  class: string;
  student: string;
  role: string;
  image: string;
  /** On a snapshot's volume: the snapshot's time (ISO), and the student's volume it is a copy of. */
  snapshot: string;
  snapshotOf: string;
}

export interface WorkloadSpec {
  name: string;
  image: string;
  hostname: string;
  labels: Record<string, string>;
  network: string;
  bind: string;
  ports: { container: number; host: number }[];
  /**
   * Named volumes. `labels`, when given, are the volume's: the engine creates a missing volume with them as it
   * creates the workload (one call, as `docker run` does, rather than one per volume). `disk`: the student's disk the
   * volume lives on, where the engine bounds disks (see Engine.diskSupport).
   */
  mounts: { volume: string; target: string; readOnly?: boolean; labels?: Record<string, string>; disk?: string }[];
  env?: string[];
  limits?: WorkloadLimits;
  security?: WorkloadSecurity;
}

export interface WorkloadLimits {
  pids: number;
  memoryBytes: number;
  cpus: number;
  /** Docker's json-file log: size of a file (e.g. 1m) and how many are kept. */
  log: { maxSize: string; maxFiles: number };
}

export interface WorkloadSecurity {
  /** uid:gid to run as; the image's default (root) when absent. */
  user?: string;
  capAdd?: string[];
  capDrop?: string[];
  noNewPrivileges?: boolean;
  readOnlyRootfs?: boolean;
  /** Mount point -> tmpfs options. */
  tmpfs?: Record<string, string>;
}

export interface WorkloadInfo {
  id: string;
  name: string;
  labels: Record<string, string>;
  /** The image it was created from. */
  image: string;
  state: string;
  status: string;
  /** The node it runs on, when the engine has several: its address, and its name. */
  node?: string;
  nodeName?: string;
  /** The state of its node when that node is not ready (down, unknown, disconnected, gone): it has no server. */
  nodeLost?: string;
  ports: { container: number; host: number; ip: string }[];
}

export interface LabelledObject {
  name: string;
  labels: Record<string, string>;
}

/** A student's disk: a fixed-size filesystem holding the volumes they can fill, so that what they write is bounded. */
export interface DiskSpec {
  name: string;
  bytes: number;
  labels: Record<string, string>;
}

export interface DiskInfo extends LabelledObject {
  /** Its size (the bound), as made. */
  bytes: number;
  mounted: boolean;
  /** How full it is, when mounted (from the filesystem): bytes used, and bytes the student may still write. */
  usedBytes?: number;
  availableBytes?: number;
}

/** freeBytes: what the host has left where the disks are (they are sparse: each takes room as it fills). */
export type DiskSupport = { ok: true; freeBytes?: number } | { ok: false; why: string };

export interface ClassObjects {
  containers: WorkloadInfo[];
  networks: LabelledObject[];
  volumes: LabelledObject[];
  disks: DiskInfo[];
}

/** A maintenance action run in a student's environment (their mail server), as root. */
export type Maintenance =
  /** The accounts that have a mailbox there. */
  | { action: 'accounts' }
  /** Empties the accounts' spool, Maildir and ~/mbox (images/mail/reset.sh), with a backup when asked. */
  | { action: 'reset'; users: string[]; backup: boolean; timeoutSeconds: number }
  /**
   * Copies what the student did, for an archive (labctl archive): each account's spool and home mail as that account
   * reads them, the mail log, the verification log and the archived messages; given back as `backup`.
   */
  | { action: 'collect'; timeoutSeconds: number }
  /**
   * Tells the server when its student's session ends (images/mail/session.sh keeps it where only root writes, and
   * enforces it): epoch seconds, or null for no time box; `text` is the end as students read it ("16:00").
   */
  | { action: 'session'; end: number | null; text: string };

export interface MaintenanceResult extends ExecResult {
  /** For a reset with backup, or a collect: what was copied, as a tar archive (its root folder is `backup/`). */
  backup?: Buffer;
  /** For an archive: the files, as a tar archive. */
  files?: Buffer;
}

export interface LogStream {
  /** Keep reading what is appended, until `signal` aborts. */
  follow: boolean;
  onChunk: (chunk: string) => void;
  signal?: AbortSignal;
}

/** Build-context entries of an image. */
export interface ImageFile {
  path: string;
  content: string | Buffer;
  mode?: number;
}

export interface ExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** A student's snapshot (Engine.snapshotWorkloads): the node it was copied from, its size, and its time (ISO). */
export interface Snapshot {
  node: string;
  bytes: number;
  time: string;
}

/** A node a command could not ask (it is down, say), and why: what is on it was not seen. */
export interface MissedNode {
  node: string;
  why: string;
}

/** One of the engine's default address pools: networks of prefix /size are carved out of base (a CIDR). */
export interface AddressPool {
  base: string;
  size: number;
}

export interface Engine {
  /** Where the engine is (DOCKER_HOST, or the local socket), for messages. */
  readonly where: string;
  /**
   * How many students to change at once on this engine (LABCTL_CONCURRENCY overrides it). One dockerd does the
   * network and firewall work of every container itself, and beyond a few students at once that work only contends
   * (see README, Speed); a swarm spreads it over its nodes.
   */
  readonly parallelism: number;
  /**
   * Whether each student is placed on one of several nodes (Swarm): students connect to their node's address (known
   * once they are placed: ObservedStudent.host), not to `up --host`.
   */
  readonly placesOnNodes: boolean;
  /** Throws a LabctlError (exit 4) saying how to start an engine when none answers. */
  ping(): Promise<void>;
  /** The default address pools the engine reports (/info DefaultAddressPools), or undefined when it reports none. */
  addressPools(): Promise<AddressPool[] | undefined>;

  // Objects of a class
  /** Objects carrying the class label (= className when given). */
  list(className?: string): Promise<ClassObjects>;
  /**
   * Every volume of class `className`, on every node: list() sees this node's and those the class's workloads mount,
   * so after a plain `down` a swarm's workers hold volumes it does not see. `missed`: each node that could not be
   * asked, and why (its volumes stay unseen).
   */
  volumesEverywhere(className: string): Promise<{ volumes: LabelledObject[]; missed: MissedNode[] }>;
  /** Names of all containers, networks and volumes on the engine, labelled or not, to find clashes. */
  names(): Promise<{ containers: Set<string>; networks: Set<string>; volumes: Set<string> }>;
  /** Host ports already published by any container on the engine. */
  publishedPorts(): Promise<Map<number, string>>;
  /** Whether a host port is free where the engine publishes it; true when that cannot be known from here. */
  portAvailable(bind: string, port: number): Promise<boolean>;
  createNetwork(name: string, labels: Record<string, string>): Promise<void>;
  /** A volume; on the student's disk `disk` when the engine bounds disks. */
  createVolume(name: string, labels: Record<string, string>, disk?: string): Promise<void>;
  /** Whether this engine can give each student a disk of a fixed size, and why not when it cannot. */
  diskSupport(): Promise<DiskSupport>;
  /** Makes the disk if missing and mounts it if it is not (idempotent); resolves to what it did. */
  createDisk(disk: DiskSpec): Promise<'created' | 'mounted' | 'present'>;
  /** Deletes a disk and everything on it; a disk already gone is fine. */
  removeDisk(name: string): Promise<void>;
  /** Creates a student's workload (one role: mail or sidecar), with its configuration files in place. */
  createWorkload(spec: WorkloadSpec): Promise<void>;
  startWorkload(name: string): Promise<void>;
  stopWorkload(name: string, timeoutSeconds: number): Promise<void>;
  /**
   * Replaces the workload named spec.name by one of the new spec, started, and keeps the old one's way back until
   * told: `undo` puts the old one back as it was (running), `commit` lets it go. Nothing is lost if neither is called.
   */
  replaceWorkload(spec: WorkloadSpec): Promise<Replacement>;
  removeWorkload(name: string): Promise<void>;
  removeNetwork(name: string): Promise<void>;
  removeVolume(name: string): Promise<void>;

  // Roles
  /**
   * The address where ports published on `bind` are reachable from here: the engine's host when it is elsewhere
   * (DOCKER_HOST), a specific bound address itself, else loopback. `node` is where the workload runs, when the engine
   * spreads them over several.
   */
  address(bind: string, node?: string): string;
  /** Runs a maintenance action in the student's environment of `mail` (their mail workload). */
  maintenance(mail: WorkloadInfo, task: Maintenance): Promise<MaintenanceResult>;
  /** The student's mail log (what the TD has them follow), chunk by chunk; resolves when it ends or is aborted. */
  streamLog(mail: WorkloadInfo, stream: LogStream): Promise<void>;
  /** The last lines a workload wrote to its own output (for start-up failures). */
  logs(name: string, tail: number): Promise<string>;
  /** Memory in use by a workload, in bytes (from the engine's stats). */
  memoryUsage(name: string): Promise<number>;

  // Images
  imageExists(ref: string): Promise<boolean>;
  /**
   * Makes the base image (BASE_IMAGE) if missing: pulled, or bootstrapped from Debian's mirror. The image calls take
   * Ctrl-C's signal: an abort stops the work (the engine cancels a build whose client went), leaves no half-made
   * image, and rejects with the signal's reason.
   */
  ensureBaseImage(onStep: (line: string) => void, signal?: AbortSignal): Promise<'present' | 'pulled' | 'bootstrapped'>;
  buildImage(
    tag: string,
    files: ImageFile[],
    onStep: (line: string) => void,
    buildArgs?: Record<string, string>,
    signal?: AbortSignal,
  ): Promise<void>;

  // Locks
  /**
   * Takes a lock held on the engine, so it holds across shells and hosts: an object named `name`, carrying `labels`.
   * Resolves to the lock's id when this call took it, or undefined when someone holds it already.
   */
  acquireLock(name: string, labels: Record<string, string>): Promise<string | undefined>;
  /** Who holds the lock `name` (its id and labels), or undefined when nobody does. */
  lockHolder(name: string): Promise<LockHolder | undefined>;
  /** Gives a lock back, by the id acquireLock or lockHolder gave; a lock already gone is fine. */
  releaseLock(id: string): Promise<void>;

  // Images carried between engines (Swarm nodes without a registry)
  /** The images, as one archive in `docker save`'s format. */
  saveImages(refs: string[]): Promise<NodeJS.ReadableStream>;
  /** Loads an archive in `docker save`'s format; resolves to the tags it held. */
  loadImages(archive: NodeJS.ReadableStream): Promise<string[]>;
  /** Tags image `ref` as `registry/ref` and pushes it there; resolves to the pushed image by digest (`registry/ref@sha256:…`). */
  pushImage(ref: string, registry: string, onStep: (line: string) => void, signal?: AbortSignal): Promise<string>;

  // Nodes
  /** The address of the node a workload is placed on, when the engine has several (undefined: this host). */
  workloadNode(name: string): Promise<string | undefined>;
  /**
   * Copies one student's volumes (those of workloads `names`) to the manager's node as their snapshot, the workloads
   * stopped meanwhile and started again as they were; the student's older snapshot goes once this one is whole.
   * Only on an engine of several nodes: on one host, the volumes are where a snapshot would be.
   */
  snapshotWorkloads(names: string[]): Promise<Snapshot>;
  /**
   * Fills the volumes of workloads `names` (one student's) from their newest whole snapshot, the workloads stopped
   * meanwhile and started again as they were; undefined when they have none.
   */
  restoreWorkloads(names: string[]): Promise<Snapshot | undefined>;
  /** The engine's nodes, when it has several; undefined for one host. */
  nodes(): Promise<EngineNode[] | undefined>;
  /**
   * Carries one student's workloads `names` to node `to` (an id of nodes()): they are stopped, their volumes copied
   * there, and they are placed there, started if they ran. The old node keeps its copies until `commit`; anything
   * that fails on the way puts the student back as they were. Only an engine of several nodes can.
   */
  moveWorkloads(names: string[], to: string): Promise<WorkloadMove>;
}

/** What `doctor` is told of each node of a swarm (docker/swarm/node-facts.ts gathers it). */
export interface NodeFacts {
  name: string;
  address: string;
  role: string;
  /** ready, down, unknown, disconnected. */
  state: string;
  /** active, pause, drain. */
  availability: string;
  /** Why the facts below are not known: the node is not ready, its job could not run or did not answer in time. */
  unknown?: string;
  /** labctl's images, each with its ID on the node (none: missing) and whether it is the manager's. */
  images?: { ref: string; id?: string; current: boolean }[];
  dockerRoot?: string;
  freeBytes?: number;
  /** docker_gwbridge: its subnet, the addresses taken (its gateway and every endpoint), and how many it has. */
  gwbridge?: { subnet: string; used: number; size: number };
}

/** A node of an engine that has several (a Swarm's). */
export interface EngineNode {
  id: string;
  /** Its hostname, as `docker node ls` shows it. */
  name: string;
  address?: string;
  /** ready, down, unknown, disconnected. */
  state: string;
  /** active, pause, drain. */
  availability: string;
  /** How many labctl students (of any class) are placed on it. */
  students: number;
}

/** Workloads carried to another node with their volumes (Engine.moveWorkloads), until told what to keep. */
export interface WorkloadMove {
  /** The nodes' names. */
  from: string;
  to: string;
  /** The bytes of volume data carried. */
  bytes: number;
  /** Whether the workloads ran before (and so were started on the new node). */
  wasRunning: boolean;
  /** Puts the workloads back on their old node as they were (running if they ran), and removes the new copies. */
  undo(): Promise<void>;
  /** Removes the volumes left on the old node; throws a LabctlError naming any that stays. */
  commit(): Promise<void>;
}

export interface Replacement {
  undo(): Promise<void>;
  commit(): Promise<void>;
}

export interface LockHolder {
  id: string;
  labels: Record<string, string>;
}
