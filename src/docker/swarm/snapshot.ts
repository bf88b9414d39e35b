import type Docker from 'dockerode';
import { ExitCode, LabctlError } from '../../errors.js';
import type { LabelKeys, Snapshot } from '../engine.js';
import { failed } from '../errors.js';
import type { SwarmNode, SwarmService } from './api.js';
import { pinnedNode } from './constraints.js';
import { removeVolume } from './networks.js';
import { listNodes } from './nodes.js';
import { stopService, updateService } from './services.js';
import { copyVolumes, studentServices, type VolumeMount } from './transfer.js';

/**
 * A student's snapshot: copies of their volumes on the manager's node, made by the same jobs as a move
 * (transfer.ts), under other names (`<volume>-snap-<stamp>`) and labelled with the class, the student, role
 * `snapshot`, the snapshot's time and the volume each copies. So a node that is gone for good loses no mail that a
 * snapshot holds: `up --replace-lost` puts it back on the student's new node. The student's services are stopped
 * during each copy (their mailbox holds still) and started again as they were.
 */

interface Student {
  services: SwarmService[];
  mail: SwarmService;
  mounts: VolumeMount[];
  image: string;
  node: SwarmNode;
  manager: SwarmNode;
  className: string;
  student: string;
}

async function studentOf(docker: Docker, keys: LabelKeys, names: string[]): Promise<Student> {
  const { services, mail, mounts } = await studentServices(docker, keys.role, names);
  const [nodes, info] = await Promise.all([
    listNodes(docker),
    docker.info() as Promise<{ Swarm?: { NodeID?: string } }>,
  ]);
  const nodeId = pinnedNode(mail.Spec.TaskTemplate.Placement.Constraints);
  const node = nodes.find((n) => n.ID === nodeId);
  const manager = nodes.find((n) => n.ID === info.Swarm?.NodeID);
  if (!manager) throw new LabctlError(ExitCode.engine, 'This engine is not a node of the swarm it manages.');
  if (!node || node.Status.State !== 'ready') {
    throw new LabctlError(
      ExitCode.engine,
      `Node ${node?.Description.Hostname ?? nodeId ?? '?'}, which holds ${mail.Spec.Name}'s volumes, is ${node?.Status.State ?? 'gone from the swarm'}.`,
      'Bring the node back first, or `labctl up --replace-lost` to start its students on other nodes.',
      'node-unavailable',
    );
  }
  return {
    services,
    mail,
    mounts,
    image: mail.Spec.TaskTemplate.ContainerSpec.Image,
    node,
    manager,
    className: mail.Spec.Labels[keys.class] ?? '',
    student: mail.Spec.Labels[keys.student] ?? '',
  };
}

/** Runs `copy` with the student's services stopped; they are started again as they were, whatever happens. */
async function whileStopped<T>(docker: Docker, services: SwarmService[], copy: () => Promise<T>): Promise<T> {
  const names = services.map((s) => s.Spec.Name);
  const previous = new Map(services.map((s) => [s.Spec.Name, s.Spec]));
  try {
    await Promise.all(names.map((name) => stopService(docker, name, 3)));
    return await copy();
  } finally {
    await Promise.all(names.map((name) => updateService(docker, name, () => structuredClone(previous.get(name)!))));
  }
}

/** The student's snapshot volumes on the manager's node: each snapshot's time -> (volume copied -> its copy). */
async function snapshotsOf(docker: Docker, keys: LabelKeys, s: Student): Promise<Map<string, Map<string, string>>> {
  const filters = {
    label: [`${keys.class}=${s.className}`, `${keys.student}=${s.student}`, `${keys.role}=snapshot`],
  };
  let volumes;
  try {
    volumes = (await docker.listVolumes({ filters })).Volumes ?? [];
  } catch (error) {
    throw failed('list snapshots', error);
  }
  const byTime = new Map<string, Map<string, string>>();
  for (const v of volumes) {
    const time = v.Labels?.[keys.snapshot];
    const of = v.Labels?.[keys.snapshotOf];
    if (!time || !of) continue;
    const copies = byTime.get(time) ?? new Map<string, string>();
    copies.set(of, v.Name);
    byTime.set(time, copies);
  }
  return byTime;
}

/** Copies the student's volumes (of services `names`) to the manager's node; see Engine.snapshotWorkloads. */
export async function snapshotWorkloads(docker: Docker, keys: LabelKeys, names: string[]): Promise<Snapshot> {
  const s = await studentOf(docker, keys, names);
  const time = new Date().toISOString();
  const stamp = Date.now().toString(36);
  const copyName = (source: string) => `${source}-snap-${stamp}`;
  const labels = (source: string) => ({
    [keys.class]: s.className,
    [keys.student]: s.student,
    [keys.role]: 'snapshot',
    [keys.snapshot]: time,
    [keys.snapshotOf]: source,
  });
  let bytes: number;
  try {
    bytes = await whileStopped(docker, s.services, () =>
      copyVolumes(docker, {
        mailName: s.mail.Spec.Name,
        image: s.image,
        mounts: s.mounts,
        from: s.node,
        to: s.manager,
        volumeOn: { receive: (source) => ({ name: copyName(source), labels: labels(source) }) },
      }),
    );
  } catch (error) {
    // A snapshot is whole or it is not: the copies made so far go, the previous snapshot stays.
    await Promise.all(s.mounts.map((m) => removeVolume(docker, copyName(m.Source)).catch(() => undefined)));
    throw error;
  }
  // This one is whole: the older ones go.
  for (const [other, copies] of await snapshotsOf(docker, keys, s))
    if (other !== time) await Promise.all([...copies.values()].map((v) => removeVolume(docker, v)));
  return { node: s.node.Description.Hostname, bytes, time };
}

/** Fills the student's volumes from their newest whole snapshot; see Engine.restoreWorkloads. */
export async function restoreWorkloads(
  docker: Docker,
  keys: LabelKeys,
  names: string[],
): Promise<Snapshot | undefined> {
  const s = await studentOf(docker, keys, names);
  const whole = [...(await snapshotsOf(docker, keys, s))]
    .filter(([, copies]) => s.mounts.every((m) => copies.has(m.Source)))
    .sort(([a], [b]) => b.localeCompare(a));
  const newest = whole[0];
  if (!newest) return undefined;
  const [time, copies] = newest;
  const bytes = await whileStopped(docker, s.services, () =>
    copyVolumes(docker, {
      mailName: s.mail.Spec.Name,
      image: s.image,
      mounts: s.mounts,
      from: s.manager,
      to: s.node,
      volumeOn: { send: (source) => copies.get(source)! },
    }),
  );
  return { node: s.node.Description.Hostname, bytes, time };
}
