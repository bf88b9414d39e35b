import type Docker from 'dockerode';
import type { LabelKeys } from '../engine.js';
import { chooseNode, nodeView, pinnedNode, type Constraint } from './constraints.js';
import { listNodes } from './nodes.js';
import { listServices } from './services.js';

/**
 * The node of each student: where their services are pinned, else a new choice spread over the nodes. Choices are
 * made one at a time, each counting those made before it, so a student's two services (created together) land
 * together and students spread evenly.
 */
export class Placement {
  /** Student (class/n) -> the node chosen for them in this run. */
  private readonly placements = new Map<string, Promise<string>>();
  private readonly chosen = new Map<string, string>();
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly docker: Docker,
    private readonly keys: LabelKeys,
    private readonly constraints: Constraint[],
  ) {}

  /** The node id for the student whose workload carries `labels` (class, student). */
  nodeFor(labels: Record<string, string>): Promise<string> {
    const key = this.student(labels);
    let chosen = this.placements.get(key);
    if (!chosen) {
      chosen = this.queue.then(() => this.choose(key, labels));
      this.queue = chosen.catch(() => undefined);
      this.placements.set(key, chosen);
    }
    return chosen;
  }

  private student(labels: Record<string, string>): string {
    return `${labels[this.keys.class]}/${labels[this.keys.student]}`;
  }

  private async choose(key: string, labels: Record<string, string>): Promise<string> {
    const [services, nodes] = await Promise.all([listServices(this.docker, [this.keys.class]), listNodes(this.docker)]);
    const { class: cls, student } = this.keys;
    const mine = services.find((s) => s.Spec.Labels[cls] === labels[cls] && s.Spec.Labels[student] === labels[student]);
    const pinned = pinnedNode(mine?.Spec.TaskTemplate.Placement.Constraints);
    if (pinned) {
      this.chosen.set(key, pinned);
      return pinned;
    }
    const load = new Map<string, number>();
    const counted = new Set<string>();
    for (const s of services) {
      const id = pinnedNode(s.Spec.TaskTemplate.Placement?.Constraints);
      const other = this.student(s.Spec.Labels);
      if (!id || counted.has(other)) continue;
      counted.add(other);
      load.set(id, (load.get(id) ?? 0) + 1);
    }
    // Chosen in this run but not yet created.
    for (const [other, id] of this.chosen) if (!counted.has(other)) load.set(id, (load.get(id) ?? 0) + 1);
    const views = nodes.map(nodeView);
    const id = chooseNode(views, this.constraints, load).id;
    this.chosen.set(key, id);
    return id;
  }
}
