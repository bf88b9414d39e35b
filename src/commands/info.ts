import { classInfo, type ClassInfo } from '../core/class-model.js';
import { usageError } from '../errors.js';
import { studentCard } from '../ui/cards.js';
import { cardsHtml, cardsMarkdown } from '../ui/print-cards.js';
import { chmod, writeFile } from 'node:fs/promises';
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
