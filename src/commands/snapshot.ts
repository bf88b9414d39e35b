import { withClassLock } from '../core/class-lock.js';
import { snapshotStudents, type SnapshotResult, type SnapshotRow } from '../core/class-snapshot.js';
import { observeClass } from '../core/observed-class.js';
import { ExitCode, LabctlError } from '../errors.js';
import { DEFAULT_CLASS, defaultContext, type Context, type RunOptions } from './context.js';

export type { SnapshotResult } from '../core/class-snapshot.js';

export interface SnapshotOptions extends RunOptions {
  className?: string;
  student?: number;
  /** Seconds a student's services may take to answer again after their copy. */
  timeout?: number;
}

const mib = (bytes = 0) => `${(bytes / 1048576).toFixed(1)} MiB`;
const line = (r: SnapshotRow) =>
  r.done
    ? `student ${r.student}: from ${r.node}, ${mib(r.bytes)} in ${r.seconds} s${r.problem ? ` (warning: ${r.problem})` : ''}`
    : `student ${r.student}: no new snapshot: ${r.problem}`;

/** `labctl snapshot`: every student's volumes (or one's) copied to the Swarm manager, for `up --replace-lost`. */
export async function snapshot(
  options: SnapshotOptions,
  ctx: Context = defaultContext(options),
): Promise<SnapshotResult> {
  const className = options.className ?? DEFAULT_CLASS;
  await ctx.engine.ping();
  const who = options.student !== undefined ? `student ${options.student}` : 'every student';
  const result = await withClassLock(
    ctx.engine,
    className,
    async () => {
      const observed = await observeClass(ctx.engine, className, options.student);
      return ctx.reporter.task(`Copying ${who} of class ${className} to the manager`, (update) =>
        snapshotStudents(ctx.engine, observed, {
          timeoutSeconds: options.timeout ?? 90,
          signal: ctx.signal,
          onDone: (row) => update(line(row)),
        }),
      );
    },
    { command: 'snapshot', onWait: (message) => ctx.reporter.info(message), signal: ctx.signal },
  );
  const rows = result.students.sort((a, b) => a.student - b.student);
  const missed = rows.filter((r) => !r.done);
  if (ctx.signal.aborted) {
    // The copies under way were finished (a student is never left stopped), the others not begun.
    const copied = rows.filter((r) => r.done).map((r) => r.student);
    throw new LabctlError(
      ExitCode.interrupted,
      `Interrupted: ${copied.length > 0 ? `student(s) ${copied.join(', ')} were copied and started again` : 'no student was copied'}; ${missed.length} were not (an older snapshot, if any, is kept).`,
      `Run \`labctl snapshot --class ${className}\` again to copy everyone.`,
    );
  }
  for (const r of rows) if (r.done && r.problem) ctx.reporter.warn(`Student ${r.student}: ${r.problem}`);
  if (missed.length > 0) {
    throw new LabctlError(
      ExitCode.engine,
      `${missed.length} of ${rows.length} student(s) have no new snapshot (an older one, if any, is kept):\n${missed.map((r) => `  ${line(r)}`).join('\n')}`,
      'The others were copied. See `labctl status`, then run `labctl snapshot` again.',
    );
  }
  ctx.reporter.result(
    `Snapshot of ${rows.length} student(s) of class ${className} on the manager in ${result.seconds} s:\n${rows.map((r) => `  ${line(r)}`).join('\n')}`,
    result,
  );
  return result;
}
