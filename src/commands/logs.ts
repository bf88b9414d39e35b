import { parseSince, studentLog } from '../core/class-logs.js';
import { observeClass } from '../core/observed-class.js';
import { DEFAULT_CLASS, defaultContext, type Context, type RunOptions } from './context.js';

export { parseSince, sinceFilter } from '../core/class-logs.js';

export interface LogsOptions extends RunOptions {
  className?: string;
  student: number;
  follow?: boolean;
  since?: string;
}

/** The student's mail log (Postfix and Courier lines); with --follow, until Ctrl-C, which ends it cleanly. */
export async function logs(
  options: LogsOptions,
  ctx: Context = defaultContext({ ...options, className: options.className ?? DEFAULT_CLASS }),
): Promise<void> {
  const since = options.since === undefined ? undefined : parseSince(options.since);
  await ctx.engine.ping();
  const observed = await observeClass(ctx.engine, options.className ?? DEFAULT_CLASS, options.student);
  await studentLog(ctx.engine, observed.students[0]!, {
    follow: options.follow,
    since,
    signal: ctx.signal,
    onLines: (text) => ctx.reporter.write(text),
  });
}
