import http from 'node:http';
import pLimit from 'p-limit';
import { loadLab } from '../core/lab.js';
import { LABEL } from '../core/labels.js';
import { parsePorts } from '../core/ports.js';
import { adminKey, classToken } from '../core/token.js';
import type { Engine } from '../docker/engine.js';
import { usageError } from '../errors.js';
import { probeHost } from '../probe.js';
import { boardCsv, boardTable } from '../ui/board.js';
import { studentMails } from './class-objects.js';
import { concurrency, DEFAULT_CLASS, defaultContext, type Context } from './context.js';

export interface CheckOptions {
  className?: string;
  student?: number;
  json?: boolean;
  csv?: boolean;
  watch?: boolean;
}

export interface ExerciseResult {
  id: string;
  title: string;
  done: boolean;
  at: string | null;
  evidence: string | null;
}

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
          const progress = (await getJson(probeHost(sidecar.ports[0]?.ip ?? ''), port, adminKey(token, n))) as {
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
  return { class: className, lab: lab.name, exercises: lab.exercises, students };
}

/** The class board: students × exercises, as a table, JSON or CSV; --watch redraws it. */
export async function check(options: CheckOptions, ctx: Context = defaultContext(options)): Promise<Board> {
  const className = options.className ?? DEFAULT_CLASS;
  if (options.watch && (options.json || options.csv))
    throw usageError('--watch draws the board on a terminal; it does not go with --json or --csv.');
  await ctx.engine.ping();
  const show = (board: Board) => {
    if (options.csv) process.stdout.write(boardCsv(board));
    else ctx.reporter.result(boardTable(board), { class: board.class, lab: board.lab, students: board.students });
  };
  let board = await classBoard(className, ctx.engine, options.student);
  if (!options.watch) {
    show(board);
    return board;
  }
  for (;;) {
    if (process.stdout.isTTY) process.stdout.write('\x1b[2J\x1b[H');
    process.stdout.write(`${boardTable(board)}\n(updated ${new Date().toLocaleTimeString()}; Ctrl-C to stop)\n`);
    await new Promise((r) => setTimeout(r, 2000));
    board = await classBoard(className, ctx.engine, options.student);
  }
}
