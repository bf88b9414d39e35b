import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, openSync, closeSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import Docker from 'dockerode';

/** dockerd on PATH (Debian's docker.io installs /usr/sbin/dockerd), or undefined. */
export function findDockerd(): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/usr/bin', '/sbin', '/usr/local/bin'];
  for (const dir of dirs) {
    const file = path.join(dir, 'dockerd');
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** Why a test that needs its own engine cannot run here, or undefined when it can. */
export function testDockerdUnavailable(): string | undefined {
  return findDockerd() ? undefined : 'dockerd is not installed (run scripts/setup-host.sh): this test starts its own';
}

export interface TestDockerd {
  /** unix:///run/labctl-test-dockerd-PID.sock: give it as DOCKER_HOST. */
  host: string;
  /** Environment for a child labctl that must talk to this engine. */
  env: { DOCKER_HOST: string };
  docker: Docker;
  /** The daemon's log, for a failing test's message. */
  log: string;
  stop(): Promise<void>;
}

export interface TestDockerdOptions {
  /** How many /28 networks the daemon's address pool holds (a power of two, 1–256). Default 16. */
  networks?: number;
  /** Also listen on TCP (plain, no TLS), e.g. "10.0.0.5:23750": the engine is then reached as a remote one. */
  tcp?: string;
}

/**
 * Starts a second Docker engine next to the machine's, on its own socket, data root, exec root and pidfile, with a
 * small address pool of `networks` networks. Two things keep it off the machine's engine:
 * - its default bridge is one of its own (--bridge=lbtNNNN, made here with `ip link`, addressed outside the pool):
 *   with --bridge=none, dockerd deletes the host's docker0 when it starts, and with the default it takes docker0 over;
 * - it leaves iptables alone (--iptables=false): a daemon that manages iptables rewrites the DOCKER chains when it
 *   starts, which cuts the machine's containers off. Published ports still work (docker-proxy), on loopback too.
 * Needs root and iproute2. Stop it with `stop()`, which removes its containers and networks, then its bridge and data.
 */
export async function startTestDockerd(options: TestDockerdOptions = {}): Promise<TestDockerd> {
  const dockerd = findDockerd();
  if (!dockerd) throw new Error(testDockerdUnavailable());
  const networks = options.networks ?? 16;
  const prefix = 28 - Math.log2(networks);
  if (!Number.isInteger(prefix) || prefix < 20 || prefix > 28) throw new Error(`networks must be a power of two ≤ 256`);
  const id = `${process.pid}`;
  const socket = `/run/labctl-test-dockerd-${id}.sock`;
  const dataRoot = `/var/lib/labctl-test-docker-${id}`;
  const execRoot = `/run/labctl-test-docker-${id}`;
  const pidfile = `/run/labctl-test-dockerd-${id}.pid`;
  const log = `/tmp/labctl-test-dockerd-${id}.log`;
  // Its own (empty) configuration file: the machine's /etc/docker/daemon.json (which setup-host writes, with an
  // address pool) would clash with the flags here, and dockerd refuses a setting given both ways.
  const configFile = `/run/labctl-test-dockerd-${id}.json`;
  await writeFile(configFile, '{}\n');
  // Its own /24 of 10.99/16, per process, so that two runs side by side do not route the same subnets; its default
  // bridge gets a /30 of 10.98/16, outside the pool, so that every network of the pool is left for the test.
  const pool = `10.99.${process.pid % 256}.0/${prefix}`;
  const bridge = `lbt${process.pid}`.slice(0, 15);
  const bridgeAddress = `10.98.${process.pid % 256}.1/30`;
  const ip = promisify(execFile);
  await ip('ip', ['link', 'del', bridge]).catch(() => {});
  await ip('ip', ['link', 'add', bridge, 'type', 'bridge']);
  await ip('ip', ['addr', 'add', bridgeAddress, 'dev', bridge]);
  await ip('ip', ['link', 'set', bridge, 'up']);
  const fd = openSync(log, 'w');
  const child: ChildProcess = spawn(
    dockerd,
    [
      `--host=unix://${socket}`,
      `--data-root=${dataRoot}`,
      `--exec-root=${execRoot}`,
      `--pidfile=${pidfile}`,
      `--config-file=${configFile}`,
      `--default-address-pool=base=${pool},size=28`,
      `--bridge=${bridge}`,
      '--iptables=false',
      ...(options.tcp ? [`--host=tcp://${options.tcp}`] : []),
    ],
    { stdio: ['ignore', fd, fd] },
  );
  closeSync(fd);
  let exited: number | null | undefined;
  const exit = new Promise<void>((resolve) =>
    child.once('exit', (code) => {
      exited = code;
      resolve();
    }),
  );
  const docker = new Docker({ socketPath: socket });
  const stop = async () => {
    if (exited === undefined) {
      const filters = { label: ['dev.labctl.class'] };
      for (const c of await docker.listContainers({ all: true, filters }).catch(() => []))
        await docker
          .getContainer(c.Id)
          .remove({ force: true })
          .catch(() => {});
      // Its networks' bridges are host interfaces: removed with the networks, not with the data root.
      for (const n of await docker.listNetworks().catch(() => []))
        if (!['bridge', 'host', 'none'].includes(n.Name))
          await docker
            .getNetwork(n.Id)
            .remove()
            .catch(() => {});
      child.kill('SIGTERM');
      await Promise.race([exit, sleep(30_000, undefined, { ref: false })]);
      if (exited === undefined) {
        child.kill('SIGKILL');
        await exit;
      }
    }
    await ip('ip', ['link', 'del', bridge]).catch(() => {});
    await rm(dataRoot, { recursive: true, force: true }).catch(() => {});
    await rm(execRoot, { recursive: true, force: true }).catch(() => {});
    await rm(configFile, { force: true }).catch(() => {});
  };
  for (let i = 0; i < 120; i++) {
    if (exited !== undefined) break;
    if (
      await docker.ping().then(
        () => true,
        () => false,
      )
    ) {
      const host = options.tcp ? `tcp://${options.tcp}` : `unix://${socket}`;
      return { host, env: { DOCKER_HOST: host }, docker, log, stop };
    }
    await sleep(250);
  }
  await stop();
  throw new Error(`the test dockerd did not answer on ${socket} within 30 s (exit ${exited}); see ${log}`);
}

/** Copies images from one engine to another (docker save | docker load), for an engine that cannot build. */
export async function copyImages(from: Docker, to: Docker, refs: string[]): Promise<void> {
  for (const ref of refs) {
    if (
      await to
        .getImage(ref)
        .inspect()
        .then(
          () => true,
          () => false,
        )
    )
      continue;
    const tarball = await from.getImage(ref).get();
    const answer = await to.loadImage(tarball);
    await new Promise<void>((resolve, reject) => {
      answer.on('error', reject);
      answer.on('end', resolve);
      answer.resume();
    });
    await to.getImage(ref).inspect();
  }
}
