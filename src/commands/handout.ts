import { infoOf } from '../core/class-model.js';
import { observeClass } from '../core/observed-class.js';
import { usageError } from '../errors.js';
import { handoutHtml } from '../ui/handout.js';
import { findChromium, printPdf } from '../ui/pdf.js';
import { DEFAULT_CLASS, defaultContext, type Context, type RunOptions } from './context.js';

export interface HandoutOptions extends RunOptions {
  className?: string;
  student?: number;
  /** html or pdf; by default pdf when --output ends in .pdf, else html. */
  format?: 'html' | 'pdf';
  /** Write the handout to this file (a PDF needs one); HTML goes to stdout without it. */
  output?: string;
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
  await ctx.engine.ping();
  const observed = await observeClass(ctx.engine, className, options.student);
  const info = infoOf(observed);
  const html = handoutHtml(info, observed.lab.exercises);
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
