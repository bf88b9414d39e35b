import { execFile } from 'node:child_process';
import { existsSync, readdirSync, rmdirSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import Docker from 'dockerode';
import { contextTag } from '../../src/core/images.js';
import { LABEL } from '../../src/core/labels.js';
import { BASE_IMAGE, type ImageFile } from '../../src/docker/engine.js';
import { LocalEngine } from '../../src/docker/local/local-engine.js';
import { findDockerd } from './dockerd.js';

/**
 * A real multi-node Docker Swarm on this one machine, as play-with-docker makes them: each node is a Docker engine in a
 * container of the machine's engine, with its own data volume (so a stopped node comes back with its state), its own
 * cgroup parent and address pools, and a fixed address on a bridge of its own; the engines form a swarm, and labctl
 * drives the manager through DOCKER_HOST=tcp://ADDRESS:2375 (plain TCP: anyone on that bridge drives the engines).
 *
 * `--privileged` is refused here (no CAP_SYS_RESOURCE), so a node gets every other capability, no seccomp, AppArmor
 * or masked /proc and /sys paths, and mounts the cgroup v1 hierarchies afresh (Docker gives it a read-only view).
 */

const run = promisify(execFile);
const host = new Docker();
/** Every object of a test swarm carries it, with the pid of the process that made it. */
const MARK = 'dev.labctl.test-swarm';

const NODE_DOCKERFILE = `ARG BASE_IMAGE=${BASE_IMAGE}
FROM \${BASE_IMAGE}
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update \\
 && apt-get install -y --no-install-recommends docker.io iptables iproute2 procps ca-certificates \\
 && rm -rf /var/lib/apt/lists/*
COPY node-entrypoint.sh /usr/local/sbin/node-entrypoint
ENTRYPOINT ["/usr/local/sbin/node-entrypoint"]
`;

/** Mounts each cgroup v1 hierarchy of /proc/self/cgroup afresh (writable), then runs dockerd with the arguments. */
const NODE_ENTRYPOINT = `#!/bin/sh
set -eu
umount -l /sys/fs/cgroup 2>/dev/null || true
mount -t tmpfs -o mode=755 cgroup /sys/fs/cgroup
sed -n 's/^[0-9]*:\\([^:][^:]*\\):.*/\\1/p' /proc/self/cgroup | while read -r controllers; do
  dir=\${controllers#name=}
  mkdir -p "/sys/fs/cgroup/$dir"
  case $controllers in name=*) opts="none,$controllers" ;; *) opts=$controllers ;; esac
  mount -t cgroup -o "$opts" cgroup "/sys/fs/cgroup/$dir"
done
rm -f /var/run/docker.pid
exec dockerd "$@"
`;

const NODE_FILES: ImageFile[] = [
  { path: 'Dockerfile', content: NODE_DOCKERFILE },
  { path: 'node-entrypoint.sh', content: NODE_ENTRYPOINT, mode: 0o755 },
];

/** The node image: labctl's base image (`labctl build` makes it) plus Debian's docker.io, built on this engine. */
export async function nodeImage(onStep: (line: string) => void = () => {}): Promise<string> {
  const tag = contextTag('labctl-test/node', NODE_FILES, BASE_IMAGE);
  const engine = new LocalEngine(LABEL, host);
  if (!(await engine.imageExists(tag))) await engine.buildImage(tag, NODE_FILES, onStep);
  return tag;
}

/** Why a multi-node swarm cannot be made here, or undefined when it can. */
export function testSwarmUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'a test swarm needs root (it mounts cgroups and makes bridges)';
  if (!findDockerd()) return 'dockerd is not installed (run scripts/setup-host.sh)';
  if (!existsSync('/sys/fs/cgroup/memory')) return 'a test swarm needs cgroup v1 hierarchies on the host';
  return undefined;
}

