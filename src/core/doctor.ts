import { statfs } from 'node:fs/promises';
import type { Engine } from '../docker/engine.js';
import { MIN_POOL_NETWORKS, POOL_FLAG, poolNetworks } from './address-pool.js';
import { nodeCheck, type NodeFacts } from './doctor-nodes.js';
import { BASE_IMAGE, imageContexts } from './images.js';
import { loadLab } from './lab.js';
import type { PortForwarding } from './port-proxy.js';

export interface Check {
  check: string;
  ok: boolean;
  detail: string;
  fix?: string;
  /** A shortcoming that does not fail `doctor` (labctl still works, within a limit): shown as "warn". */
  warning?: boolean;
}

const MIN_FREE_GIB = 3;

/** What the checks need to know of the host beyond the engine: the command gathers it (src/commands/doctor.ts). */
export interface HostFacts {
  /** The Debian bootstrap tool found here (mmdebstrap, debootstrap), if any. */
  bootstrapTool: string | undefined;
  /** Where the students' disks are made. */
  disksDir: string;
  /** The engine's Swarm mode, if it can be read. */
  swarm: () => Promise<SwarmFacts | undefined>;
  /** On a Swarm manager: each node, asked whether it has these images (docker/swarm/node-facts.ts). */
  swarmNodes?: (images: string[]) => Promise<NodeFacts[]>;
  /** How the engine forwards published ports, when it runs on this machine (undefined: at DOCKER_HOST). */
  forwarding: () => PortForwarding | undefined;
  /** fs.inotify.max_user_instances of this host, when it can be read (undefined: at DOCKER_HOST, or unknown). */
  inotifyInstances: () => number | undefined;
}

/** The sidecars (all uid 990) take one inotify instance each: a class of this many students, and a few to spare. */
export const INOTIFY_STUDENTS = 1000;

/** What `docker info` and `docker node ls` say of Swarm mode (docker/swarm/survey.ts). */
export interface SwarmFacts {
  state: string;
  manager: boolean;
  nodes: { hostname: string; address: string; ready: boolean }[];
  gwbridge?: string;
  gwbridgeStudents?: number;
}

/** Checks what labctl needs, on the engine and this host, and says how to fix each thing. */
export async function diagnose(engine: Engine, host: HostFacts): Promise<Check[]> {
  const result: Check[] = [];
  let engineOk = false;
  try {
    await engine.ping();
    engineOk = true;
    result.push({ check: 'docker engine', ok: true, detail: 'answers' });
  } catch (error) {
    result.push({
      check: 'docker engine',
      ok: false,
      detail: (error as Error).message,
      fix: 'labctl doctor --fix (as root on Debian), or start dockerd',
    });
  }
  const disk = await statfs(engineOk ? '/var/lib/docker' : '/').catch(() => statfs('/'));
  const freeGiB = (disk.bavail * disk.bsize) / 2 ** 30;
  result.push({
    check: 'disk space',
    ok: freeGiB >= MIN_FREE_GIB,
    detail: `${freeGiB.toFixed(1)} GiB free`,
    fix: `free up space: images and 19 students need about ${MIN_FREE_GIB} GiB`,
  });
  const base = engineOk && (await engine.imageExists(BASE_IMAGE));
  result.push({
    check: 'base image',
    ok: base,
    detail: base ? BASE_IMAGE : `${BASE_IMAGE} missing`,
    fix: 'labctl build (it pulls or bootstraps it)',
  });
  result.push(await addressPoolCheck(engine, engineOk));
  if (engineOk) result.push(await diskBoundCheck(engine, host.disksDir));
  if (engineOk) result.push(portForwardingCheck(host.forwarding()));
  if (engineOk) result.push(...(await swarmChecks(host)));
  const inotify = host.inotifyInstances();
  if (inotify !== undefined) result.push(inotifyCheck(inotify));
  const tool = host.bootstrapTool;
  result.push({
    check: 'bootstrap tool',
    ok: Boolean(tool) || base,
    detail: tool ?? 'neither mmdebstrap nor debootstrap',
    fix: 'apt-get install mmdebstrap (needed when no registry answers)',
  });
  return result;
}

/** Swarm mode, for `--engine swarm`: a manager, its nodes, and room on this node's docker_gwbridge. */
async function swarmChecks(host: HostFacts): Promise<Check[]> {
  const survey = await host.swarm().catch(() => undefined);
  if (!survey) return [];
  if (survey.state !== 'active') {
    return [
      {
        check: 'swarm',
        ok: true,
        detail: 'not in a swarm (only `up --engine swarm` needs one)',
      },
    ];
  }
  const ready = survey.nodes.filter((n) => n.ready).length;
  const checks: Check[] = [
    {
      check: 'swarm',
      ok: survey.manager,
      warning: true,
      detail: survey.manager
        ? `manager of ${survey.nodes.length} node(s), ${ready} ready and active: ${survey.nodes.map((n) => `${n.hostname} (${n.address})`).join(', ')}`
        : 'a worker: run labctl on a manager',
      fix: 'run labctl where `docker node ls` works (a manager)',
    },
  ];
  if (survey.manager && host.swarmNodes) {
    // Each node, this one included: its docker_gwbridge among its facts.
    const images = await imageContexts(await loadLab()).then(
      (c) => [c.mail.tag, c.sidecar.tag],
      (): string[] => [],
    );
    const nodes = images.length > 0 ? await host.swarmNodes(images).catch(() => undefined) : undefined;
    if (nodes) return [...checks, ...nodes.map(nodeCheck)];
  }
  if (survey.gwbridgeStudents !== undefined) {
    const enough = survey.gwbridgeStudents >= 100;
    checks.push({
      check: 'docker_gwbridge',
      ok: enough,
      warning: true,
      detail: `${survey.gwbridge}: room for ${survey.gwbridgeStudents} Swarm students on this node`,
      fix: 'before joining the swarm, create it larger: see the README, "Several hosts"',
    });
  }
  return checks;
}

