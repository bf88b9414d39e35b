/**
 * Placement, the pure half: the constraints an instructor may give, and which node a new student goes to. Nothing
 * here talks to Docker.
 */
import { usageError } from '../../errors.js';
import type { SwarmNode } from './api.js';

export interface Constraint {
  key: string;
  op: '==' | '!=';
  value: string;
}

const CONSTRAINT =
  /^\s*(node\.(?:id|hostname|role|platform\.os|platform\.arch|labels\.[A-Za-z0-9_.-]+))\s*(==|!=)\s*(\S+)\s*$/;

/** An instructor's placement constraint (`node.labels.room==b12`), as Swarm takes them; a usage error otherwise. */
export function parseConstraint(text: string): Constraint {
  const m = CONSTRAINT.exec(text);
  if (!m) {
    throw usageError(
      `--constraint "${text}" is not a placement constraint labctl understands`,
      'Use node.labels.KEY==VALUE (or !=), node.hostname==NAME, node.role==worker|manager or node.id==ID, e.g. --constraint node.labels.room==b12.',
    );
  }
  return { key: m[1]!, op: m[2] as '==' | '!=', value: m[3]! };
}

/** A Swarm node as placement sees it. */
export interface NodeView {
  id: string;
  hostname: string;
  role: string;
  labels: Record<string, string>;
  os?: string;
  arch?: string;
  /** Ready and active (not drained or paused). */
  available: boolean;
}

/** What a constraint reads of a node; `available`: ready and active (what a new student may be placed on). */
export const nodeView = (n: SwarmNode): NodeView => ({
  id: n.ID,
  hostname: n.Description.Hostname,
  role: n.Spec.Role,
  labels: n.Spec.Labels ?? {},
  os: n.Description.Platform?.OS,
  arch: n.Description.Platform?.Architecture,
  available: n.Status.State === 'ready' && n.Spec.Availability === 'active',
});

export function matches(node: NodeView, c: Constraint): boolean {
  let actual: string | undefined;
  if (c.key === 'node.id') actual = node.id;
  else if (c.key === 'node.hostname') actual = node.hostname;
  else if (c.key === 'node.role') actual = node.role;
  else if (c.key === 'node.platform.os') actual = node.os;
  else if (c.key === 'node.platform.arch') actual = node.arch;
  else actual = node.labels[c.key.slice('node.labels.'.length)];
  const equal = actual !== undefined && actual.toLowerCase() === c.value.toLowerCase();
  return c.op === '==' ? equal : !equal;
}

/**
 * The node for a new student: among available nodes that meet every constraint, the one with the fewest labctl
 * students (of any class), ties to the lowest hostname so the spread is predictable. Throws when none is eligible.
 */
export function chooseNode(nodes: NodeView[], constraints: Constraint[], load: Map<string, number>): NodeView {
  const eligible = nodes.filter((n) => n.available && constraints.every((c) => matches(n, c)));
  if (eligible.length === 0) {
    const text = constraints.map((c) => `${c.key}${c.op}${c.value}`).join(', ');
    throw usageError(
      `No Swarm node can take a student${text ? ` under ${text}` : ''} (${nodes.filter((n) => n.available).length} of ${nodes.length} node(s) ready and active).`,
      'See `docker node ls`; label nodes with `docker node update --label-add room=b12 NODE`.',
    );
  }
  return eligible.reduce((best, n) => {
    const a = load.get(n.id) ?? 0;
    const b = load.get(best.id) ?? 0;
    return a < b || (a === b && n.hostname < best.hostname) ? n : best;
  });
}

/** The node id a service is pinned to by its `node.id==X` constraint. */
export function pinnedNode(constraints: string[] | undefined): string | undefined {
  for (const c of constraints ?? []) {
    const m = /^\s*node\.id\s*==\s*(\S+)\s*$/.exec(c);
    if (m) return m[1];
  }
  return undefined;
}
