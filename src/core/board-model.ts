import pLimit from 'p-limit';
import type { Engine } from '../docker/engine.js';
import { probeHost } from '../probe.js';
import { studentMails } from './class-objects.js';
import { loadLab } from './lab.js';
import { LABEL } from './labels.js';
import { concurrency } from './limits.js';
import { parsePorts } from './ports.js';
import { SidecarClient, SidecarMismatchError } from './sidecar-client.js';
import { adminKey, classToken } from './token.js';
import type { ExerciseStatus } from './wire.js';

/** One exercise of one student, as their sidecar says it (the wire schema). */
export type ExerciseResult = ExerciseStatus;

export interface StudentResults {
  student: number;
  /** Set when the student's sidecar did not answer: their row says so, the others still show. */
  error?: string;
  exercises: ExerciseResult[];
}

export interface Board {
  class: string;
  lab: string;
  exercises: { id: string; title: string }[];
  students: StudentResults[];
}

/** Asks every student's sidecar for their results, in parallel (bounded), each with its own admin key. */
export async function classBoard(className: string, engine: Engine, student?: number): Promise<Board> {
  const { containers } = await engine.list(className);
  const mails = studentMails(containers, className, student);
  const lab = await loadLab(mails[0]!.labels[LABEL.labFile]);
  const token = classToken(containers);
  const limit = pLimit(concurrency());
  const students = await Promise.all(
    mails.map((mail) =>
      limit(async (): Promise<StudentResults> => {
        const n = Number(mail.labels[LABEL.student]);
        const sidecar = containers.find(
          (c) => c.labels[LABEL.role] === 'sidecar' && c.labels[LABEL.student] === String(n),
        );
        const notDone = lab.exercises.map((e) => ({ ...e, done: false, at: null, evidence: null }));
        const port = parsePorts(mail.labels[LABEL.ports]).web;
        if (!sidecar || !token || port === undefined) return { student: n, error: 'no sidecar', exercises: notDone };
        if (sidecar.state !== 'running') return { student: n, error: `sidecar ${sidecar.state}`, exercises: notDone };
        try {
          const client = new SidecarClient({
            host: probeHost(sidecar.ports[0]?.ip ?? ''),
            port,
            key: adminKey(token, n),
          });
          const progress = await client.progress();
          const byId = new Map(progress.exercises.map((e) => [e.id, e]));
          return { student: n, exercises: notDone.map((e) => byId.get(e.id) ?? e) };
        } catch (error) {
          const message = (error as Error).message;
          const why = error instanceof SidecarMismatchError ? message : `sidecar down (${message})`;
          return { student: n, error: why, exercises: notDone };
        }
      }),
    ),
  );
  return { class: className, lab: lab.name, exercises: lab.exercises, students };
}