export interface TestNode {
  /** Its container's name, its hostname, and its name in the swarm. */
  name: string;
  /** Its fixed address on the test bridge: its Swarm address, where its students' ports answer. */
  address: string;
  /** tcp://ADDRESS:2375 */
  host: string;
  env: { DOCKER_HOST: string };
  docker: Docker;
  /** The node is lost: its container stops (the engine, its tasks and their ports with it). */
  stop(): Promise<void>;
  /** It comes back (its data volume kept its state) once its engine answers. */
  start(): Promise<void>;
  /** Gone for good: the container and its data volume are removed. */
  destroy(): Promise<void>;
}

export interface TestSwarm {
  nodes: TestNode[];
  manager: TestNode;
  /** What a labctl child needs to drive the swarm: DOCKER_HOST, the manager's. */
  env: { DOCKER_HOST: string };
  /** Removes the nodes, their volumes, the bridge and the cgroups the engines made. */
  remove(): Promise<void>;
}

const alive = (pid: number) => existsSync(`/proc/${pid}`);

/** Objects of test swarms whose process is gone (a run that was killed): ours to clean, never another run's. */
async function removeLeftovers(only?: string): Promise<void> {
  const filters = { label: [only ? `${MARK}=${only}` : MARK] };
  const stale = (labels: Record<string, string> | undefined) =>
    only !== undefined || !alive(Number(labels?.[MARK] ?? 0));
  for (const c of await host.listContainers({ all: true, filters }))
    if (stale(c.Labels))
      await host
        .getContainer(c.Id)
        .remove({ force: true, v: true })
        .catch(() => {});
  for (const v of (await host.listVolumes({ filters })).Volumes ?? [])
    if (stale(v.Labels))
      await host
        .getVolume(v.Name)
        .remove()
        .catch(() => {});
  for (const n of await host.listNetworks({ filters }))
    if (stale(n.Labels))
      await host
        .getNetwork(n.Id)
        .remove()
        .catch(() => {});
}

/** A bridge with a /24 of its own: 10.96.X.0/24, X from the pid, the next one when another network holds it. */
async function makeBridge(name: string, labels: Record<string, string>): Promise<string> {
  for (let i = 0; i < 64; i++) {
    const prefix = `10.96.${(process.pid + i * 7) % 256}`;
    try {
      await host.createNetwork({
        Name: name,
        Driver: 'bridge',
        Labels: labels,
        IPAM: { Config: [{ Subnet: `${prefix}.0/24`, Gateway: `${prefix}.1` }] },
      });
      return prefix;
    } catch (error) {
      if (!/overlap|in use/i.test((error as Error).message)) throw error;
    }
  }
  throw new Error('no free /24 in 10.96.0.0/16 for the test swarm');
}

/** The cgroups a node's engine made under its --cgroup-parent, deepest first (they are empty once it stopped). */
function removeCgroups(parent: string): void {
  const root = '/sys/fs/cgroup';
  for (const hierarchy of readdirSync(root)) {
    const top = path.join(root, hierarchy, parent);
    const remove = (dir: string) => {
      if (!existsSync(dir)) return;
      for (const entry of readdirSync(dir, { withFileTypes: true }))
        if (entry.isDirectory()) remove(path.join(dir, entry.name));
      try {
        rmdirSync(dir);
      } catch {
        // still in use, or not ours to remove
      }
    };
    remove(top);
  }
}

