import { infoOf, plannedClassInfo } from '../core/class-model.js';
import { loadLab } from '../core/lab.js';
import { observeClass } from '../core/observed-class.js';
import { DEFAULT_BASE_PORT } from '../core/ports.js';
import { usageError } from '../errors.js';
import { handoutHtml } from '../ui/handout.js';
import { findChromium, printPdf } from '../ui/pdf.js';
import { DEFAULT_CLASS, defaultContext, defaultHost, type Context, type RunOptions } from './context.js';

export interface HandoutOptions extends RunOptions {
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

/** The lab's exercises for each student, in French, with their server, ports and accounts filled in. */
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
  const { info, lab } = options.lab
    ? await plannedHandout(className, options.lab, options)
    : await runningHandout(className, options, ctx);
  const html = handoutHtml(info, lab);
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
  // Accounts and passwords are in it: only the instructor reads the file.
  const content =
    format === 'pdf'
      ? await ctx.reporter.task(`Printing the handout of ${count} with Chromium`, () => printPdf(html, chromium))
      : html;
  await ctx.reporter.writePrivate(options.output, content);
  ctx.reporter.result(`Wrote the handout of ${count} (${format}) to ${options.output}.`, result);
  return result;
}

/** The running class's handout: its students as the engine holds them, its lab as it keeps it. */
async function runningHandout(className: string, options: HandoutOptions, ctx: Context) {
  await ctx.engine.ping();
  const observed = await observeClass(ctx.engine, className, options.student);
  return { info: infoOf(observed), lab: observed.lab };
}

/** The handout of a lab for a class not up yet, as `up --lab` would make it. */
async function plannedHandout(className: string, labRef: string, options: HandoutOptions) {
  const lab = await loadLab(labRef);
  const info = plannedClassInfo(lab, {
    className,
    students: Math.max(options.students ?? 1, options.student ?? 1),
    basePort: options.basePort ?? DEFAULT_BASE_PORT,
    host: options.host ?? defaultHost(),
    ...(options.student !== undefined && { student: options.student }),
  });
  return { info, lab };
}
