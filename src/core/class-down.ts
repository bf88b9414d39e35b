import pLimit from 'p-limit';
import type { ClassObjects, WorkloadInfo, DiskInfo, Engine, LabelledObject } from '../docker/engine.js';
import { label } from './observed-class.js';
import { concurrency } from './limits.js';

export interface DownObjects {
  containers: WorkloadInfo[];
  networks: LabelledObject[];
  volumes: LabelledObject[];
  disks: DiskInfo[];
}

/**
 * What `down` removes of a class (one student's, when given): its workloads (and lock) and networks; with purge,
 * its volumes and disks too. A roster volume is the class's, never a student's: only a whole-class purge removes it.
 */
export function downObjects(objects: ClassObjects, options: { student?: number; purge?: boolean }): DownObjects {
  const mine = <T extends { labels: Record<string, string> }>(list: T[]) =>
    list.filter((o) => options.student === undefined || label.student(o) === options.student);
  return {
    containers: mine(objects.containers),
    networks: mine(objects.networks),
    volumes: options.purge ? mine(objects.volumes) : [],
    disks: options.purge ? mine(objects.disks) : [],
  };
}

/** What removeObjects could not remove: a volume (or a disk) that stays, and why. */
export interface KeptObject {
  name: string;
  why: string;
}

/**
 * Removes the objects student by student, each as soon as what uses it is gone: a student's network and volumes go
 * when their own servers have stopped, not when the whole class has.
 * Graceful: servers are first asked to stop (SIGTERM: Postfix finishes writing a mailbox); with --purge the
 * mailboxes go too, so the servers are removed at once.
 * A volume that stays (its node is down, say) does not stop the others: it is returned, with the disk it lives on.
 * Ctrl-C (`signal`): the students under way are finished, the others left as they are.
 */
export async function removeObjects(
  engine: Engine,
  objects: { containers: WorkloadInfo[]; networks: LabelledObject[]; volumes: LabelledObject[]; disks?: DiskInfo[] },
  { graceful, signal }: { graceful: boolean; signal?: AbortSignal },
): Promise<KeptObject[]> {
  const studentOf = (o: { labels: Record<string, string> }) => String(label.student(o));
  const disks = objects.disks ?? [];
  const students = new Set([...objects.containers, ...objects.networks, ...objects.volumes, ...disks].map(studentOf));
  const limit = pLimit(concurrency(engine.parallelism));
  const kept: KeptObject[] = [];
  await Promise.all(
    [...students].map((n) =>
      limit(async () => {
        if (signal?.aborted) return;
        const mine = <T extends { labels: Record<string, string> }>(list: T[]) =>
          list.filter((o) => studentOf(o) === n);
        // The mail container's PID 1 stops its daemons on SIGTERM, so a short grace period is plenty.
        await Promise.all(
          mine(objects.containers).map(async (c) => {
            if (graceful) await engine.stopWorkload(c.name, 3);
            await engine.removeWorkload(c.name);
          }),
        );
        const stays: KeptObject[] = [];
        const removeVolume = async (name: string) => {
          try {
            await engine.removeVolume(name);
          } catch (error) {
            stays.push({ name, why: error instanceof Error ? error.message : String(error) });
          }
        };
        await Promise.all([
          ...mine(objects.networks).map((o) => engine.removeNetwork(o.name)),
          ...mine(objects.volumes).map((o) => removeVolume(o.name)),
        ]);
        kept.push(...stays);
        // A disk goes once the volumes on it have.
        if (stays.length > 0)
          kept.push(...mine(disks).map((d) => ({ name: d.name, why: `${stays[0]!.name} stays on it` })));
        else await Promise.all(mine(disks).map((d) => engine.removeDisk(d.name)));
      }),
    ),
  );
  return kept;
}