async function engineAnswers(docker: Docker, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (
      await docker.ping().then(
        () => true,
        () => false,
      )
    )
      return;
    if (Date.now() > deadline) throw new Error(`the node's engine did not answer within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/**
 * Starts `count` engines in containers and makes them a swarm: the first is its manager, the others join as workers.
 * Only this process's objects are touched (and those of test swarms whose process is gone).
 */
export async function startTestSwarm(count = 3, onStep: (line: string) => void = () => {}): Promise<TestSwarm> {
  await removeLeftovers();
  const image = await nodeImage(onStep);
  const id = String(process.pid);
  const labels = { [MARK]: id };
  const bridge = `labctl-test-swarm-${id}`;
  const prefix = await makeBridge(bridge, labels);
  const nodes: TestNode[] = [];
  const cgroups: string[] = [];
  const remove = async () => {
    await removeLeftovers(id);
    for (const parent of cgroups) removeCgroups(parent);
  };
  try {
    for (let i = 1; i <= count; i++) {
      const name = `lbn${id}-${i}`;
      const address = `${prefix}.${10 + i}`;
      const cgroupParent = `/labctl-test-${id}-${i}`;
      cgroups.push(cgroupParent);
      const data = `${name}-data`;
      await host.createVolume({ Name: data, Labels: labels });
      const container = await host.createContainer({
        name,
        Hostname: name,
        Image: image,
        Labels: labels,
        Cmd: [
          '--tls=false',
          '-H',
          'tcp://0.0.0.0:2375',
          '-H',
          'unix:///var/run/docker.sock',
          `--cgroup-parent=${cgroupParent}`,
          // Inside the node's own network namespace: they never meet the machine's networks.
          '--default-address-pool',
          'base=10.95.0.0/16,size=24',
          '--userland-proxy=false',
        ],
        HostConfig: {
          CapAdd: ['ALL'],
          CapDrop: ['SYS_RESOURCE'],
          SecurityOpt: ['seccomp=unconfined', 'apparmor=unconfined'],
          // What the CLI's --security-opt systempaths=unconfined sends.
          MaskedPaths: [],
          ReadonlyPaths: [],
          Mounts: [{ Type: 'volume', Source: data, Target: '/var/lib/docker' }],
          Tmpfs: { '/run': 'rw,exec' },
          NetworkMode: bridge,
        },
        NetworkingConfig: { EndpointsConfig: { [bridge]: { IPAMConfig: { IPv4Address: address } } } },
      });
      const docker = new Docker({ host: address, port: 2375, protocol: 'http' });
      const node: TestNode = {
        name,
        address,
        host: `tcp://${address}:2375`,
        env: { DOCKER_HOST: `tcp://${address}:2375` },
        docker,
        stop: async () => {
          await container.stop({ t: 5 }).catch(() => {});
        },
        start: async () => {
          await container.start();
          await engineAnswers(docker);
        },
        destroy: async () => {
          await container.remove({ force: true }).catch(() => {});
          await host
            .getVolume(data)
            .remove()
            .catch(() => {});
          removeCgroups(cgroupParent);
        },
      };
      nodes.push(node);
      await container.start();
    }
    for (const node of nodes) await engineAnswers(node.docker);
    const manager = nodes[0]!;
    await manager.docker.swarmInit({
      ListenAddr: '0.0.0.0:2377',
      AdvertiseAddr: manager.address,
      DefaultAddrPool: ['10.94.0.0/16'],
      SubnetSize: 24,
    });
    const tokens = ((await manager.docker.swarmInspect()) as { JoinTokens: { Worker: string } }).JoinTokens;
    for (const node of nodes.slice(1))
      await node.docker.swarmJoin({
        ListenAddr: '0.0.0.0:2377',
        AdvertiseAddr: node.address,
        RemoteAddrs: [`${manager.address}:2377`],
        JoinToken: tokens.Worker,
      });
    await nodesReady(manager.docker, count);
    return { nodes, manager, env: manager.env, remove };
  } catch (error) {
    const log = nodes[0]
      ? await run('docker', ['logs', '--tail', '30', nodes[0].name]).catch(() => undefined)
      : undefined;
    await remove();
    throw new Error(`${(error as Error).message}${log ? `\nfirst node's log:\n${log.stderr}` : ''}`, {
      cause: error,
    });
  }
}

/** Waits until the manager sees `count` nodes ready (or, with `state`, the node `name` in that state). */
export async function nodesReady(manager: Docker, count: number, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const nodes = (await manager.listNodes().catch(() => [])) as { Status?: { State?: string } }[];
    if (nodes.filter((n) => n.Status?.State === 'ready').length >= count) return;
    if (Date.now() > deadline) throw new Error(`${count} nodes were not ready within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** The state the manager gives node `name` (ready, down, unknown…). */
export async function nodeState(manager: Docker, name: string): Promise<string | undefined> {
  const nodes = (await manager.listNodes()) as { Description?: { Hostname?: string }; Status?: { State?: string } }[];
  return nodes.find((n) => n.Description?.Hostname === name)?.Status?.State;
}
