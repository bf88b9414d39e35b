import type Docker from 'dockerode';
import type { WorkloadSpec, Replacement } from '../engine.js';
import { removeContainer, renameContainer, startContainer, stopContainer } from './containers.js';

/**
 * The old container is renamed aside and stopped (its ports are free then), the new one created (by `create`) and
 * started under the name; undo removes the new one and gives the old one its name back, running; commit removes the
 * old one.
 */
export async function replaceContainer(
  docker: Docker,
  spec: WorkloadSpec,
  create: () => Promise<void>,
): Promise<Replacement> {
  const aside = `${spec.name}-old-${process.pid}`;
  await renameContainer(docker, spec.name, aside);
  const replacement: Replacement = {
    undo: async () => {
      await removeContainer(docker, spec.name);
      await renameContainer(docker, aside, spec.name);
      await startContainer(docker, spec.name);
    },
    commit: () => removeContainer(docker, aside),
  };
  try {
    await stopContainer(docker, aside, 5);
    await create();
    await startContainer(docker, spec.name);
  } catch (error) {
    await replacement.undo().catch(() => {});
    throw error;
  }
  return replacement;
}
