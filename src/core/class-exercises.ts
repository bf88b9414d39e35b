import type { Engine } from '../docker/engine.js';
import { studentMails } from './class-objects.js';
import { labFromLabels, type Lab } from './lab.js';

/** The lab of a class (its exercises in order, its handout), from the lab stored with the class. */
export async function classLab(className: string, engine: Engine, student?: number): Promise<Lab> {
  const { containers } = await engine.list(className);
  const mails = studentMails(containers, className, student);
  return labFromLabels(mails[0]!.labels);
}

/** The exercises of a class's lab (ids and titles, in the lab's order), from the lab stored with the class. */
export async function classExercises(
  className: string,
  engine: Engine,
  student?: number,
): Promise<{ id: string; title: string }[]> {
  return (await classLab(className, engine, student)).exercises;
}
