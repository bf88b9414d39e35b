import { deliveryError, endLine, extendSession } from '../core/class-session.js';
import { clockText } from '../core/session.js';
import { DEFAULT_CLASS, defaultContext, type Context, type RunOptions } from './context.js';
import type { ExtendResult } from '../core/class-session.js';

export interface ExtendOptions extends RunOptions {
  className?: string;
  student?: number;
  by?: string;
  until?: string;
}

/** Moves the end of the class's session, or one student's (extra time), on their servers and sidecars too. */
export async function extend(options: ExtendOptions, ctx: Context = defaultContext(options)): Promise<ExtendResult> {
  const className = options.className ?? DEFAULT_CLASS;
  await ctx.engine.ping();
  const result = await extendSession(
    ctx.engine,
    {
      className,
      ...(options.student !== undefined && { student: options.student }),
      ...(options.by !== undefined && { by: options.by }),
      ...(options.until !== undefined && { until: options.until }),
    },
    ctx.reporter,
    ctx.signal,
  );
  const { session, changed, deliveries } = result;
  if (ctx.signal.aborted)
    ctx.reporter.info(
      'Ctrl-C came after the new end was saved: it was given to every server and sidecar concerned all the same, so that they agree with the class.',
    );
  const now = Date.now();
  const lines = changed.map((c) => {
    const was = clockText(Date.parse(c.before), session.timeZone);
    const past = Date.parse(c.after) <= now ? ' (already past: their server stays closed)' : '';
    const stopped = deliveries.find(
      (d) => d.student === c.student && d.server !== true && d.server.startsWith('stopped'),
    );
    return `student ${c.student}: ends at ${endLine(session, c.student)}, was ${was}${past}${stopped ? ' (stopped: `labctl start` gives it)' : ''}`;
  });
  const who = options.student === undefined ? `class ${className}` : `student ${options.student} of class ${className}`;
  const head =
    changed.length === 0
      ? `Nothing changed: ${who} already ends at that time.`
      : `Moved the end of ${who}${options.student === undefined ? ` to ${clockText(Date.parse(session.end), session.timeZone)}` : ''}:`;
  const error = deliveryError(deliveries);
  if (error) {
    ctx.reporter.info([head, ...lines].join('\n'));
    throw error;
  }
  ctx.reporter.result([head, ...lines].join('\n'), result);
  return result;
}
