/** A student's workload (WorkloadSpec) as a Swarm service spec: pure, nothing here talks to Docker. */
import type { WorkloadSpec } from '../engine.js';

/** Marks the class's objects as run by Swarm, so the other commands find the engine from the class. */
export const ENGINE_LABEL = 'dev.labctl.engine';

/** The parts of a Swarm service spec labctl writes (Docker API 1.41, Docker 20.10). */
export interface ServiceSpec {
  Name: string;
  Labels: Record<string, string>;
  TaskTemplate: {
    ContainerSpec: {
      Image: string;
      Hostname: string;
      Env: string[];
      Labels: Record<string, string>;
      User?: string;
      ReadOnly: boolean;
      Mounts: ServiceMount[];
      CapabilityAdd?: string[];
      CapabilityDrop?: string[];
      StopGracePeriod: number;
    };
    Resources?: { Limits: { NanoCPUs: number; MemoryBytes: number; Pids: number } };
    RestartPolicy: { Condition: 'any'; Delay: number };
    Placement: { Constraints: string[] };
    Networks: { Target: string; Aliases?: string[] }[];
    LogDriver?: { Name: string; Options: Record<string, string> };
  };
  Mode: { Replicated: { Replicas: number } };
  UpdateConfig: { Order: 'stop-first'; Parallelism: number; FailureAction: 'pause' };
  EndpointSpec: {
    Mode: 'dnsrr';
    Ports: { Protocol: 'tcp'; TargetPort: number; PublishedPort: number; PublishMode: 'host' }[];
  };
}

export type ServiceMount =
  | {
      Type: 'volume';
      Source: string;
      Target: string;
      ReadOnly: boolean;
      VolumeOptions: { Labels: Record<string, string> };
    }
  | { Type: 'tmpfs'; Target: string; TmpfsOptions: { SizeBytes?: number; Mode?: number } };

/** Docker's tmpfs options (`size=64m,mode=1777`) as a Swarm tmpfs mount's options. */
export function tmpfsOptions(options: string): { SizeBytes?: number; Mode?: number } {
  const out: { SizeBytes?: number; Mode?: number } = {};
  for (const part of options.split(',').filter(Boolean)) {
    const [key, value = ''] = part.split('=');
    if (key === 'size') {
      const m = /^(\d+)([kmg]?)$/i.exec(value);
      if (!m) throw new Error(`tmpfs size ${value} is not a size`);
      const unit = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g'];
      out.SizeBytes = Number(m[1]) * unit;
    } else if (key === 'mode') {
      if (!/^[0-7]{3,4}$/.test(value)) throw new Error(`tmpfs mode ${value} is not an octal mode`);
      out.Mode = parseInt(value, 8);
    } else {
      throw new Error(`tmpfs option ${part} has no Swarm equivalent`);
    }
  }
  return out;
}

/** Whether an image reference names a registry host (`host:5000/…`, `registry.example/…`). */
const FROM_REGISTRY = /^[^/]+[.:][^/]*\//;
const PINNED = /@sha256:[0-9a-f]{64}$/;

/**
 * Image `repo:tag` as pushed to `registry`, by its digest: `registry/repo:tag@sha256:…`, from the digests the engine
 * recorded when it pushed it there (the image's RepoDigests), or undefined when it never did.
 */
export function pinnedReference(image: string, registry: string, repoDigests: readonly string[]): string | undefined {
  const target = `${registry.replace(/\/+$/, '')}/${image}`;
  const colon = target.lastIndexOf(':');
  const repo = colon > target.lastIndexOf('/') ? target.slice(0, colon) : target;
  const digest = repoDigests.find((d) => d.startsWith(`${repo}@`) && PINNED.test(d));
  return digest && `${target}${digest.slice(repo.length)}`;
}

/**
 * A student's workload as a service of one replica (or none, stopped): the same name and labels as the container,
 * its labels on the container template too, pinned to `nodeId` (the student's volumes are on that node), its ports
 * published in host mode on that node (no routing mesh: it needs IPVS), limits and capabilities as on one host.
 * What Swarm on Docker 20.10 cannot say (see the README's Security model): no-new-privileges, the swap limit, and the
 * address ports are bound to (host mode publishes on every address of the node). An image from a registry must be
 * pinned to its digest (pinnedReference): a node pulls what the tag names when its task starts, and anyone who can
 * push to the registry could have moved it.
 */
export function serviceSpec(
  spec: WorkloadSpec,
  options: {
    nodeId: string;
    constraints?: string[];
    replicas: number;
    volumeLabels: (name: string) => Record<string, string>;
  },
): ServiceSpec {
  if (FROM_REGISTRY.test(spec.image) && !PINNED.test(spec.image)) {
    throw new Error(`Service ${spec.name}: image ${spec.image} comes from a registry by tag alone, not by digest`);
  }
  const labels = { ...spec.labels, [ENGINE_LABEL]: 'swarm' };
  const mounts: ServiceMount[] = spec.mounts.map((m) => ({
    Type: 'volume',
    Source: m.volume,
    Target: m.target,
    ReadOnly: m.readOnly ?? false,
    // A volume is created on the node that first runs the task, labelled like the local engine's.
    VolumeOptions: { Labels: options.volumeLabels(m.volume) },
  }));
  for (const [target, opts] of Object.entries(spec.security?.tmpfs ?? {})) {
    mounts.push({ Type: 'tmpfs', Target: target, TmpfsOptions: tmpfsOptions(opts) });
  }
  const security = spec.security;
  return {
    Name: spec.name,
    Labels: labels,
    TaskTemplate: {
      ContainerSpec: {
        Image: spec.image,
        Hostname: spec.hostname,
        Env: spec.env ?? [],
        Labels: labels,
        ...(security?.user && { User: security.user }),
        ReadOnly: security?.readOnlyRootfs ?? false,
        Mounts: mounts,
        ...(security?.capAdd?.length && { CapabilityAdd: security.capAdd }),
        ...(security?.capDrop?.length && { CapabilityDrop: security.capDrop }),
        // The mail server's PID 1 stops its daemons on SIGTERM; like the local engine's stop.
        StopGracePeriod: 5e9,
      },
      ...(spec.limits && {
        Resources: {
          Limits: {
            NanoCPUs: Math.round(spec.limits.cpus * 1e9),
            MemoryBytes: spec.limits.memoryBytes,
            Pids: spec.limits.pids,
          },
        },
        LogDriver: {
          Name: 'json-file',
          Options: { 'max-size': spec.limits.log.maxSize, 'max-file': String(spec.limits.log.maxFiles) },
        },
      }),
      RestartPolicy: { Condition: 'any', Delay: 1e9 },
      Placement: { Constraints: [`node.id==${options.nodeId}`, ...(options.constraints ?? [])] },
      Networks: [{ Target: spec.network }],
    },
    Mode: { Replicated: { Replicas: options.replicas } },
    // A host-mode port can be held by one task at a time on a node: the old task stops before the new one starts.
    UpdateConfig: { Order: 'stop-first', Parallelism: 1, FailureAction: 'pause' },
    EndpointSpec: {
      // DNS round robin: no virtual IP, hence no IPVS, which this kind of kernel lacks.
      Mode: 'dnsrr',
      Ports: spec.ports.map((p) => ({
        Protocol: 'tcp',
        TargetPort: p.container,
        PublishedPort: p.host,
        PublishMode: 'host',
      })),
    },
  };
}
