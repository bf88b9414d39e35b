import type Docker from 'dockerode';
import { ExitCode, LabctlError, usageError } from '../../errors.js';
import type { EngineNode, LabelKeys, WorkloadMove } from '../engine.js';
import { nodeAddress } from './api.js';
import { matches, nodeView, parseConstraint, pinnedNode } from './constraints.js';
import { listNodes } from './nodes.js';
import type { ServiceSpec } from './service-spec.js';
import { listServices, stopService, updateService } from './services.js';
import { copyVolumes, studentServices } from './transfer.js';
import { removeOnNode } from './volumes.js';

/**
 * A student carried to another node: their services stopped (so the mailboxes hold still), their volumes copied
 * (transfer.ts), their services pinned to the new node and started there. The old node's volumes stay until the
 * core has seen the student answer there (commit); until then, and on any failure, the student can go back.
 */

/** The nodes, each with the labctl students pinned to it (both services of a student count once). */
export async function swarmNodes(docker: Docker, keys: LabelKeys): Promise<EngineNode[]> {
  const [nodes, services] = await Promise.all([listNodes(docker), listServices(docker, [keys.class])]);
  const students = new Map<string, Set<string>>();
  for (const s of services) {
    const id = pinnedNode(s.Spec.TaskTemplate.Placement?.Constraints);
    if (!id) continue;
    const set = students.get(id) ?? new Set();
    set.add(`${s.Spec.Labels[keys.class]}/${s.Spec.Labels[keys.student]}`);
    students.set(id, set);
  }
  return nodes.map((n) => ({
    id: n.ID,
    name: n.Description.Hostname,
    address: nodeAddress(n),
    state: n.Status.State,
    availability: n.Spec.Availability,
    students: students.get(n.ID)?.size ?? 0,
  }));
}

/** The same spec, pinned to node `nodeId` instead, with `replicas`. */
function repinned(spec: ServiceSpec, nodeId: string, replicas: number): ServiceSpec {
  const others = spec.TaskTemplate.Placement.Constraints.filter((c) => !/^\s*node\.id\s*==/.test(c));
  return {
    ...spec,
    TaskTemplate: { ...spec.TaskTemplate, Placement: { Constraints: [...others, `node.id==${nodeId}`] } },
    Mode: { Replicated: { Replicas: replicas } },
  };
}

/** Services `names` (one student's) carried to node `toId` with their volumes; see Engine.moveWorkloads. */
export async function moveWorkloads(
  docker: Docker,
  keys: LabelKeys,
  names: string[],
  toId: string,
): Promise<WorkloadMove> {
  const { services, mail, mounts } = await studentServices(docker, keys.role, names);
  const nodes = await listNodes(docker);
  const fromId = pinnedNode(mail.Spec.TaskTemplate.Placement.Constraints);
  const from = nodes.find((n) => n.ID === fromId);
  const to = nodes.find((n) => n.ID === toId);
  if (!to) throw usageError(`Node ${toId} is not in the swarm.`);
  if (!from || from.Status.State !== 'ready') {
    throw new LabctlError(
      ExitCode.engine,
      `Node ${from?.Description.Hostname ?? fromId ?? '?'}, which holds ${mail.Spec.Name}'s volumes, is ${from?.Status.State ?? 'gone from the swarm'}: they cannot be read.`,
      'Bring the node back first.',
      'node-unavailable',
    );
  }
  if (from.ID === to.ID) throw usageError(`${mail.Spec.Name} is on node ${to.Description.Hostname} already.`);
  // The instructor's constraints (a room, say) hold on the new node too.
  for (const text of mail.Spec.TaskTemplate.Placement.Constraints) {
    if (/^\s*node\.id\s*==/.test(text)) continue;
    const constraint = parseConstraint(text);
    if (!matches(nodeView(to), constraint))
      throw new LabctlError(
        ExitCode.usage,
        `Node ${to.Description.Hostname} does not meet the class's placement constraint ${text}.`,
        undefined,
        'placement',
      );
  }
  const previous = new Map(services.map((s) => [s.Spec.Name, s.Spec]));
  const replicas = (spec: ServiceSpec) => spec.Mode.Replicated?.Replicas ?? 0;
  const wasRunning = services.some((s) => replicas(s.Spec) > 0);
  const volumes = mounts.map((m) => m.Source);
  const image = mail.Spec.TaskTemplate.ContainerSpec.Image;
  const stopAll = () => Promise.all(names.map((name) => stopService(docker, name, 3)));
  const restore = () =>
    Promise.all(names.map((name) => updateService(docker, name, () => structuredClone(previous.get(name)!))));
  /** The new node's copies, which hold nothing of the student's that the old node lacks. */
  const dropCopies = () => removeOnNode(docker, { nodeId: to.ID, image }, volumes).catch(() => undefined);

  await stopAll();
  let bytes: number;
  try {
    bytes = await copyVolumes(docker, { mailName: mail.Spec.Name, image, mounts, from, to });
    await Promise.all(
      names.map((name) => updateService(docker, name, (spec) => repinned(spec, to.ID, replicas(previous.get(name)!)))),
    );
  } catch (error) {
    await stopAll().catch(() => undefined);
    await restore().catch(() => undefined);
    await dropCopies();
    throw error;
  }
  return {
    from: from.Description.Hostname,
    to: to.Description.Hostname,
    bytes,
    wasRunning,
    undo: async () => {
      await stopAll();
      await restore();
      await dropCopies();
    },
    commit: async () => {
      const results = await removeOnNode(docker, { nodeId: from.ID, image }, volumes);
      const kept = [...results].filter(([, why]) => why !== undefined);
      if (kept.length > 0) {
        throw new LabctlError(
          ExitCode.engine,
          `The old copies of ${kept.length} volume(s) stay on node ${from.Description.Hostname}: ${kept.map(([v, why]) => `${v} (${why})`).join(', ')}.`,
          `Remove them on that node (\`docker volume rm\`): the student runs on ${to.Description.Hostname} with their own copies.`,
          'volume-kept',
        );
      }
    },
  };
}
