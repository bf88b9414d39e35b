import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, rmdir, statfs, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { ExitCode, LabctlError } from '../errors.js';
import type { DiskInfo, DiskSpec } from './engine.js';

const run = promisify(execFile);

/** Where the engine's host keeps the students' disks: an image file and its mount point each. */
export const DISKS_DIR = process.env.LABCTL_DISKS_DIR ?? '/var/lib/labctl/disks';

const TOOLS = ['mkfs.ext4', 'mount', 'umount'];

function onPath(tool: string): boolean {
  return (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin')
    .split(':')
    .some((dir) => dir && existsSync(path.join(dir, tool)));
}

/** How a disk is mounted: no devices, no set-uid, and no background zeroing of inode tables that read as zeros. */
const MOUNT = 'loop,nosuid,nodev,noinit_itable';

/** The mount points in this mount namespace (field 5 of /proc/self/mountinfo, with its octal escapes). */
async function mountPoints(): Promise<Set<string>> {
  const text = await readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
  return new Set(
    text
      .split('\n')
      .map((line) => line.split(' ')[4])
      .filter((p): p is string => Boolean(p))
      .map((p) => p.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)))),
  );
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Each student's disk: a fixed-size ext4 image, loop-mounted on the engine's host, that holds the volumes a student
 * can fill (mailboxes, homes, logs, the message archive, the mail queue). The kernel stops their writes at its size,
 * whatever writes, so one student can never fill the host's disk. It works where labctl runs as root on the engine's
 * own host; elsewhere `available()` says why not, and volumes are plain.
 */
export class HostDisks {
  constructor(readonly dir: string = DISKS_DIR) {}

  /** Room left on the host's filesystem that holds the disks. */
  async freeBytes(): Promise<number | undefined> {
    let dir = this.dir;
    while (!existsSync(dir) && path.dirname(dir) !== dir) dir = path.dirname(dir);
    const fs = await statfs(dir).catch(() => undefined);
    return fs && fs.bavail * fs.bsize;
  }

  /** Whether disks can be made here; why not, when they cannot. */
  available(remote: boolean): { ok: true } | { ok: false; why: string } {
    if (remote) return { ok: false, why: 'the Docker engine is on another host (DOCKER_HOST)' };
    if (process.getuid?.() !== 0) return { ok: false, why: 'labctl does not run as root, so it cannot mount disks' };
    if (!existsSync('/dev/loop-control'))
      return { ok: false, why: 'this host has no loop devices (/dev/loop-control)' };
    const missing = TOOLS.filter((t) => !onPath(t));
    if (missing.length > 0)
      return { ok: false, why: `${missing.join(', ')} not found (apt-get install e2fsprogs mount)` };
    return { ok: true };
  }

  image(name: string) {
    return path.join(this.dir, `${name}.img`);
  }
  mountPoint(name: string) {
    return path.join(this.dir, name);
  }
  private meta(name: string) {
    return path.join(this.dir, `${name}.json`);
  }

