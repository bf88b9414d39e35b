import type { ServiceSpec } from './service-spec.js';

/** The parts of the Swarm API's answers (Docker API 1.41) that the Swarm engine reads. */

export interface SwarmService {
  ID: string;
  Version: { Index: number };
  Spec: ServiceSpec;
  PreviousSpec?: ServiceSpec;
  Endpoint?: { Ports?: { TargetPort: number; PublishedPort: number }[] };
}

export interface SwarmTask {
  ID: string;
  ServiceID: string;
  NodeID?: string;
  DesiredState: string;
  Status: {
    State: string;
    Message?: string;
    Err?: string;
    Timestamp?: string;
    ContainerStatus?: { ContainerID?: string; ExitCode?: number };
  };
}

export interface SwarmNode {
  ID: string;
  Spec: { Labels?: Record<string, string>; Role: string; Availability: string };
  Description: { Hostname: string; Platform?: { OS?: string; Architecture?: string } };
  Status: { State: string; Addr?: string };
}

/** The most recent of a service's tasks. */
export function newest(tasks: SwarmTask[]): SwarmTask | undefined {
  return tasks.reduce<SwarmTask | undefined>(
    (best, t) => (!best || (t.Status.Timestamp ?? '') > (best.Status.Timestamp ?? '') ? t : best),
    undefined,
  );
}

/** The address a node is reached at: its Swarm address. */
export function nodeAddress(node: SwarmNode | undefined): string | undefined {
  return node?.Status.Addr && node.Status.Addr !== '0.0.0.0' ? node.Status.Addr : node?.Description.Hostname;
}
