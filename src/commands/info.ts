import { infoOf, type ClassInfo } from '../core/class-model.js';
import { observeClass } from '../core/observed-class.js';
import { usageError } from '../errors.js';
import { studentCard } from '../ui/cards.js';
import { cardsHtml, cardsMarkdown } from '../ui/print-cards.js';
import { DEFAULT_CLASS, defaultContext, type Context, type RunOptions } from './context.js';

export interface InfoOptions extends RunOptions {
  className?: string;
  student?: number;
  /** text (cards on the terminal), html or md (printable cards, one per page). */
  format?: 'text' | 'html' | 'md';
  /** Write the cards to this file instead of stdout. */
  output?: string;
}

/** A card per student: how to connect, their accounts and their page. */
export async function info(options: InfoOptions, ctx: Context = defaultContext(options)): Promise<ClassInfo> {
  const format = options.format ?? 'text';
  if (options.json && format !== 'text')
    throw usageError('--json and --format html/md are two different outputs: pick one.');
  await ctx.engine.ping();
  const result = infoOf(await observeClass(ctx.engine, options.className ?? DEFAULT_CLASS, options.student));
  const text =
    format === 'html'
      ? cardsHtml(result)
      : format === 'md'
        ? cardsMarkdown(result)
        : result.students.map((s) => studentCard(result, s)).join('\n');
  if (!options.output) {
    ctx.reporter.result(text, result);
    return result;
  }
  // The cards hold passwords: only the instructor reads the file.
  await ctx.reporter.writePrivate(options.output, text);
  ctx.reporter.result(`Wrote ${result.students.length} card(s) to ${options.output}.`, result);
  return result;
}