  /**
   * Makes the disk if it is missing (a sparse file: it takes host space only as it fills), and mounts it if it is
   * not. Resolves to what it did.
   */
  async ensure(disk: DiskSpec): Promise<'created' | 'mounted' | 'present'> {
    const image = this.image(disk.name);
    const target = this.mountPoint(disk.name);
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    let made = false;
    if (!existsSync(image)) {
      const partial = `${image}.new`;
      try {
        await rm(partial, { force: true });
        await writeFile(partial, '', { mode: 0o600 });
        await truncate(partial, disk.bytes);
        // 10% reserved for root: rsyslog (root) still writes the logs on a disk the student filled (core/plan.ts diskLimits).
        // The file is new and sparse, so it reads as zeros: the journal and the inode tables need no zeroing, neither
        // now (32 MiB written per 1 GiB disk, 5 GB for a class of 150 while it starts) nor after the mount (MOUNT).
        await run('mkfs.ext4', [
          ...['-q', '-F', '-m', '10', '-b', '4096', '-L', disk.name.slice(-16)],
          ...['-E', 'lazy_itable_init=1,lazy_journal_init=1', partial],
        ]);
        await writeFile(this.meta(disk.name), JSON.stringify({ labels: disk.labels, bytes: disk.bytes }), {
          mode: 0o600,
        });
        await rename(partial, image);
      } catch (error) {
        await rm(partial, { force: true });
        throw this.failed(`make disk ${disk.name}`, error);
      }
      made = true;
    }
    if ((await mountPoints()).has(target)) return made ? 'created' : 'present';
    await mkdir(target, { recursive: true, mode: 0o700 });
    try {
      // nosuid, nodev: nothing a student writes there can become a setuid program or a device.
      await run('mount', ['-o', MOUNT, image, target]);
    } catch (error) {
      throw this.failed(`mount disk ${disk.name}`, error);
    }
    return made ? 'created' : 'mounted';
  }

  /**
   * The directory for volume `volume` on the mounted disk (made if missing). Refuses when the disk is not mounted:
   * a directory made under a bare mount point would sit on the host's own disk, unbounded.
   */
  async volumeDir(disk: string, volume: string): Promise<string> {
    const target = this.mountPoint(disk);
    if (!(await mountPoints()).has(target)) {
      throw new LabctlError(
        ExitCode.engine,
        `Disk ${disk} is not mounted at ${target}, so volume ${volume} cannot be placed on it.`,
        'Run `labctl up` again: it mounts the disks.',
      );
    }
    const dir = path.join(target, volume);
    await mkdir(dir, { recursive: true, mode: 0o755 });
    return dir;
  }

  /** Unmounts the disk and deletes it, with everything on it. A disk already gone is fine. */
  async remove(name: string): Promise<void> {
    const target = this.mountPoint(name);
    for (let attempt = 0; (await mountPoints()).has(target); attempt++) {
      try {
        await run('umount', attempt < 20 ? [target] : ['-l', target]);
      } catch (error) {
        // Busy while the engine lets go of a removed container's mounts: try again, then detach it lazily.
        if (attempt >= 20) throw this.failed(`unmount disk ${name}`, error);
        await sleep(250);
      }
    }
    await rmdir(target).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw this.failed(`remove ${target}`, error);
    });
    await rm(this.image(name), { force: true });
    await rm(this.meta(name), { force: true });
  }

  /** The disks on this host, with their labels, whether they are mounted, and how full. */
  async list(): Promise<DiskInfo[]> {
    const names = (await readdir(this.dir).catch((): string[] => []))
      .filter((f) => f.endsWith('.json'))
      .map((f) => f.slice(0, -'.json'.length));
    const mounted = await mountPoints();
    const disks: DiskInfo[] = [];
    for (const name of names) {
      const meta = await readFile(this.meta(name), 'utf8')
        .then((t) => JSON.parse(t) as { labels?: Record<string, string>; bytes?: number })
        .catch(() => undefined);
      if (!meta?.labels || !existsSync(this.image(name))) continue;
      const isMounted = mounted.has(this.mountPoint(name));
      const usage = isMounted ? await statfs(this.mountPoint(name)).catch(() => undefined) : undefined;
      disks.push({
        name,
        labels: meta.labels,
        bytes: meta.bytes ?? 0,
        mounted: isMounted,
        ...(usage && {
          usedBytes: (usage.blocks - usage.bfree) * usage.bsize,
          availableBytes: usage.bavail * usage.bsize,
        }),
      });
    }
    return disks;
  }

  private failed(action: string, error: unknown): LabctlError {
    const e = error as { stderr?: string; message?: string };
    return new LabctlError(ExitCode.engine, `Failed to ${action}: ${(e.stderr || e.message || String(error)).trim()}`);
  }
}
