import type { NodeFacts } from '../docker/engine.js';
import { formatBytes } from './reconcile.js';

export type { NodeFacts };

/** A row of `doctor` (a Check of core/doctor.ts) with the node's facts, for --json. */
export interface NodeCheck {
  check: string;
  ok: boolean;
  warning: true;
  detail: string;
  fix?: string;
  node: NodeFacts;
}

/** Below this, a node's Docker root is short of room for the images and its students' mailboxes. */
const MIN_NODE_FREE = 3 * 2 ** 30;
/** Two addresses a student on docker_gwbridge; fewer students than this on a node is a warning. */
const MIN_GWBRIDGE_STUDENTS = 100;

const imageName = (ref: string) => ref.replace(/^labctl\//, '').replace(/:.*$/, '');

/**
 * One row a node of the swarm, for `doctor`: its role, state and availability, whether it has labctl's images (the
 * manager's, by ID), its Docker root's free disk and the room on its docker_gwbridge. A warning, never a failure:
 * labctl still runs the class on the other nodes.
 */
export function nodeCheck(node: NodeFacts): NodeCheck {
  const parts = [`${node.role}, ${node.state}, ${node.availability}, ${node.address}`];
  const fixes: string[] = [];
  if (node.state !== 'ready')
    fixes.push('bring the node back: its students come back with it (README, "When a node is lost")');
  else if (node.availability !== 'active') fixes.push(`\`docker node update --availability active ${node.name}\``);
  if (node.images) {
    const wrong = node.images.filter((i) => !i.current);
    parts.push(
      wrong.length === 0
        ? `labctl's images: ${node.images.map((i) => imageName(i.ref)).join(', ')} as on the manager`
        : `labctl's images: ${wrong.map((i) => `${imageName(i.ref)} ${i.id ? 'differs from the manager' : 'missing'}`).join(', ')}`,
    );
    if (wrong.length > 0)
      fixes.push(`labctl images save -o FILE here, then DOCKER_HOST=ssh://root@${node.name} labctl images load FILE`);
  }
  if (node.freeBytes !== undefined) {
    parts.push(`${formatBytes(node.freeBytes)} free in ${node.dockerRoot ?? 'its Docker root'}`);
    if (node.freeBytes < MIN_NODE_FREE) fixes.push(`free up space in ${node.dockerRoot ?? "the node's Docker root"}`);
  }
  if (node.gwbridge) {
    const { subnet, used, size } = node.gwbridge;
    const room = Math.max(0, Math.floor((size - used) / 2));
    parts.push(`docker_gwbridge ${subnet}: ${used} of ${size} addresses used, room for ${room} more students`);
    if (room < MIN_GWBRIDGE_STUDENTS)
      fixes.push('a larger docker_gwbridge, made before the node joins: README, "Several hosts"');
  }
  if (node.unknown) parts.push(node.unknown);
  return {
    check: `node ${node.name}`,
    ok: fixes.length === 0 && node.unknown === undefined,
    warning: true,
    detail: parts.join('; '),
    ...((fixes.length > 0 || node.unknown) && { fix: fixes.join('; ') || 'run `labctl doctor` again' }),
    node,
  };
}
