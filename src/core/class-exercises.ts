import type { Engine } from '../docker/engine.js';
import { studentMails } from './class-objects.js';
import { labFromLabels } from './lab.js';

/** The exercises of a class's lab (ids and titles, in the lab's order), from the lab stored with the class. */
export async function classExercises(
  className: string,
  engine: Engine,
  student?: number,
): Promise<{ id: string; title: string }[]> {
  const { containers } = await engine.list(className);
  const mails = studentMails(containers, className, student);
  return (await labFromLabels(mails[0]!.labels)).exercises;
}
