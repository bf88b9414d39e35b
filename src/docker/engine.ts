/** The narrow interface the commands use. Only src/docker/ talks to Docker; a Swarm engine would implement this too. */

export interface ContainerSpec {
  name: string;
  image: string;
  hostname: string;
  labels: Record<string, string>;
  network: string;
  bind: string;
  ports: { container: number; host: number }[];
  mounts: { volume: string; target: string; readOnly?: boolean }[];
  env?: string[];
  files: { path: string; content: string; mode: number }[];
  limits?: ContainerLimits;
  security?: ContainerSecurity;
}

export interface ContainerLimits {
  pids: number;
  memoryBytes: number;
  cpus: number;
  /** Docker's json-file log: size of a file (e.g. 1m) and how many are kept. */
  log: { maxSize: string; maxFiles: number };
}

export interface ContainerSecurity {
  /** uid:gid to run as; the image's default (root) when absent. */
  user?: string;
  capAdd?: string[];
  capDrop?: string[];
  noNewPrivileges?: boolean;
  readOnlyRootfs?: boolean;
  /** Mount point -> tmpfs options. */
  tmpfs?: Record<string, string>;
}

export interface ContainerInfo {
  id: string;
  name: string;
  labels: Record<string, string>;
  state: string;
  status: string;
  ports: { container: number; host: number; ip: string }[];
}

export interface LabelledObject {
  name: string;
  labels: Record<string, string>;
}

export interface ClassObjects {
  containers: ContainerInfo[];
  networks: LabelledObject[];
  volumes: LabelledObject[];
}

export interface ExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** One of the engine's default address pools: networks of prefix /size are carved out of base (a CIDR). */
export interface AddressPool {
  base: string;
  size: number;
}

export interface Engine {
  /** Throws a LabctlError (exit 4) saying how to start an engine when none answers. */
  ping(): Promise<void>;
  /** The default address pools the engine reports (/info DefaultAddressPools), or undefined when it reports none. */
  addressPools(): Promise<AddressPool[] | undefined>;
  /** Objects carrying dev.labctl.class (= className when given). */
  list(className?: string): Promise<ClassObjects>;
  /** Names of all containers and networks on the engine, labelled or not, to find clashes. */
  names(): Promise<{ containers: Set<string>; networks: Set<string>; volumes: Set<string> }>;
  /** Host ports already published by any container on the engine. */
  publishedPorts(): Promise<Map<number, string>>;
  imageExists(ref: string): Promise<boolean>;
  createNetwork(name: string, labels: Record<string, string>): Promise<void>;
  createVolume(name: string, labels: Record<string, string>): Promise<void>;
  createContainer(spec: ContainerSpec): Promise<void>;
  startContainer(name: string): Promise<void>;
  stopContainer(name: string, timeoutSeconds: number): Promise<void>;
  removeContainer(name: string): Promise<void>;
  removeNetwork(name: string): Promise<void>;
  removeVolume(name: string): Promise<void>;
  logs(name: string, tail: number): Promise<string>;
  exec(name: string, cmd: string[], user?: string): Promise<ExecResult>;
  /** Runs a command and hands its output on as it comes, until it ends or `signal` aborts it. */
  execStream(name: string, cmd: string[], onOutput: (chunk: string) => void, signal?: AbortSignal): Promise<number>;
  /** A path in a container, as a tar archive. */
  archive(name: string, path: string): Promise<Buffer>;
  /** Memory in use by a container, in bytes (from the engine's stats). */
  memoryUsage(name: string): Promise<number>;
  /**
   * Takes a lock held on the engine, so it holds across shells and hosts: an object named `name`, carrying `labels`.
   * Resolves to the lock's id when this call took it, or undefined when someone holds it already.
   */
  acquireLock(name: string, labels: Record<string, string>): Promise<string | undefined>;
  /** Who holds the lock `name` (its id and labels), or undefined when nobody does. */
  lockHolder(name: string): Promise<LockHolder | undefined>;
  /** Gives a lock back, by the id acquireLock or lockHolder gave; a lock already gone is fine. */
  releaseLock(id: string): Promise<void>;
}

export interface LockHolder {
  id: string;
  labels: Record<string, string>;
}
