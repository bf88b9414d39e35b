import { ExitCode, LabctlError } from '../../errors.js';
import { HostDisks } from '../disks.js';
import type { DiskInfo, DiskSpec, DiskSupport } from '../engine.js';
import { remoteEngineHost } from '../net.js';

/**
 * The students' disks of the local engine (docker/disks.ts), where it can make them: only on the engine's own host
 * (never for an engine at DOCKER_HOST: the disks would be this host's). A volume on a student's disk is bound from
 * its directory there.
 */
export class StudentDisks {
  constructor(
    private readonly classKey: string,
    private readonly disks = new HostDisks(),
  ) {}

  private available() {
    return this.disks.available(remoteEngineHost() !== undefined);
  }

  async list(className?: string): Promise<DiskInfo[]> {
    if (!this.available().ok) return [];
    return (await this.disks.list()).filter((d) =>
      className === undefined ? this.classKey in d.labels : d.labels[this.classKey] === className,
    );
  }

  async support(): Promise<DiskSupport> {
    const support = this.available();
    return support.ok ? { ok: true, freeBytes: await this.disks.freeBytes() } : support;
  }

  async create(disk: DiskSpec): Promise<'created' | 'mounted' | 'present'> {
    const support = this.available();
    if (!support.ok) throw new LabctlError(ExitCode.engine, `Cannot make disk ${disk.name}: ${support.why}.`);
    return this.disks.ensure(disk);
  }

  remove(name: string): Promise<void> {
    return this.disks.remove(name);
  }

  /** How a volume on disk `disk` is made (bound from its directory there); undefined for a plain volume. */
  async volumeDriver(volume: string, disk: string | undefined) {
    if (disk === undefined || !this.available().ok) return undefined;
    const device = await this.disks.volumeDir(disk, volume);
    return { Name: 'local', Options: { type: 'none', o: 'bind', device } };
  }
}

export type VolumeDriver = Awaited<ReturnType<StudentDisks['volumeDriver']>>;
