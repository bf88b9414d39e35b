import type Docker from 'dockerode';
import { ExitCode, LabctlError } from '../../errors.js';
import { engineMessage, failed, statusIs } from '../errors.js';
import { retry, until } from '../retry.js';
import type { SwarmService, SwarmTask } from './api.js';
import type { ServiceSpec } from './service-spec.js';

/** A student's workload as a service: scaled to one replica to run, to none to stop. */

/** Marks a job service with the mail service it works for (see jobs.ts). */
export const JOB_LABEL = 'dev.labctl.job';

/** The states of a task that has not stopped yet (or not started yet). */
const ACTIVE = ['running', 'starting', 'preparing', 'ready', 'assigned', 'accepted', 'pending', 'new'];

export async function listServices(docker: Docker, label?: string[]): Promise<SwarmService[]> {
  return (await docker.listServices(label ? { filters: { label } } : undefined)) as unknown as SwarmService[];
}

export async function inspectService(docker: Docker, name: string): Promise<SwarmService | undefined> {
  try {
    return (await docker.getService(name).inspect()) as SwarmService;
  } catch (error) {
    if (statusIs(error, 404)) return undefined;
    throw failed(`inspect service ${name}`, error);
  }
}

export function serviceTasks(docker: Docker, name: string): Promise<SwarmTask[]> {
  return docker.listTasks({ filters: { service: [name] } }) as Promise<SwarmTask[]>;
}

/** Changes a service's spec; the version check refuses an update made on a stale read, so it reads again and retries. */
export async function updateService(
  docker: Docker,
  name: string,
  change: (spec: ServiceSpec) => ServiceSpec,
): Promise<void> {
  try {
    await retry(
      async () => {
        const current = await inspectService(docker, name);
        if (!current) throw new LabctlError(ExitCode.engine, `Service ${name} is not on the swarm any more.`);
        await docker
          .getService(name)
          .update({ ...change(structuredClone(current.Spec)), version: current.Version.Index });
      },
      { tries: 4, retryable: (error) => /out of sequence|update out of/i.test(engineMessage(error)) },
    );
  } catch (error) {
    throw failed(`update service ${name}`, error);
  }
}

export const scaled = (replicas: number) => (spec: ServiceSpec) => ({
  ...spec,
  Mode: { Replicated: { Replicas: replicas } },
});

/** Scales to none and waits until its task has stopped (its host ports are free then). */
export async function stopService(docker: Docker, name: string, timeoutSeconds: number): Promise<void> {
  const current = await inspectService(docker, name);
  if (!current) return;
  if ((current.Spec.Mode.Replicated?.Replicas ?? 0) > 0) await updateService(docker, name, scaled(0));
  const seconds = timeoutSeconds + 20;
  const stopped = await until(
    async () => {
      const tasks = await serviceTasks(docker, name).catch((error: unknown) => {
        if (statusIs(error, 404)) return [];
        throw failed(`list the tasks of ${name}`, error);
      });
      return tasks.every((t) => !ACTIVE.includes(t.Status.State));
    },
    { timeoutMs: seconds * 1000, intervalMs: 250 },
  );
  if (!stopped) throw new LabctlError(ExitCode.engine, `Service ${name}'s task did not stop in ${seconds} s.`);
}

/** Removes the service and its jobs, then waits until its tasks (and their containers on this node) are gone. */
export async function removeService(docker: Docker, name: string): Promise<void> {
  // Its jobs first (a `logs --follow` still running, or one left by an interrupted labctl).
  const jobs = await docker.listServices({ filters: { label: [`${JOB_LABEL}=${name}`] } }).catch(() => []);
  await Promise.all(jobs.map((j) => removeService(docker, j.Spec?.Name ?? j.ID!).catch(() => {})));
  try {
    await docker.getService(name).remove();
  } catch (error) {
    if (!statusIs(error, 404)) throw failed(`remove service ${name}`, error);
  }
  await until(
    async () => {
      const [tasks, containers] = await Promise.all([
        serviceTasks(docker, name).catch(() => []),
        docker.listContainers({ all: true, filters: { label: [`com.docker.swarm.service.name=${name}`] } }),
      ]);
      return tasks.length === 0 && containers.length === 0;
    },
    { timeoutMs: 60_000, intervalMs: 250 },
  );
}
