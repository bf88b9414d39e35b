import { spawn } from 'node:child_process';
import { statfs } from 'node:fs/promises';
import { packagePath } from '../paths.js';
import { MIN_POOL_NETWORKS, POOL_FLAG, poolNetworks } from '../core/address-pool.js';
import { BASE_IMAGE } from '../core/images.js';
import { detectPortForwarding, type PortForwarding } from '../core/port-proxy.js';
import { bootstrapTool } from '../docker/images/base-image.js';
import { DISKS_DIR } from '../docker/disks.js';
import { remoteEngineHost } from '../docker/net.js';
import { swarmSurvey } from '../docker/select-engine.js';
import { ExitCode, LabctlError } from '../errors.js';
import { table } from '../ui/tables.js';
import { defaultContext, type Context } from './context.js';

export interface DoctorOptions {
  fix?: boolean;
  json?: boolean;
}

export interface Check {
  check: string;
  ok: boolean;
  detail: string;
  fix?: string;
  /** A shortcoming that does not fail `doctor` (labctl still works, within a limit): shown as "warn". */
  warning?: boolean;
}

const SETUP = packagePath('scripts', 'setup-host.sh');
const MIN_FREE_GIB = 3;

async function checks(ctx: Context): Promise<Check[]> {
  const result: Check[] = [];
  let engineOk = false;
  try {
    await ctx.engine.ping();
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
  const base = engineOk && (await ctx.engine.imageExists(BASE_IMAGE));
  result.push({
    check: 'base image',
    ok: base,
    detail: base ? BASE_IMAGE : `${BASE_IMAGE} missing`,
    fix: 'labctl build (it pulls or bootstraps it)',
  });
  result.push(await addressPoolCheck(ctx, engineOk));
  if (engineOk) result.push(await diskBoundCheck(ctx));
  if (engineOk) result.push(portForwardingCheck(localForwarding()));
  if (engineOk) result.push(...(await swarmChecks()));
  const tool = bootstrapTool();
  result.push({
    check: 'bootstrap tool',
    ok: Boolean(tool) || base,
    detail: tool ?? 'neither mmdebstrap nor debootstrap',
    fix: 'apt-get install mmdebstrap (needed when no registry answers)',
  });
  return result;
}

/** Swarm mode, for `--engine swarm`: a manager, its nodes, and room on this node's docker_gwbridge. */
async function swarmChecks(): Promise<Check[]> {
  const survey = await swarmSurvey().catch(() => undefined);
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
async function diskBoundCheck(ctx: Context): Promise<Check> {
  const support = await ctx.engine.diskSupport();
  return support.ok
    ? {
        check: 'disk bound',
        ok: true,
        detail: `each student writes on a disk of their own (a loop-mounted ext4 image in ${DISKS_DIR}, the lab's size, 1 GiB by default)`,
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
async function addressPoolCheck(ctx: Context, engineOk: boolean): Promise<Check> {
  const fix =
    `restart dockerd with ${POOL_FLAG} (1,024 networks), or "default-address-pools" in /etc/docker/daemon.json; ` +
    `each student takes one network`;
  if (!engineOk) return { check: 'address pool', ok: false, warning: true, detail: 'no engine to ask', fix };
  const pools = await ctx.engine.addressPools().catch(() => undefined);
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

/** How the engine labctl talks to forwards ports, when it runs on this machine (undefined: at DOCKER_HOST). */
function localForwarding(dockerHost = process.env.DOCKER_HOST): PortForwarding | undefined {
  if (remoteEngineHost(dockerHost)) return undefined;
  const socket = dockerHost?.startsWith('unix://') ? dockerHost.slice('unix://'.length) : undefined;
  return detectPortForwarding(socket);
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

function runSetup(): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [SETUP], { stdio: ['ignore', 'inherit', 'inherit'] });
    child.on('close', (code) =>
      code === 0
        ? resolve()
        : reject(new LabctlError(ExitCode.engine, `${SETUP} failed (exit ${code}).`, 'Read its output above.')),
    );
  });
}

/** Checks what labctl needs and says how to fix each thing; --fix installs and starts a Docker engine. */
export async function doctor(options: DoctorOptions, ctx: Context = defaultContext(options)): Promise<Check[]> {
  if (options.fix) {
    if (process.getuid?.() !== 0)
      throw new LabctlError(
        ExitCode.usage,
        '--fix installs packages and needs root.',
        'Run `sudo labctl doctor --fix`.',
      );
    await runSetup();
  }
  const result = await checks(ctx);
  ctx.reporter.result(
    table(
      ['check', 'ok', 'detail', 'how to fix'],
      result.map((c) => [c.check, c.ok ? 'ok' : c.warning ? 'warn' : 'NO', c.detail, c.ok ? '' : (c.fix ?? '')]),
    ),
    result,
  );
  if (result.some((c) => !c.ok && !c.warning && c.check !== 'base image')) process.exitCode = ExitCode.engine;
  return result;
}
