import net from 'node:net';
import { PassThrough, Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type Docker from 'dockerode';
import { ExitCode, LabctlError } from '../errors.js';
import { LABEL } from '../core/labels.js';
import { dockerClient } from './client.js';
import { HostDisks } from './disks.js';
import { engineUnreachable, failed, type DockerError } from './errors.js';
import { buildImage, ensureBaseImage, pushImage } from './images.js';
import { backupDir, resetCommand } from './reset-command.js';
import type {
  AddressPool,
  ClassObjects,
  ContainerInfo,
  ContainerSpec,
  DiskSpec,
  DiskSupport,
  Engine,
  ExecResult,
  ImageFile,
  LockHolder,
  LogStream,
  Maintenance,
  MaintenanceResult,
  Replacement,
} from './engine.js';

const ignoreStatus =
  (...codes: number[]) =>
  (error: unknown) => {
    if (codes.includes((error as DockerError).statusCode ?? 0)) return;
    throw error;
  };

/** Waits for a removal; an object that is already gone is fine. */
async function removed(what: string, removal: Promise<unknown>): Promise<void> {
  try {
    await removal;
  } catch (error) {
    if ((error as DockerError).statusCode === 404) return;
    throw failed(`remove ${what}`, error);
  }
}

/** Splits Docker's multiplexed stdout/stderr frames. */
export function demux(buffer: Buffer): { stdout: string; stderr: string } {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  let offset = 0;
  while (offset + 8 <= buffer.length) {
    const type = buffer[offset];
    const size = buffer.readUInt32BE(offset + 4);
    const frame = buffer.subarray(offset + 8, offset + 8 + size);
    (type === 2 ? err : out).push(frame);
    offset += 8 + size;
  }
  if (offset === 0 && buffer.length > 0) return { stdout: buffer.toString(), stderr: '' };
  return { stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() };
}

/** The host of DOCKER_HOST (tcp://h:2376, ssh://user@h), or undefined when the engine is on this machine's socket. */
export function remoteEngineHost(dockerHost = process.env.DOCKER_HOST): string | undefined {
  if (!dockerHost || /^(unix|npipe):/.test(dockerHost)) return undefined;
  try {
    return new URL(dockerHost).hostname.replace(/^\[|\]$/g, '') || undefined;
  } catch {
    return undefined;
  }
}

const isWildcard = (ip: string) => ip === '' || ip === '0.0.0.0' || ip === '::';
const isLoopback = (ip: string) => ip.startsWith('127.') || ip === '::1' || ip === 'localhost';

/**
 * Where a port published on `bind` answers, seen from here: a specific outside address is itself; otherwise the
 * engine's host when the engine is elsewhere (DOCKER_HOST), else loopback.
 */
export function publishedAddress(bind: string, remote = remoteEngineHost()): string {
  if (!isWildcard(bind) && !isLoopback(bind)) return bind;
  if (remote) return remote;
  return isWildcard(bind) ? '127.0.0.1' : bind;
}

const LOG = '/var/log/mail.log';

/** An empty image for lock containers (created, never started), so a lock needs no image built or pulled. */
const LOCK_IMAGE = { repo: 'labctl/lock', tag: '1' };

export class LocalEngine implements Engine {
  readonly where: string;
  readonly parallelism = 4;

  constructor(
    private readonly docker: Docker = dockerClient(),
    private readonly disks = new HostDisks(),
  ) {
    this.where = process.env.DOCKER_HOST ?? 'unix:///var/run/docker.sock';
  }

  async ping(): Promise<void> {
    try {
      await this.docker.ping();
    } catch (error) {
      throw engineUnreachable(error as DockerError);
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
    const label = [className ? `${LABEL.class}=${className}` : LABEL.class];
    try {
      const [containers, networks, volumes] = await Promise.all([
        this.docker.listContainers({ all: true, filters: { label } }),
        this.docker.listNetworks({ filters: { label } }),
        this.docker.listVolumes({ filters: { label } }),
      ]);
      return {
        containers: containers.map((c): ContainerInfo => ({
          id: c.Id,
          name: (c.Names[0] ?? c.Id).replace(/^\//, ''),
          labels: c.Labels,
          image: c.Image,
          state: c.State,
          status: c.Status,
          ports: c.Ports.filter((p) => p.PublicPort).map((p) => ({
            container: p.PrivatePort,
            host: p.PublicPort,
            ip: p.IP ?? '',
          })),
        })),
        networks: networks.map((n) => ({ name: n.Name, labels: n.Labels ?? {} })),
        volumes: (volumes.Volumes ?? []).map((v) => ({ name: v.Name, labels: v.Labels ?? {} })),
        disks: await this.listDisks(className),
      };
    } catch (error) {
      throw failed('list labctl objects', error);
    }
  }

  /** The students' disks on this host (none when the engine is elsewhere: they would be that host's). */
  private async listDisks(className?: string) {
    if (!this.disks.available(remoteEngineHost() !== undefined).ok) return [];
    return (await this.disks.list()).filter((d) =>
      className === undefined ? LABEL.class in d.labels : d.labels[LABEL.class] === className,
    );
  }

  async diskSupport(): Promise<DiskSupport> {
    const support = this.disks.available(remoteEngineHost() !== undefined);
    return support.ok ? { ok: true, freeBytes: await this.disks.freeBytes() } : support;
  }

  async createDisk(disk: DiskSpec): Promise<'created' | 'mounted' | 'present'> {
    const support = this.disks.available(remoteEngineHost() !== undefined);
    if (!support.ok) throw new LabctlError(ExitCode.engine, `Cannot make disk ${disk.name}: ${support.why}.`);
    return this.disks.ensure(disk);
  }

  removeDisk(name: string): Promise<void> {
    return this.disks.remove(name);
  }

  /**
   * Where a volume on disk `disk` is bound from (the volume's directory on that disk), when this engine bounds
   * disks; undefined for a plain volume.
   */
  private async volumeDriver(volume: string, disk: string | undefined) {
    if (disk === undefined || !this.disks.available(remoteEngineHost() !== undefined).ok) return undefined;
    const device = await this.disks.volumeDir(disk, volume);
    return { Name: 'local', Options: { type: 'none', o: 'bind', device } };
  }

  async names() {
    try {
      const [containers, networks, volumes] = await Promise.all([
        this.docker.listContainers({ all: true }),
        this.docker.listNetworks(),
        this.docker.listVolumes(),
      ]);
      return {
        containers: new Set(containers.flatMap((c) => c.Names.map((n) => n.replace(/^\//, '')))),
        networks: new Set(networks.map((n) => n.Name)),
        volumes: new Set((volumes.Volumes ?? []).map((v) => v.Name)),
      };
    } catch (error) {
      throw failed('list containers and networks', error);
    }
  }

  async publishedPorts(): Promise<Map<number, string>> {
    try {
      const containers = await this.docker.listContainers({ all: true });
      const used = new Map<number, string>();
      for (const c of containers) {
        const name = (c.Names[0] ?? c.Id).replace(/^\//, '');
        for (const p of c.Ports) if (p.PublicPort) used.set(p.PublicPort, name);
        // A stopped container holds its bindings too, though they do not show in Ports.
        if (c.State !== 'running') {
          // A container removed since the listing holds nothing any more.
          const info = await this.docker
            .getContainer(c.Id)
            .inspect()
            .catch((error: DockerError) => {
              if (error.statusCode === 404) return undefined;
              throw error;
            });
          if (!info) continue;
          for (const bindings of Object.values(info.HostConfig.PortBindings ?? {}) as { HostPort?: string }[][]) {
            for (const b of bindings ?? []) if (b.HostPort) used.set(Number(b.HostPort), name);
          }
        }
      }
      return used;
    } catch (error) {
      throw failed('list published ports', error);
    }
  }

  /** Binds the port here, which says something only when the engine publishes on this machine. */
  portAvailable(bind: string, port: number): Promise<boolean> {
    if (remoteEngineHost()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const server = net.createServer();
      server.once('error', () => resolve(false));
      server.listen({ host: bind, port, exclusive: true }, () => server.close(() => resolve(true)));
    });
  }

  address(bind: string): string {
    return publishedAddress(bind);
  }

  async imageExists(ref: string): Promise<boolean> {
    try {
      await this.docker.getImage(ref).inspect();
      return true;
    } catch (error) {
      if ((error as DockerError).statusCode === 404) return false;
      throw failed(`inspect image ${ref}`, error);
    }
  }

  async createNetwork(name: string, labels: Record<string, string>): Promise<void> {
    try {
      await this.docker.createNetwork({ Name: name, Driver: 'bridge', Labels: labels, CheckDuplicate: true });
    } catch (error) {
      const message = (error as DockerError).json?.message ?? '';
      if (/address pool|non-overlapping/i.test(message)) {
        throw new LabctlError(
          ExitCode.engine,
          `Docker has no free subnet left for network ${name}.`,
          'Start dockerd with a larger pool, e.g. --default-address-pool base=10.213.0.0/16,size=26 (1,024 networks; what `labctl doctor --fix` does). `labctl doctor` shows how many networks the pools hold.',
          'no-subnet',
        );
      }
      throw failed(`create network ${name}`, error);
    }
  }

  async createVolume(name: string, labels: Record<string, string>, disk?: string): Promise<void> {
    const driver = await this.volumeDriver(name, disk);
    try {
      await this.docker.createVolume({
        Name: name,
        Labels: labels,
        ...(driver && { Driver: driver.Name, DriverOpts: driver.Options }),
      });
    } catch (error) {
      throw failed(`create volume ${name}`, error);
    }
  }

  async createContainer(spec: ContainerSpec): Promise<void> {
    const exposed: Record<string, object> = {};
    const bindings: Record<string, { HostIp: string; HostPort: string }[]> = {};
    for (const p of spec.ports) {
      exposed[`${p.container}/tcp`] = {};
      bindings[`${p.container}/tcp`] = [{ HostIp: spec.bind, HostPort: String(p.host) }];
    }
    // A volume made with the workload on the student's disk is bound from its directory there.
    const drivers = await Promise.all(
      spec.mounts.map((m) => (m.labels ? this.volumeDriver(m.volume, m.disk) : undefined)),
    );
    const body: Docker.ContainerCreateOptions = {
      Image: spec.image,
      Hostname: spec.hostname,
      ...(spec.security?.user && { User: spec.security.user }),
      Labels: spec.labels,
      Env: spec.env ?? [],
      ExposedPorts: exposed,
      HostConfig: {
        PortBindings: bindings,
        // VolumeOptions is the API's (a missing volume is made with these labels); @types/dockerode lacks it.
        Mounts: spec.mounts.map((m, i) => ({
          Type: 'volume',
          Source: m.volume,
          Target: m.target,
          ReadOnly: m.readOnly ?? false,
          ...(m.labels && {
            VolumeOptions: { Labels: m.labels, ...(drivers[i] && { DriverConfig: drivers[i] }) },
          }),
        })) as Docker.MountSettings[],
        NetworkMode: spec.network,
        RestartPolicy: { Name: 'unless-stopped' },
        ...(spec.limits && {
          LogConfig: {
            Type: 'json-file',
            Config: { 'max-size': spec.limits.log.maxSize, 'max-file': String(spec.limits.log.maxFiles) },
          },
          PidsLimit: spec.limits.pids,
          Memory: spec.limits.memoryBytes,
          MemorySwap: spec.limits.memoryBytes,
          NanoCpus: Math.round(spec.limits.cpus * 1e9),
        }),
        CapAdd: spec.security?.capAdd ?? [],
        CapDrop: spec.security?.capDrop ?? [],
        SecurityOpt: spec.security?.noNewPrivileges ? ['no-new-privileges:true'] : [],
        ReadonlyRootfs: spec.security?.readOnlyRootfs ?? false,
        Tmpfs: spec.security?.tmpfs ?? {},
      },
    };
    try {
      // Only the name in the address: dockerode would put every option there too (the server's configuration is
      // tens of KB), which a proxy in front of the engine may refuse, and the engine parses twice.
      await this.docker.createContainer({ _query: { name: spec.name }, _body: body } as Docker.ContainerCreateOptions);
    } catch (error) {
      throw failed(`create container ${spec.name}`, error);
    }
  }

  async startContainer(name: string): Promise<void> {
    try {
      await this.docker.getContainer(name).start();
    } catch (error) {
      if ((error as DockerError).statusCode === 304) return;
      const message = (error as DockerError).json?.message ?? '';
      const port = /(?:port is already allocated|address already in use).*?(\d+)?/i.exec(message);
      if (port) {
        throw new LabctlError(
          ExitCode.conflict,
          `Cannot start ${name}: a host port is taken (${message.trim()}).`,
          'Free that port or choose another --base-port.',
          'port-taken',
        );
      }
      throw failed(`start container ${name}`, error);
    }
  }

  async stopContainer(name: string, timeoutSeconds: number): Promise<void> {
    await this.docker
      .getContainer(name)
      .stop({ t: timeoutSeconds })
      .catch(ignoreStatus(304, 404))
      .catch((error: unknown) => {
        throw failed(`stop container ${name}`, error);
      });
  }

  /**
   * The old container is renamed aside and stopped (its ports are free then), the new one created and started under
   * the name; undo removes the new one and gives the old one its name back, running; commit removes the old one.
   */
  async replaceContainer(spec: ContainerSpec): Promise<Replacement> {
    const aside = `${spec.name}-old-${process.pid}`;
    const rename = (from: string, to: string) =>
      this.docker
        .getContainer(from)
        .rename({ name: to })
        .catch((error: unknown) => {
          throw failed(`rename container ${from} to ${to}`, error);
        });
    await rename(spec.name, aside);
    const replacement: Replacement = {
      undo: async () => {
        await this.removeContainer(spec.name);
        await rename(aside, spec.name);
        await this.startContainer(spec.name);
      },
      commit: () => this.removeContainer(aside),
    };
    try {
      await this.stopContainer(aside, 5);
      await this.createContainer(spec);
      await this.startContainer(spec.name);
    } catch (error) {
      await replacement.undo().catch(() => {});
      throw error;
    }
    return replacement;
  }

  removeContainer(name: string): Promise<void> {
    return removed(`container ${name}`, this.docker.getContainer(name).remove({ force: true }));
  }

  removeNetwork(name: string): Promise<void> {
    return removed(`network ${name}`, this.docker.getNetwork(name).remove());
  }

  removeVolume(name: string): Promise<void> {
    return removed(`volume ${name}`, this.docker.getVolume(name).remove());
  }

  async logs(name: string, tail: number): Promise<string> {
    try {
      const buffer = (await this.docker
        .getContainer(name)
        .logs({ stdout: true, stderr: true, tail, follow: false })) as unknown as Buffer;
      const { stdout, stderr } = demux(buffer);
      return stdout + stderr;
    } catch (error) {
      throw failed(`read the logs of ${name}`, error);
    }
  }

  async maintenance(mail: ContainerInfo, task: Maintenance): Promise<MaintenanceResult> {
    if (task.action === 'accounts') {
      return this.exec(mail.name, ['sh', '-c', 'for d in /home/*/Maildir; do basename "$(dirname "$d")"; done']);
    }
    const run: MaintenanceResult = await this.exec(mail.name, resetCommand(task));
    const dir = task.backup ? backupDir(run.stdout) : undefined;
    if (dir) {
      try {
        run.backup = await this.archive(mail.name, `${dir}/backup`);
      } finally {
        await this.exec(mail.name, ['rm', '-rf', '--', dir]);
      }
    }
    return run;
  }

  async streamLog(mail: ContainerInfo, { follow, onChunk, signal }: LogStream): Promise<void> {
    if (!follow) {
      await this.execStream(mail.name, ['cat', LOG], onChunk, signal);
      return;
    }
    // tail lives as long as the exec's stdin, which nothing writes: when the stream is aborted (or labctl dies), the
    // engine closes that stdin, `cat` ends, and the shell stops its own tail. No pid passes through a file.
    await this.execStream(
      mail.name,
      ['sh', '-c', `tail -n +1 -F ${LOG} & cat >/dev/null; kill $!; wait $!`],
      onChunk,
      signal,
      true,
    );
  }

  ensureBaseImage(onStep: (line: string) => void) {
    return ensureBaseImage(this.docker, onStep);
  }

  buildImage(tag: string, files: ImageFile[], onStep: (line: string) => void, buildArgs?: Record<string, string>) {
    return buildImage(this.docker, tag, files, onStep, buildArgs);
  }

  /** Runs a command in a container, as root unless told. */
  async exec(name: string, cmd: string[], user?: string): Promise<ExecResult> {
    try {
      const exec = await this.docker
        .getContainer(name)
        .exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true, User: user ?? '' });
      const stream = await exec.start({ hijack: true, stdin: false });
      const stdout = new PassThrough();
      const stderr = new PassThrough();
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      stdout.on('data', (c: Buffer) => out.push(c));
      stderr.on('data', (c: Buffer) => err.push(c));
      this.docker.modem.demuxStream(stream, stdout, stderr);
      await new Promise<void>((resolve, reject) => {
        stream.on('end', resolve);
        stream.on('close', resolve);
        stream.on('error', reject);
      });
      const info = await exec.inspect();
      return {
        exitCode: info.ExitCode ?? -1,
        stdout: Buffer.concat(out).toString(),
        stderr: Buffer.concat(err).toString(),
      };
    } catch (error) {
      throw failed(`run ${cmd.join(' ')} in ${name}`, error);
    }
  }

  /** Runs `cmd`, streaming its output; with `stdin`, the command's stdin stays open until the stream ends or aborts. */
  private async execStream(
    name: string,
    cmd: string[],
    onOutput: (chunk: string) => void,
    signal?: AbortSignal,
    stdin = false,
  ): Promise<number> {
    try {
      const exec = await this.docker
        .getContainer(name)
        .exec({ Cmd: cmd, AttachStdin: stdin, AttachStdout: true, AttachStderr: true });
      const stream = await exec.start({ hijack: true, stdin });
      const out = new PassThrough();
      out.setEncoding('utf8');
      out.on('data', onOutput);
      this.docker.modem.demuxStream(stream, out, out);
      await new Promise<void>((resolve, reject) => {
        const abort = () => {
          stream.destroy();
          resolve();
        };
        if (signal?.aborted) return abort();
        signal?.addEventListener('abort', abort, { once: true });
        stream.on('end', resolve);
        stream.on('close', resolve);
        stream.on('error', (error) => (signal?.aborted ? resolve() : reject(error)));
      });
      if (signal?.aborted) {
        // The command sees its stdin close and stops: wait for that, so nothing it started outlives the call.
        for (let i = 0; stdin && i < 100 && (await exec.inspect()).Running; i++) await sleep(50);
        return 0;
      }
      return (await exec.inspect()).ExitCode ?? -1;
    } catch (error) {
      throw failed(`run ${cmd.join(' ')} in ${name}`, error);
    }
  }

  private async archive(name: string, path: string): Promise<Buffer> {
    try {
      const stream = await this.docker.getContainer(name).getArchive({ path });
      const chunks: Buffer[] = [];
      for await (const chunk of stream) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks);
    } catch (error) {
      throw failed(`copy ${path} out of ${name}`, error);
    }
  }

  async memoryUsage(name: string): Promise<number> {
    try {
      const stats = (await this.docker.getContainer(name).stats({ stream: false })) as unknown as {
        memory_stats: { usage?: number; stats?: Record<string, number> };
      };
      const m = stats.memory_stats;
      const cache = m.stats?.total_inactive_file ?? m.stats?.inactive_file ?? m.stats?.cache ?? 0;
      return Math.max(0, (m.usage ?? 0) - cache);
    } catch (error) {
      throw failed(`read the stats of ${name}`, error);
    }
  }

  async acquireLock(name: string, labels: Record<string, string>): Promise<string | undefined> {
    const create = () =>
      this.docker.createContainer({
        name,
        Image: `${LOCK_IMAGE.repo}:${LOCK_IMAGE.tag}`,
        Cmd: ['true'],
        Labels: labels,
      });
    try {
      try {
        return (await create()).id;
      } catch (error) {
        if ((error as DockerError).statusCode !== 404) throw error;
        // No lock image yet: import an empty one (an empty tar), then try again.
        const stream = await this.docker.importImage(
          Readable.from([Buffer.alloc(1024)]) as unknown as string,
          LOCK_IMAGE,
        );
        await new Promise((resolve, reject) =>
          this.docker.modem.followProgress(stream, (e: Error | null) => (e ? reject(e) : resolve(undefined))),
        );
        return (await create()).id;
      }
    } catch (error) {
      // Container names are exclusive: 409 means someone holds the lock.
      if ((error as DockerError).statusCode === 409) return undefined;
      throw failed(`create lock ${name}`, error);
    }
  }

  async lockHolder(name: string): Promise<LockHolder | undefined> {
    try {
      const c = await this.docker.getContainer(name).inspect();
      return { id: c.Id, labels: c.Config.Labels ?? {} };
    } catch (error) {
      if ((error as DockerError).statusCode === 404) return undefined;
      throw failed(`read lock ${name}`, error);
    }
  }

  releaseLock(id: string): Promise<void> {
    return removed(`lock ${id}`, this.docker.getContainer(id).remove({ force: true }));
  }

  async saveImages(refs: string[]): Promise<NodeJS.ReadableStream> {
    try {
      // GET /images/get?names=…: dockerode has it, its types do not.
      const docker = this.docker as unknown as {
        getImages(options: { names: string[] }): Promise<NodeJS.ReadableStream>;
      };
      return await docker.getImages({ names: refs });
    } catch (error) {
      throw failed(`save images ${refs.join(', ')}`, error);
    }
  }

  async loadImages(archive: NodeJS.ReadableStream): Promise<string[]> {
    try {
      const stream = await this.docker.loadImage(archive, { quiet: true });
      const chunks: Buffer[] = [];
      for await (const chunk of stream) chunks.push(Buffer.from(chunk as Buffer));
      const tags: string[] = [];
      for (const line of Buffer.concat(chunks).toString().split('\n').filter(Boolean)) {
        const event = JSON.parse(line) as { stream?: string; error?: string; errorDetail?: { message?: string } };
        if (event.error) throw new Error(event.errorDetail?.message ?? event.error);
        const m = /Loaded image: (\S+)/.exec(event.stream ?? '');
        if (m) tags.push(m[1]!);
      }
      return tags;
    } catch (error) {
      throw failed('load images', error);
    }
  }

  /** One host: every workload is here. */
  workloadNode(): Promise<string | undefined> {
    return Promise.resolve(undefined);
  }

  pushImage(ref: string, registry: string, onStep: (line: string) => void): Promise<string> {
    return pushImage(this.docker, ref, registry, onStep);
  }
}
