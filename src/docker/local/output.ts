import type Docker from 'dockerode';
import { failed } from '../errors.js';
import { demux } from '../streams.js';

/** What a container wrote to its own output, and what it uses: for start-up failures and the bench. */

/** The last `tail` lines of the container's stdout and stderr. */
export async function logs(docker: Docker, name: string, tail: number): Promise<string> {
  try {
    const buffer = (await docker
      .getContainer(name)
      .logs({ stdout: true, stderr: true, tail, follow: false })) as unknown as Buffer;
    const { stdout, stderr } = demux(buffer);
    return stdout + stderr;
  } catch (error) {
    throw failed(`read the logs of ${name}`, error);
  }
}

/** Memory in use, in bytes, without the page cache it could give back (from the engine's stats). */
export async function memoryUsage(docker: Docker, name: string): Promise<number> {
  try {
    const stats = (await docker.getContainer(name).stats({ stream: false })) as unknown as {
      memory_stats: { usage?: number; stats?: Record<string, number> };
    };
    const m = stats.memory_stats;
    const cache = m.stats?.total_inactive_file ?? m.stats?.inactive_file ?? m.stats?.cache ?? 0;
    return Math.max(0, (m.usage ?? 0) - cache);
  } catch (error) {
    throw failed(`read the stats of ${name}`, error);
  }
}
