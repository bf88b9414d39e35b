import type Docker from 'dockerode';
import { ExitCode, LabctlError } from '../../errors.js';
import { engineMessage, failed, removed } from '../errors.js';
import type { VolumeDriver } from './student-disks.js';

/** A student's bridge network and volumes. */

export async function createNetwork(docker: Docker, name: string, labels: Record<string, string>): Promise<void> {
  try {
    await docker.createNetwork({ Name: name, Driver: 'bridge', Labels: labels, CheckDuplicate: true });
  } catch (error) {
    if (/address pool|non-overlapping/i.test(engineMessage(error))) {
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

export async function createVolume(
  docker: Docker,
  name: string,
  labels: Record<string, string>,
  driver: VolumeDriver,
): Promise<void> {
  try {
    await docker.createVolume({
      Name: name,
      Labels: labels,
      ...(driver && { Driver: driver.Name, DriverOpts: driver.Options }),
    });
  } catch (error) {
    throw failed(`create volume ${name}`, error);
  }
}

export function removeNetwork(docker: Docker, name: string): Promise<void> {
  return removed(`network ${name}`, docker.getNetwork(name).remove());
}

export function removeVolume(docker: Docker, name: string): Promise<void> {
  return removed(`volume ${name}`, docker.getVolume(name).remove());
}
