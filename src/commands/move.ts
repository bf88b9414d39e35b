import { withClassLock } from '../core/class-lock.js';
import { moveStudents, type MoveResult, type MoveRow } from '../core/class-move.js';
import { observeClass } from '../core/observed-class.js';
import { ExitCode, LabctlError } from '../errors.js';
import { DEFAULT_CLASS, defaultContext, type Context, type RunOptions } from './context.js';

export type { MoveResult } from '../core/class-move.js';

export interface MoveOptions extends RunOptions {
  className?: string;
  student?: number;
  from?: string;
  to?: string;
  /** Seconds a moved student's services may take to answer on the new node. */
  timeout?: number;
}

const mib = (bytes = 0) => `${(bytes / 1048576).toFixed(1)} MiB`;
const line = (r: MoveRow) =>
  r.moved
    ? `student ${r.student}: ${r.from} -> ${r.to}, ${mib(r.bytes)} in ${r.seconds} s${r.problem ? ` (warning: ${r.problem})` : ''}`
    : `student ${r.student}: stays on ${r.from}: ${r.problem}`;

/**
 * `labctl move`: students carried to another Swarm node with their mailboxes, homes, logs, progress and ssh host
 * keys. Each is stopped during their copy, and answers on the new node before their old copies go.
 */
export async function move(options: MoveOptions, ctx: Context = defaultContext(options)): Promise<MoveResult> {
  const className = options.className ?? DEFAULT_CLASS;
  await ctx.engine.ping();
  const who =
    options.student !== undefined ? `student ${options.student}` : `the students on node ${options.from ?? '?'}`;
  const result = await withClassLock(
    ctx.engine,
    className,
    async () => {
      const observed = await observeClass(ctx.engine, className, options.student);
      return ctx.reporter.task(
        `Moving ${who} of class ${className}${options.to ? ` to ${options.to}` : ''}`,
        (update) =>
          moveStudents(ctx.engine, observed, {
            student: options.student,
            from: options.from,
            to: options.to,
            timeoutSeconds: options.timeout ?? 90,
            signal: ctx.signal,
            onMoved: (row) => update(line(row)),
          }),
      );
    },
    { command: 'move', onWait: (message) => ctx.reporter.info(message), signal: ctx.signal },
  );
  for (const r of result.students) if (r.moved && r.problem) ctx.reporter.warn(r.problem);
  const stayed = result.students.filter((r) => !r.moved);
  if (stayed.length > 0) {
    throw new LabctlError(
      ExitCode.engine,
      `${stayed.length} of ${result.students.length} student(s) did not move (each stays where they were, as they were):\n${stayed.map((r) => `  ${line(r)}`).join('\n')}`,
      'The others moved. See `labctl status`, then run `labctl move` again.',
    );
  }
  const moved = result.students.map((r) => `  ${line(r)}`).join('\n');
  ctx.reporter.result(
    result.students.length === 0
      ? `No student of class ${className} is on node ${options.from}.`
      : `Moved ${result.students.length} student(s) of class ${className} in ${result.seconds} s:\n${moved}`,
    result,
  );
  return result;
}
