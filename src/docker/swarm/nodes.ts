import type Docker from 'dockerode';
import { ExitCode, LabctlError } from '../../errors.js';
import { newest, nodeAddress, type SwarmNode, type SwarmTask } from './api.js';
import { pinnedNode } from './constraints.js';
import { inspectService } from './services.js';

/** Where a student's services run: the node each is pinned to, and the node of its running task. */

export async function listNodes(docker: Docker): Promise<SwarmNode[]> {
  return (await docker.listNodes()) as SwarmNode[];
}

/** The address of the node the service is pinned to (its volumes are there), whether or not its task runs yet. */
export async function workloadNode(docker: Docker, name: string): Promise<string | undefined> {
  const service = await inspectService(docker, name);
  const id = pinnedNode(service?.Spec.TaskTemplate.Placement.Constraints);
  if (!id) return undefined;
  return nodeAddress((await listNodes(docker)).find((n) => n.ID === id));
}

/**
 * The container of service `name`'s running task, when it runs on this node (whose engine this is); an error naming
 * the node it runs on otherwise, as what is asked of it (its stats) is read only there.
 */
export async function containerHere(docker: Docker, name: string): Promise<string> {
  const [tasks, info] = await Promise.all([
    docker.listTasks({ filters: { service: [name], 'desired-state': ['running'] } }) as Promise<SwarmTask[]>,
    docker.info() as Promise<{ Swarm?: { NodeID?: string } }>,
  ]);
  const task = newest(tasks.filter((t) => t.Status.State === 'running'));
  const container = task?.Status.ContainerStatus?.ContainerID;
  if (!task || !container) {
    throw new LabctlError(ExitCode.engine, `Service ${name} has no running task.`, 'Start it with `labctl up`.');
  }
  const nodeId = task.NodeID ?? '';
  if (nodeId === info.Swarm?.NodeID) return container;
  const node = (await listNodes(docker)).find((n) => n.ID === nodeId);
  const where = `${node?.Description.Hostname ?? nodeId} (${nodeAddress(node) ?? '?'})`;
  throw new LabctlError(
    ExitCode.engine,
    `${name} runs on node ${where}; its engine stats are read only on the node it runs on.`,
    `Read them with DOCKER_HOST pointing at ${node?.Description.Hostname ?? 'that node'}'s engine.`,
    'other-node',
  );
}
