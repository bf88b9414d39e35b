import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { cleanClass, docker } from './docker.js';

const run = promisify(execFile);

/**
 * A one-node swarm for the tests: the engine's own if it is a manager already, else one made here (advertised on
 * loopback). Resolves to whether it was made here, so that only such a swarm is left afterwards.
 */
export async function ensureSwarm(): Promise<boolean> {
  const info = (await docker.info()) as { Swarm?: { LocalNodeState?: string; ControlAvailable?: boolean } };
  if (info.Swarm?.LocalNodeState === 'active') {
    if (!info.Swarm.ControlAvailable) throw new Error('This engine is a Swarm worker: the tests need a manager.');
    return false;
  }
  gwbridgeBefore = await docker
    .getNetwork('docker_gwbridge')
    .inspect()
    .then(
      () => true,
      () => false,
    );
  await run('docker', ['swarm', 'init', '--advertise-addr', '127.0.0.1']);
  return true;
}

/** Whether docker_gwbridge was there before the swarm the tests made (swarm init makes it; leave does not remove it). */
let gwbridgeBefore = true;

/** Leaves the swarm only if the tests made it (ensureSwarm's answer), and removes the docker_gwbridge it made. */
export async function leaveSwarm(created: boolean): Promise<void> {
  if (!created) return;
  await run('docker', ['swarm', 'leave', '--force']);
  if (!gwbridgeBefore) {
    await docker
      .getNetwork('docker_gwbridge')
      .remove()
      .catch(() => {});
  }
}

/** Removes a test class's services, then its containers, networks and volumes, by label. */
export async function cleanSwarmClass(className: string): Promise<void> {
  const info = (await docker.info()) as { Swarm?: { ControlAvailable?: boolean } };
  if (info.Swarm?.ControlAvailable) {
    const services = await docker.listServices({ filters: { label: [`dev.labctl.class=${className}`] } });
    for (const s of services)
      await docker
        .getService(s.ID!)
        .remove()
        .catch(() => {});
    // Task containers go a moment after their service.
    for (let i = 0; i < 80; i++) {
      const left = await docker.listContainers({
        all: true,
        filters: { label: [`dev.labctl.class=${className}`, 'com.docker.swarm.task'] },
      });
      if (left.length === 0) break;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  for (let i = 0; i < 3; i++) await cleanClass(className);
}

/** The running container of a student's workload, on either engine (Swarm's task containers carry the labels too). */
export async function workloadContainer(className: string, student: number, role: 'mail' | 'sidecar') {
  const containers = await docker.listContainers({
    filters: {
      label: [`dev.labctl.class=${className}`, `dev.labctl.student=${student}`, `dev.labctl.role=${role}`],
      status: ['running'],
    },
  });
  if (containers.length !== 1)
    throw new Error(`${containers.length} running ${role} containers for student ${student}`);
  return containers[0]!;
}