/** Whether what one student can write is bounded on this engine (a disk of their own). */
async function diskBoundCheck(engine: Engine, disksDir: string): Promise<Check> {
  const support = await engine.diskSupport();
  return support.ok
    ? {
        check: 'disk bound',
        ok: true,
        detail: `each student writes on a disk of their own (a loop-mounted ext4 image in ${disksDir}, the lab's size, 1 GiB by default)`,
      }
    : {
        check: 'disk bound',
        ok: false,
        warning: true,
        detail: `not bounded: ${support.why}; one student can fill the engine's disk`,
        fix: 'run labctl as root on the engine\'s own host (see README, "Disk")',
      };
}

/** How many networks the engine's default address pools hold: each student takes one. */
async function addressPoolCheck(engine: Engine, engineOk: boolean): Promise<Check> {
  const fix =
    `restart dockerd with ${POOL_FLAG} (1,024 networks), or "default-address-pools" in /etc/docker/daemon.json; ` +
    `each student takes one network`;
  if (!engineOk) return { check: 'address pool', ok: false, warning: true, detail: 'no engine to ask', fix };
  const pools = await engine.addressPools().catch(() => undefined);
  if (!pools) {
    return {
      check: 'address pool',
      ok: false,
      warning: true,
      detail: "the engine does not report its default address pools (Docker's built-in ones hold about 30 networks)",
      fix,
    };
  }
  const networks = poolNetworks(pools);
  const list = pools.map((p) => `${p.base} size /${p.size}`).join(', ');
  return {
    check: 'address pool',
    ok: networks >= MIN_POOL_NETWORKS,
    warning: true,
    detail: `the default pools (${list}) hold ${networks} networks${networks >= MIN_POOL_NETWORKS ? '' : `, fewer than ${MIN_POOL_NETWORKS}`}`,
    fix,
  };
}

const MiB = (kib: number) => (kib / 1024).toFixed(1);

/** The userland proxy costs the class its clients' addresses and memory: a warning, not a failure. */
export function portForwardingCheck(forwarding: PortForwarding | undefined): Check {
  const check = 'port forwarding';
  if (!forwarding)
    return {
      check,
      ok: true,
      detail: "unknown for an engine at DOCKER_HOST (labctl reads dockerd's command line here)",
    };
  const { mode, source, proxies, proxyKiB } = forwarding;
  if (mode === 'kernel') {
    return {
      check,
      ok: true,
      detail:
        `in the kernel (${source}): each server sees its clients' own addresses, so per-source limits and the mail ` +
        `log tell classmates apart, and no docker-proxy runs; a container on another Docker network cannot reach ` +
        `students' ports at the host's address`,
    };
  }
  if (mode === 'unknown') return { check, ok: true, detail: `unknown (${source})` };
  const cost =
    proxies > 0
      ? `${proxies} docker-proxy processes hold ${MiB(proxyKiB)} MiB, ${MiB((proxyKiB / proxies) * 5)} MiB per student of 5 ports`
      : 'about 17 MiB of docker-proxy per student (5 ports)';
  return {
    check,
    ok: false,
    warning: true,
    detail:
      `userland proxy (${source}): every client shows as its network's gateway, so per-source limits cannot tell ` +
      `classmates apart and the mail log does not name their PC; ${cost}`,
    fix:
      'start dockerd with --userland-proxy=false (scripts/setup-host.sh does), or set "userland-proxy": false in ' +
      '/etc/docker/daemon.json, and restart it (running classes stop; `labctl up` brings them back)',
  };
}

/**
 * Each sidecar wakes on inotify, one instance each, and all run as uid 990: past the kernel's per-user limit the
 * rest poll twice a second instead (they still work, at a CPU cost that a big class feels). A warning.
 */
function inotifyCheck(instances: number): Check {
  const ok = instances >= INOTIFY_STUDENTS + 24;
  return {
    check: 'inotify instances',
    ok,
    ...(!ok && { warning: true }),
    detail: ok
      ? `${instances}: a sidecar each, for classes of up to ${INOTIFY_STUDENTS} students`
      : `${instances} per user: past about ${Math.max(0, instances - 8)} students in all, sidecars poll twice a second instead of waiting for the log`,
    fix: `sysctl -w fs.inotify.max_user_instances=${INOTIFY_STUDENTS + 24} (scripts/setup-host.sh does, and keeps it)`,
  };
}
