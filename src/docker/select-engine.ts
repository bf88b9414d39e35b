import { usageError } from '../errors.js';
import type { ClassObjects, Engine } from './engine.js';
import { LocalEngine, publishedAddress } from './local-engine.js';
import { SwarmEngine } from './swarm-engine.js';

export type EngineKind = 'local' | 'swarm';

export interface EngineChoice {
  /** Asked for (`--engine`, or `engine:` in the class file); else found from the class's labels. */
  engine?: EngineKind;
  /** The class the command works on: a class that runs as Swarm services is found on the Swarm engine. */
  className?: string;
  /** Placement constraints for new students on Swarm. */
  constraints?: string[];
  /** On Swarm: the registry the nodes pull the images from. */
  registry?: string;
}

const isLoopback = (ip: string) => ip.startsWith('127.') || ip === '::1' || ip === 'localhost';

/**
 * The engine a command works with. Asked for: that one, refusing a class that already runs on the other. Not asked
 * for: Swarm when this engine is a Swarm manager whose services carry the class (any labctl class, without one), else
 * the local engine. The choice is made at the first call, so commands that never reach an engine never ask.
 */
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

export function selectEngine(choice: EngineChoice): Engine {
  if (choice.engine === 'local' && choice.constraints?.length)
    throw usageError('--constraint places students on Swarm nodes: it needs --engine swarm.');
  if (choice.engine === 'local' && choice.registry)
    throw usageError('--registry is where Swarm nodes pull the images: it needs --engine swarm.');
  let chosen: Promise<Engine> | undefined;
  const resolve = () =>
    (chosen ??= (async (): Promise<Engine> => {
      const onSwarm = await SwarmEngine.holdsClass(choice.className).catch(() => false);
      if (choice.engine === 'local' && onSwarm && choice.className) {
        throw usageError(
          `Class ${choice.className} runs on Swarm (its services carry it), not on the local engine.`,
          'Leave out --engine (and engine: in labctl.yaml), or use --engine swarm.',
        );
      }
      if (choice.engine === 'swarm' || (choice.engine === undefined && onSwarm)) {
        if (choice.engine === 'swarm' && choice.className && !onSwarm) {
          const local = await new LocalEngine().list(choice.className).catch(() => undefined);
          if (local && local.containers.some((c) => c.labels['dev.labctl.role'] === 'mail')) {
            throw usageError(
              `Class ${choice.className} runs on the local engine (containers), not on Swarm.`,
              `Take it down first (\`labctl down --class ${choice.className}\`, mailboxes are kept only on this host), or leave out --engine swarm.`,
            );
          }
        }
        return new SwarmEngine(undefined, { constraints: choice.constraints, registry: choice.registry });
      }
      return new LocalEngine();
    })());
  const local = new LocalEngine();
  return new Proxy(local, {
    get(target, prop, receiver) {
      if (prop === 'where') return choice.engine === 'swarm' ? `Swarm at ${target.where}` : target.where;
      // Pure: a workload's node, when it has one, is where its ports answer.
      if (prop === 'address')
        return (bind: string, node?: string) => (node && !isLoopback(node) ? node : publishedAddress(bind));
      // Every class (no class named, no engine asked for): the classes of both engines, side by side.
      if (prop === 'list' && choice.engine === undefined)
        return async (className?: string) => {
          const engine = await resolve();
          if (className !== undefined || !(engine instanceof SwarmEngine)) return engine.list(className);
          return mergeObjects(await engine.list(), await target.list());
        };
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      return async (...args: unknown[]) => {
        const engine = await resolve();
        return (engine[prop as keyof Engine] as (...a: unknown[]) => unknown).apply(engine, args);
      };
    },
  });
}
