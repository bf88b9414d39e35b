import type Docker from 'dockerode';
import type { ClassObjects, WorkloadInfo, LabelledObject } from '../engine.js';
import { failed } from '../errors.js';
import { newest, nodeAddress, type SwarmNode, type SwarmService, type SwarmTask } from './api.js';
import { pinnedNode } from './constraints.js';
import { listNodes } from './nodes.js';
import { listServices } from './services.js';
import { volumeHomes, type VolumeHome } from './volumes.js';

/** A service as the core sees a workload: its state from its newest running task, on the node it is placed on. */
function workload(s: SwarmService, tasks: SwarmTask[], nodeById: Map<string, SwarmNode>): WorkloadInfo {
  const task = newest(tasks.filter((t) => t.ServiceID === s.ID));
  const replicas = s.Spec.Mode.Replicated?.Replicas ?? 0;
  const pinned = pinnedNode(s.Spec.TaskTemplate.Placement?.Constraints);
  const node = nodeById.get(task?.NodeID ?? pinned ?? '');
  // Its node is down, or gone from the swarm: whatever its task last said, it has no server.
  const lost = node ? (node.Status.State === 'ready' ? undefined : node.Status.State) : pinned ? 'gone' : undefined;
  const state =
    replicas === 0
      ? 'exited'
      : lost
        ? 'lost'
        : task?.Status.State === 'running'
          ? 'running'
          : task
            ? 'restarting'
            : 'created';
  return {
    id: s.ID,
    name: s.Spec.Name,
    labels: s.Spec.Labels ?? {},
    // The plan's name of the image, whichever registry it is pulled from.
    image: s.Spec.TaskTemplate.ContainerSpec.Image.replace(/@sha256:.*$/, '').replace(/^[^/]+[.:][^/]*\//, ''),
    state,
    status: task
      ? `${task.Status.State}${task.Status.Err ? ` (${task.Status.Err})` : ''} on ${node?.Description.Hostname ?? task.NodeID ?? '?'}`
      : `${replicas} replica(s)`,
    node: nodeAddress(node),
    ...((node || pinned) && { nodeName: node?.Description.Hostname ?? pinned }),
    ...(lost && { nodeLost: lost }),
    ports: (s.Spec.EndpointSpec?.Ports ?? []).map((p) => ({ container: p.TargetPort, host: p.PublishedPort, ip: '' })),
  };
}

/**
 * The services, overlay networks and volumes carrying label `classKey` (= className when given); `homes` learns the
 * node of each volume the services mount.
 */
export async function listObjects(
  docker: Docker,
  classKey: string,
  className?: string,
  homes?: Map<string, VolumeHome>,
): Promise<ClassObjects> {
  const label = [className ? `${classKey}=${className}` : classKey];
  try {
    const [services, tasks, nodes, networks, volumes] = await Promise.all([
      listServices(docker, label),
      docker.listTasks({ filters: { 'desired-state': ['running'] } }) as Promise<SwarmTask[]>,
      listNodes(docker),
      docker.listNetworks({ filters: { label } }),
      docker.listVolumes({ filters: { label } }),
    ]);
    const nodeById = new Map(nodes.map((n) => [n.ID, n]));
    for (const [name, home] of volumeHomes(services)) homes?.set(name, home);
    // Volumes live on the nodes: this node's, plus those the services mount (on whichever node runs them).
    const seen = new Map<string, LabelledObject>();
    for (const v of volumes.Volumes ?? []) seen.set(v.Name, { name: v.Name, labels: v.Labels ?? {} });
    for (const s of services) {
      for (const m of s.Spec.TaskTemplate.ContainerSpec.Mounts ?? []) {
        if (m.Type === 'volume' && !seen.has(m.Source))
          seen.set(m.Source, { name: m.Source, labels: m.VolumeOptions.Labels });
      }
    }
    return {
      containers: services.map((s) => workload(s, tasks, nodeById)),
      networks: networks.map((n) => ({ name: n.Name, labels: n.Labels ?? {} })),
      volumes: [...seen.values()],
      disks: [],
    };
  } catch (error) {
    throw failed('list labctl services', error);
  }
}

/** Host ports published by services (in host mode, on their node), and the service that holds each. */
export async function servicePorts(docker: Docker, used: Map<number, string>): Promise<Map<number, string>> {
  try {
    for (const s of await listServices(docker))
      for (const p of s.Spec.EndpointSpec?.Ports ?? []) used.set(p.PublishedPort, s.Spec.Name);
    return used;
  } catch (error) {
    throw failed('list published ports', error);
  }
}
