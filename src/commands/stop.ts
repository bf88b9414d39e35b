import { withClassLock } from '../core/class-lock.js';
import { interruptedSleep, stopClass, type SleepResult } from '../core/class-sleep.js';
import { observeClass } from '../core/observed-class.js';
import { ExitCode, LabctlError } from '../errors.js';
import { DEFAULT_CLASS, defaultContext, type Context, type RunOptions } from './context.js';

export type { SleepResult } from '../core/class-sleep.js';

export interface StopOptions extends RunOptions {
  className?: string;
  student?: number;
}

/** `labctl stop`: the class (or one student) sleeps; mailboxes, disks and progress are kept for `labctl start`. */
export async function stop(options: StopOptions, ctx: Context = defaultContext(options)): Promise<SleepResult> {
  const className = options.className ?? DEFAULT_CLASS;
  await ctx.engine.ping();
  const who = options.student === undefined ? `class ${className}` : `student ${options.student} of class ${className}`;
  const result = await withClassLock(
    ctx.engine,
    className,
    async () => {
      const observed = await observeClass(ctx.engine, className, options.student);
      return ctx.reporter.task(`Stopping ${who}`, () => stopClass(ctx.engine, observed, ctx.signal));
    },
    { command: 'stop', onWait: (message) => ctx.reporter.info(message), signal: ctx.signal },
  );
  const awake = result.students.filter((s) => s.state !== 'stopped');
  if (result.interrupted) throw interruptedSleep(result, 'stopped', 'stop', className);
  if (awake.length > 0) {
    throw new LabctlError(
      ExitCode.engine,
      `Not every student of ${who} stopped:\n${awake.map((s) => `  student ${s.student}: ${s.problem}`).join('\n')}`,
      'Run `labctl stop` again, or see `labctl status`.',
    );
  }
  ctx.reporter.result(
    `Stopped ${who} (${result.students.length} student${result.students.length > 1 ? 's' : ''}) in ${result.seconds} s: mailboxes, disks and progress are kept. \`labctl start\` brings them back.`,
    result,
  );
  return result;
}
