import type { Engine } from '../docker/engine.js';
import { studentMails } from './class-objects.js';
import { loadLab } from './lab.js';
import { LABEL } from './labels.js';

/** The exercises of a class's lab (ids and titles, in the lab's order), from the lab file its containers name. */
export async function classExercises(
  className: string,
  engine: Engine,
  student?: number,
): Promise<{ id: string; title: string }[]> {
  const { containers } = await engine.list(className);
  const mails = studentMails(containers, className, student);
  return (await loadLab(mails[0]!.labels[LABEL.labFile])).exercises;
}
