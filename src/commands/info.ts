import { loadLab, pairFor, studentAccounts, type Lab } from '../core/lab.js';
import { LABEL } from '../core/labels.js';
import { parsePorts } from '../core/ports.js';
import { classToken, studentKey } from '../core/token.js';
import type { Engine } from '../docker/engine.js';
import { usageError } from '../errors.js';
import { studentCard } from '../ui/cards.js';
import { cardsHtml, cardsMarkdown } from '../ui/print-cards.js';
import { chmod, writeFile } from 'node:fs/promises';
import { studentMails } from './class-objects.js';
import { DEFAULT_CLASS, defaultContext, type Context } from './context.js';

export interface InfoOptions {
  className?: string;
  student?: number;
  json?: boolean;
  /** text (cards on the terminal), html or md (printable cards, one per page). */
  format?: 'text' | 'html' | 'md';
  /** Write the cards to this file instead of stdout. */
  output?: string;
}

export interface StudentInfo {
  student: number;
  host: string;
  domain: string;
  ports: Record<string, number>;
  accounts: { user: string; password: string }[];
  pair: [string, string];
  state: string;
  /** The student's progress page (the sidecar), with their key. */
  page: string | null;
}

export interface ClassInfo {
  class: string;
  lab: string;
  title: string;
  students: StudentInfo[];
}

/** Everything a student needs to connect, read from the containers' labels: no state file. */
export async function classInfo(className: string, engine: Engine, student?: number): Promise<ClassInfo> {
  const { containers } = await engine.list(className);
  const token = classToken(containers);
  const mails = studentMails(containers, className, student);
  const labs = new Map<string, Lab>();
  const labOf = async (file: string) => {
    let lab = labs.get(file);
    if (!lab) labs.set(file, (lab = await loadLab(file)));
    return lab;
  };
  const students: StudentInfo[] = [];
  for (const c of mails) {
    const n = Number(c.labels[LABEL.student]);
    const lab = await labOf(c.labels[LABEL.labFile] ?? '');
    const ports = parsePorts(c.labels[LABEL.ports]);
    const host = c.labels[LABEL.host] ?? '';
    students.push({
      student: n,
      host,
      domain: c.labels[LABEL.domain] ?? '',
      ports,
      accounts: token
        ? studentAccounts(lab, c.labels[LABEL.passwords] === 'random' ? 'random' : 'lab', token, n)
        : lab.accounts,
      pair: pairFor(lab, n),
      state: c.state,
      page: token && ports.web ? `http://${host}:${ports.web}/?k=${studentKey(token, n)}` : null,
    });
  }
  const first = await labOf(mails[0]!.labels[LABEL.labFile] ?? '');
  return { class: className, lab: first.name, title: first.title, students };
}

export async function info(options: InfoOptions, ctx: Context = defaultContext(options)): Promise<ClassInfo> {
  const className = options.className ?? DEFAULT_CLASS;
  await ctx.engine.ping();
  const result = await classInfo(className, ctx.engine, options.student);
  const format = options.format ?? 'text';
  if (options.json && format !== 'text')
    throw usageError('--json and --format html/md are two different outputs: pick one.');
  const text =
    format === 'html'
      ? cardsHtml(result)
      : format === 'md'
        ? cardsMarkdown(result)
        : result.students.map((s) => studentCard(result, s)).join('\n');
  if (options.output) {
    // The cards hold passwords: only the instructor reads the file (mode only applies on creation, hence chmod).
    await writeFile(options.output, text, { mode: 0o600 });
    await chmod(options.output, 0o600);
    ctx.reporter.result(`Wrote ${result.students.length} card(s) to ${options.output}.`, result);
  } else {
    ctx.reporter.result(text, result);
  }
  return result;
}
