import type { ContainerInfo } from '../docker/engine.js';
import { usageError } from '../errors.js';
import { LABEL } from './labels.js';

/** The class's mail containers (one student's, when given), in student order; a clear error when there are none. */
export function studentMails(containers: ContainerInfo[], className: string, student?: number): ContainerInfo[] {
  const mails = containers
    .filter((c) => c.labels[LABEL.role] === 'mail')
    .filter((c) => student === undefined || c.labels[LABEL.student] === String(student))
    .sort((a, b) => Number(a.labels[LABEL.student]) - Number(b.labels[LABEL.student]));
  if (mails.length === 0) {
    throw student === undefined
      ? usageError(
          `No class named ${className} on this Docker engine.`,
          `Start it with \`labctl up --class ${className} --students N\`, or list classes with \`labctl status\`.`,
        )
      : usageError(`Class ${className} has no student ${student}.`, 'See `labctl status` for its students.');
  }
  return mails;
}
