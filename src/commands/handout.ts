import { writeFile, chmod } from 'node:fs/promises';
import { classLab } from '../core/class-exercises.js';
import { classInfo, plannedClassInfo } from '../core/class-model.js';
import { loadLab } from '../core/lab.js';
import { DEFAULT_BASE_PORT } from '../core/ports.js';
import { usageError } from '../errors.js';
import { handoutHtml } from '../ui/handout.js';
import { findChromium, printPdf } from '../ui/pdf.js';
import { DEFAULT_CLASS, defaultContext, defaultHost, type Context } from './context.js';

export interface HandoutOptions {
  className?: string;
  student?: number;
  /** html or pdf; by default pdf when --output ends in .pdf, else html. */
  format?: 'html' | 'pdf';
  /** Write the handout to this file (a PDF needs one); HTML goes to stdout without it. */
  output?: string;
  /**
   * The handout of this lab for a class not up yet (as `up --lab` would make it: --students, --base-port, --host), to
   * print before the session; without it, the running class's.
   */
  lab?: string;
  students?: number;
  basePort?: number;
  host?: string;
}

export interface HandoutResult {
  class: string;
  format: 'html' | 'pdf';
  output: string | null;
  students: number[];
}

/** The TD's exercises for each student, in French, with their server, ports and accounts filled in. */
export async function handout(
  options: HandoutOptions,
  ctx: Context = defaultContext({ className: options.className ?? DEFAULT_CLASS }),
): Promise<HandoutResult> {
  const className = options.className ?? DEFAULT_CLASS;
  const format = options.format ?? (options.output && /\.pdf$/i.test(options.output) ? 'pdf' : 'html');
  if (format === 'pdf' && !options.output)
    throw usageError(
      'A PDF is written to a file: give --output FILE.pdf.',
      'Without --output, the HTML goes to stdout.',
    );
  // Before asking the engine anything: a missing browser is the first thing to fix.
  const chromium = format === 'pdf' ? await findChromium() : undefined;
  let html: string;
  let info;
  if (options.lab) {
    const lab = await loadLab(options.lab);
    info = plannedClassInfo(lab, {
      className,
      students: Math.max(options.students ?? 1, options.student ?? 1),
      basePort: options.basePort ?? DEFAULT_BASE_PORT,
      host: options.host ?? defaultHost(),
      ...(options.student !== undefined && { student: options.student }),
    });
    html = handoutHtml(info, lab);
  } else {
    await ctx.engine.ping();
    info = await classInfo(className, ctx.engine, options.student);
    html = handoutHtml(info, await classLab(className, ctx.engine, options.student));
  }
  const result: HandoutResult = {
    class: className,
    format,
    output: options.output ?? null,
    students: info.students.map((s) => s.student),
  };
  if (!options.output) {
    ctx.reporter.result(html, result);
    return result;
  }
  const count = `${info.students.length} student${info.students.length === 1 ? '' : 's'}`;
  if (format === 'pdf') {
    await ctx.reporter.task(`Printing the handout of ${count} with Chromium`, () =>
      printPdf(html, options.output!, chromium),
    );
  } else {
    // Accounts and passwords are in it: only the instructor reads the file (mode only applies on creation).
    await writeFile(options.output, html, { mode: 0o600 });
    await chmod(options.output, 0o600);
  }
  ctx.reporter.result(`Wrote the handout of ${count} (${format}) to ${options.output}.`, result);
  return result;
}
