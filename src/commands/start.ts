import { withClassLock } from '../core/class-lock.js';
import { failedDeliveries, pushSession } from '../core/class-session.js';
import { interruptedSleep, startClass, type SleepResult } from '../core/class-sleep.js';
import { observeClass } from '../core/observed-class.js';
import { sessionOf } from '../core/session.js';
import { ExitCode, LabctlError } from '../errors.js';
import { DEFAULT_CLASS, defaultContext, type Context, type RunOptions } from './context.js';

export type { SleepResult } from '../core/class-sleep.js';

export interface StartOptions extends RunOptions {
  className?: string;
  student?: number;
  /** Seconds each student's services may take to answer, from the last start so far (as `up --timeout`). */
  timeout?: number;
}

/**
 * `labctl start`: stopped students come back (their disk mounted again if need be), and every service is waited
 * for; what did not come back is said, from what the engine and the ports say afterwards (exit 6).
 */
export async function start(options: StartOptions, ctx: Context = defaultContext(options)): Promise<SleepResult> {
  const className = options.className ?? DEFAULT_CLASS;
  await ctx.engine.ping();
  const who = options.student === undefined ? `class ${className}` : `student ${options.student} of class ${className}`;
  const result = await withClassLock(
    ctx.engine,
    className,
    async () => {
      const observed = await observeClass(ctx.engine, className, options.student);
      const started = await ctx.reporter.task(`Starting ${who} and waiting for every service to answer`, (update) =>
        startClass(ctx.engine, observed, {
          timeoutSeconds: options.timeout ?? 90,
          signal: ctx.signal,
          onProgress: (done, total) => update(`${done}/${total} ready`),
        }),
      );
      // A graded session's end, moved by `extend` while they slept, reaches them now.
      const session = sessionOf(className, observed.objects.volumes);
      if (session) {
        const now = await observeClass(ctx.engine, className, options.student);
        const failed = failedDeliveries(await pushSession(ctx.engine, now, session));
        if (failed.length > 0) ctx.reporter.warn(`The session's end did not reach ${failed.join('; ')}.`);
      }
      return started;
    },
    { command: 'start', onWait: (message) => ctx.reporter.info(message), signal: ctx.signal },
  );
  const missing = result.students.filter((s) => s.state !== 'up');
  if (result.interrupted) throw interruptedSleep(result, 'up', 'start', className);
  if (missing.length > 0) {
    throw new LabctlError(
      ExitCode.notReady,
      `${missing.length} of ${result.students.length} student(s) of ${who} did not come back:\n${missing.map((s) => `  student ${s.student} (${s.state}): ${s.problem}`).join('\n')}`,
      'The others are up. See `labctl status` and `labctl logs --student N`, then run `labctl start` again (`labctl up` recreates what is missing).',
    );
  }
  ctx.reporter.result(
    `Started ${who} (${result.students.length} student${result.students.length > 1 ? 's' : ''}) in ${result.seconds} s: every service answers.`,
    result,
  );
  return result;
}
