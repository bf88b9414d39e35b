import type Docker from 'dockerode';
import { ExitCode, LabctlError } from '../../errors.js';
import { engineMessage, failed, removed, statusIs } from '../errors.js';
import { retry } from '../retry.js';
import { ENGINE_LABEL } from './service-spec.js';

/** A student's overlay network, and the volumes this node holds. */

export async function createNetwork(docker: Docker, name: string, labels: Record<string, string>): Promise<void> {
  try {
    await docker.createNetwork({
      Name: name,
      Driver: 'overlay',
      Attachable: true,
      Labels: { ...labels, [ENGINE_LABEL]: 'swarm' },
      CheckDuplicate: true,
    });
  } catch (error) {
    if (/address pool|non-overlapping|no available/i.test(engineMessage(error))) {
      throw new LabctlError(
        ExitCode.engine,
        `The swarm has no free subnet left for network ${name}.`,
        'Create the swarm with a larger pool: `docker swarm init --default-addr-pool 10.0.0.0/8 --default-addr-pool-mask-length 26`.',
        'no-subnet',
      );
    }
    throw failed(`create network ${name}`, error);
  }
}

/** An overlay network is let go a moment after its last task: tried again a few times while it is in use. */
export function removeNetwork(docker: Docker, name: string): Promise<void> {
  return removed(
    `network ${name}`,
    retry(() => docker.getNetwork(name).remove(), {
      tries: 21,
      delayMs: 500,
      retryable: (error) => /active endpoints|in use/i.test(engineMessage(error)),
    }),
  );
}

/** Removes the volume where this engine sees it (this node); a volume on another node stays there. */
export function removeVolume(docker: Docker, name: string): Promise<void> {
  return removed(
    `volume ${name}`,
    retry(() => docker.getVolume(name).remove(), {
      tries: 21,
      delayMs: 500,
      retryable: (error) => statusIs(error, 409),
    }),
  );
}
