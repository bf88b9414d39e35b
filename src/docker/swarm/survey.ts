import type Docker from 'dockerode';
import { dockerClient } from '../client.js';
import { nodeAddress, type SwarmNode } from './api.js';
import { listServices } from './services.js';

/** What this engine is, Swarm-wise: for the choice of engine and for `doctor`. */

export interface SwarmSurvey {
  /** This engine's swarm state: inactive, active, pending, error. */
  state: string;
  manager: boolean;
  nodes: { hostname: string; address: string; ready: boolean }[];
  /** docker_gwbridge's subnet on this node, when there is one. */
  gwbridge?: string;
  gwbridgeStudents?: number;
}

type SwarmInfo = { Swarm?: { LocalNodeState?: string; ControlAvailable?: boolean } };

/** Whether this engine is a Swarm manager (and so can run a class on Swarm). */
export async function isManager(docker: Docker = dockerClient()): Promise<boolean> {
  const info = (await docker.info()) as SwarmInfo;
  return info.Swarm?.LocalNodeState === 'active' && info.Swarm.ControlAvailable === true;
}

/** Whether class `className` (any class, without one) runs as services here: services carrying `classKey`. */
export async function holdsClass(classKey: string, className?: string, docker = dockerClient()): Promise<boolean> {
  if (!(await isManager(docker).catch(() => false))) return false;
  const services = await listServices(docker, [className ? `${classKey}=${className}` : classKey]);
  return services.length > 0;
}

/**
 * What `doctor` says of Swarm on this engine: whether it is in a swarm and a manager, its nodes, and how many
 * students this node's docker_gwbridge has room for (each task with published ports takes an address there).
 */
export async function survey(docker: Docker = dockerClient()): Promise<SwarmSurvey> {
  const info = (await docker.info()) as SwarmInfo;
  const state = info.Swarm?.LocalNodeState ?? 'inactive';
  const manager = state === 'active' && info.Swarm?.ControlAvailable === true;
  const nodes = manager
    ? ((await docker.listNodes()) as SwarmNode[]).map((n) => ({
        hostname: n.Description.Hostname,
        address: nodeAddress(n) ?? '',
        ready: n.Status.State === 'ready' && n.Spec.Availability === 'active',
      }))
    : [];
  const bridge = await docker
    .getNetwork('docker_gwbridge')
    .inspect()
    .catch(() => undefined);
  const subnet = (bridge as { IPAM?: { Config?: { Subnet?: string }[] } } | undefined)?.IPAM?.Config?.[0]?.Subnet;
  const prefix = subnet ? Number(subnet.split('/')[1]) : undefined;
  // Addresses of the subnet but its network, broadcast and gateway; two workloads per student.
  const gwbridgeStudents = prefix ? Math.floor((2 ** (32 - prefix) - 3) / 2) : undefined;
  return { state, manager, nodes, gwbridge: subnet, gwbridgeStudents };
}
