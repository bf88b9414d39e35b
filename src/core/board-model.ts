import http from 'node:http';
import pLimit from 'p-limit';
import type { Engine } from '../docker/engine.js';
import { studentMails } from './class-objects.js';
import { labFromLabels } from './lab.js';
import { LABEL } from './labels.js';
import { concurrency } from './limits.js';
import { parsePorts } from './ports.js';
import { personAt, rosterOf, type PersonFields } from './roster.js';
import { adminKey, classToken } from './token.js';

export interface ExerciseResult {
  id: string;
  title: string;
  done: boolean;
  at: string | null;
  evidence: string | null;
}

export interface StudentResults extends PersonFields {
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

function getJson(host: string, port: number, key: string, timeoutMs = 2000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = http.get(
      { host, port, path: '/api/progress', timeout: timeoutMs, headers: { authorization: `Bearer ${key}` } },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => {
          if (res.statusCode !== 200) return reject(new Error(`HTTP ${res.statusCode}`));
          try {
            resolve(JSON.parse(body));
          } catch (error) {
            reject(error as Error);
          }
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

/** Asks every student's sidecar for their results, in parallel (bounded), each with its own admin key. */
export async function classBoard(className: string, engine: Engine, student?: number): Promise<Board> {
  const { containers, volumes } = await engine.list(className);
  const roster = rosterOf(className, volumes);
  const mails = studentMails(containers, className, student);
  const lab = await labFromLabels(mails[0]!.labels);
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
          const progress = (await getJson(
            engine.address(sidecar.ports[0]?.ip ?? '', sidecar.node),
            port,
            adminKey(token, n),
          )) as {
            exercises: ExerciseResult[];
          };
          const byId = new Map(progress.exercises.map((e) => [e.id, e]));
          return { student: n, exercises: notDone.map((e) => byId.get(e.id) ?? e) };
        } catch (error) {
          return { student: n, error: `sidecar down (${(error as Error).message})`, exercises: notDone };
        }
      }),
    ),
  );
  return {
    class: className,
    lab: lab.name,
    exercises: lab.exercises,
    students: students.map((s) => ({ ...s, ...personAt(roster, s.student) })),
  };
}
