import { Readable } from 'node:stream';
import type Docker from 'dockerode';
import type { LockHolder } from '../engine.js';
import { failed, removed, statusIs } from '../errors.js';

/**
 * A lock is a container (created, never started): container names are exclusive on an engine, so whoever creates
 * it holds the lock, across shells and hosts.
 */

/** An empty image for lock containers, so a lock needs no image built or pulled. */
const LOCK_IMAGE = { repo: 'labctl/lock', tag: '1' };

export async function acquireLock(
  docker: Docker,
  name: string,
  labels: Record<string, string>,
): Promise<string | undefined> {
  const create = () =>
    docker.createContainer({ name, Image: `${LOCK_IMAGE.repo}:${LOCK_IMAGE.tag}`, Cmd: ['true'], Labels: labels });
  try {
    try {
      return (await create()).id;
    } catch (error) {
      if (!statusIs(error, 404)) throw error;
      // No lock image yet: import an empty one (an empty tar), then try again.
      const stream = await docker.importImage(Readable.from([Buffer.alloc(1024)]) as unknown as string, LOCK_IMAGE);
      await new Promise((resolve, reject) =>
        docker.modem.followProgress(stream, (e: Error | null) => (e ? reject(e) : resolve(undefined))),
      );
      return (await create()).id;
    }
  } catch (error) {
    // Container names are exclusive: 409 means someone holds the lock.
    if (statusIs(error, 409)) return undefined;
    throw failed(`create lock ${name}`, error);
  }
}

export async function lockHolder(docker: Docker, name: string): Promise<LockHolder | undefined> {
  try {
    const c = await docker.getContainer(name).inspect();
    return { id: c.Id, labels: c.Config.Labels ?? {} };
  } catch (error) {
    if (statusIs(error, 404)) return undefined;
    throw failed(`read lock ${name}`, error);
  }
}

export function releaseLock(docker: Docker, id: string): Promise<void> {
  return removed(`lock ${id}`, docker.getContainer(id).remove({ force: true }));
}
