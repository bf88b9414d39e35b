import { usageError } from '../errors.js';
import type { ClassObjects, Engine, LabelKeys } from './engine.js';
import { LazyEngine } from './lazy-engine.js';
import { LocalEngine } from './local/local-engine.js';
import { SwarmEngine } from './swarm/swarm-engine.js';
import { holdsClass, isManager } from './swarm/survey.js';

export { survey as swarmSurvey, type SwarmSurvey } from './swarm/survey.js';
export { nodeFacts as swarmNodeFacts } from './swarm/node-facts.js';

export type EngineKind = 'local' | 'swarm';

export interface EngineChoice {
  /** The label keys the engines read (core/labels.ts). */
  labels: LabelKeys;
  /** Asked for (`--engine`, or `engine:` in the class file); else found from the class's labels. */
  engine?: EngineKind;
  /** The class the command works on: a class that runs as Swarm services is found on the Swarm engine. */
  className?: string;
  /** Placement constraints for new students on Swarm. */
  constraints?: string[];
  /** On Swarm: the registry the nodes pull the images from. */
  registry?: string;
  /**
   * The command works on what a class left (`down --purge`): on a Swarm manager, a class with neither services nor
   * containers may still have volumes on the workers, which only the Swarm engine finds.
   */
  leftovers?: boolean;
}

/**
 * The Swarm engine's objects and the local engine's, without what the local engine sees of Swarm's: its task
 * containers, its overlay networks, and the volumes both list.
 */
export function mergeObjects(swarm: ClassObjects, local: ClassObjects): ClassObjects {
  const volumes = new Set(swarm.volumes.map((v) => v.name));
  const networks = new Set(swarm.networks.map((n) => n.name));
  return {
    containers: [...swarm.containers, ...local.containers.filter((c) => !c.labels['com.docker.swarm.task.id'])],
    networks: [...swarm.networks, ...local.networks.filter((n) => !networks.has(n.name))],
    volumes: [...swarm.volumes, ...local.volumes.filter((v) => !volumes.has(v.name))],
    disks: local.disks,
  };
}

/**
 * The engine a command works with. Asked for: that one, refusing a class that already runs on the other. Not asked
 * for: Swarm when this engine is a Swarm manager whose services carry the class (any labctl class, without one), else
 * the local engine. The choice is made at the first call (LazyEngine), so commands that never reach an engine never
 * ask.
 */
export function selectEngine(choice: EngineChoice): Engine {
  if (choice.engine === 'local' && choice.constraints?.length)
    throw usageError('--constraint places students on Swarm nodes: it needs --engine swarm.');
  if (choice.engine === 'local' && choice.registry)
    throw usageError('--registry is where Swarm nodes pull the images: it needs --engine swarm.');
  const { labels, className } = choice;
  const local = new LocalEngine(labels);
  const choose = async (): Promise<Engine> => {
    // First, whether the engine answers at all (within its ping's time): the questions below have no time limit.
    await local.ping();
    const onSwarm = await holdsClass(labels.class, className).catch(() => false);
    if (choice.engine === 'local' && onSwarm && className) {
      throw usageError(
        `Class ${className} runs on Swarm (its services carry it), not on the local engine.`,
        'Leave out --engine (and engine: in labctl.yaml), or use --engine swarm.',
      );
    }
    const leftOnSwarm =
      choice.leftovers === true &&
      choice.engine === undefined &&
      !onSwarm &&
      className !== undefined &&
      (await isManager().catch(() => false)) &&
      // Nothing of a local class's is left here (its containers, or its students' disks, which only it has).
      (await local.list(className).then((o) => o.containers.length + o.disks.length === 0));
    if (choice.engine === 'swarm' || (choice.engine === undefined && (onSwarm || leftOnSwarm))) {
      if (choice.engine === 'swarm' && className && !onSwarm) {
        const objects = await local.list(className).catch(() => undefined);
        if (objects && objects.containers.some((c) => c.labels[labels.role] === 'mail')) {
          throw usageError(
            `Class ${className} runs on the local engine (containers), not on Swarm.`,
            `Take it down first (\`labctl down --class ${className}\`, mailboxes are kept only on this host), or leave out --engine swarm.`,
          );
        }
      }
      return new SwarmEngine(labels, undefined, { constraints: choice.constraints, registry: choice.registry });
    }
    return local;
  };
  return new LazyEngine({
    // For its fields only (where, parallelism): the constraints are read when the engine is chosen, at the first call.
    provisional: choice.engine === 'swarm' ? new SwarmEngine(labels) : local,
    choose,
    // Every class (no class named, no engine asked for): the classes of both engines, side by side.
    ...(choice.engine === undefined && {
      list: async (engine: Engine, name?: string) =>
        name !== undefined || !(engine instanceof SwarmEngine)
          ? engine.list(name)
          : mergeObjects(await engine.list(), await local.list()),
    }),
  });
}
