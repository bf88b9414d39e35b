import { classBoard, type Board } from '../core/board-model.js';
import { lostNodes, nodeLostError } from '../core/class-status.js';
import { ExitCode, LabctlError, usageError } from '../errors.js';
import { boardCsv, boardTable } from '../ui/board.js';
import { boardXlsx, moodleCsv } from '../ui/grades.js';
import { DEFAULT_CLASS, defaultContext, type Context, type RunOptions } from './context.js';

export type CheckFormat = 'table' | 'csv' | 'moodle' | 'xlsx';

export interface CheckOptions extends RunOptions {
  className?: string;
  student?: number;
  /** The same as format 'csv' (kept from before --format). */
  csv?: boolean;
  /** table (default), csv (a grading sheet), moodle (a CSV for Moodle's gradebook import), xlsx (a spreadsheet). */
  format?: CheckFormat;
  /** Write the csv, moodle or xlsx output to this file instead of stdout. */
  output?: string;
  watch?: boolean;
  /** Minutes without progress before a student is marked stuck (default 15). */
  stuck?: number;
}

/** The class board: students × exercises, as a table, JSON, CSV, Moodle CSV or xlsx; --watch redraws it. */
export async function check(options: CheckOptions, ctx: Context = defaultContext(options)): Promise<Board> {
  const className = options.className ?? DEFAULT_CLASS;
  if (options.csv && options.format && options.format !== 'csv')
    throw usageError(`--csv is --format csv: it does not go with --format ${options.format}.`);
  const format: CheckFormat = options.csv ? 'csv' : (options.format ?? 'table');
  if (options.watch && (options.json || format !== 'table'))
    throw usageError('--watch draws the board on a terminal; it does not go with --json, --csv or --format.');
  if (options.json && format !== 'table')
    throw usageError(`--json and --format ${format} are two different outputs: pick one.`);
  if (options.output && format === 'table')
    throw usageError('--output writes a file: give --format csv, moodle or xlsx with it (or --json > FILE).');
  await ctx.engine.ping();
  const show = async (board: Board) => {
    if (format === 'csv') {
      await ctx.reporter.output({ content: boardCsv(board), what: 'the grading sheet', file: options.output });
    } else if (format === 'moodle') {
      const { csv, rows, skipped } = moodleCsv(board);
      if (rows === 0) {
        throw usageError(
          `Class ${className} has no roster, so there is nobody to give Moodle grades to.`,
          `Import the class list first: \`labctl roster import FILE.csv --class ${className}\`.`,
        );
      }
      if (skipped.length > 0)
        ctx.reporter.warn(`left out student(s) ${skipped.join(', ')}: nobody on the roster sits there.`);
      await ctx.reporter.output({ content: csv, what: `the Moodle grades (${rows} rows)`, file: options.output });
    } else if (format === 'xlsx') {
      const content = await boardXlsx(board);
      await ctx.reporter.output({ content, what: 'the spreadsheet', file: options.output, binary: true });
    } else
      ctx.reporter.result(boardTable(board), {
        class: board.class,
        lab: board.lab,
        stuckAfterMinutes: board.stuckAfterMinutes,
        shares: board.shares,
        students: board.students,
      });
  };
  const ask = () =>
    classBoard(className, ctx.engine, {
      ...(options.student !== undefined && { student: options.student }),
      ...(options.stuck !== undefined && { stuckMinutes: options.stuck }),
    });
  let board = await ask();
  if (format !== 'table') {
    const stopped = board.students.filter((s) => s.stopped).map((s) => s.student);
    if (stopped.length > 0)
      ctx.reporter.warn(
        `student(s) ${stopped.join(', ')} are stopped: their credits are kept on their sidecar, which is not asked while it sleeps; \`labctl start\` first.`,
      );
  }
  if (!options.watch) {
    await show(board);
    // Every student whose node is down, by node ("node X is down: students 2, 5 have no server").
    const lost = lostNodes(
      board.students.flatMap((s) => (s.lostNode ? [{ student: s.student, node: s.lostNode, nodeLost: 'down' }] : [])),
    );
    if (lost.length > 0)
      throw nodeLostError(lost, 'Start the node again: its students come back with their mail and credits.');
    const serverless = board.students.filter((s) => s.noServer);
    if (serverless.length > 0) {
      throw new LabctlError(
        ExitCode.notReady,
        `${serverless.map((s) => `student ${s.student} has no server: ${s.noServer}`).join('.\n')}.`,
        '`labctl up` again starts it (`labctl status` and `labctl logs --student N` show why it stopped).',
        'no-server',
      );
    }
    // Evidence for a grade: a row the board could not read, or that its sidecar cannot keep, is not a 0 to trust.
    const unread = board.students.filter((s) => s.error);
    if (unread.length > 0) {
      throw new LabctlError(
        ExitCode.notReady,
        `${unread.map((s) => `student ${s.student}'s progress: ${s.error}`).join('.\n')}.`,
        'The board above shows what was read. `labctl status --student N` says what answers, `labctl up` again starts a sidecar that stopped; README, "Security model", says why a sidecar may not save.',
        'no-sidecar',
      );
    }
    return board;
  }
  // Until Ctrl-C, which ends it with 130 like any interrupted command.
  for (;;) {
    ctx.reporter.redraw(`${boardTable(board)}\n(updated ${new Date().toLocaleTimeString()}; Ctrl-C to stop)\n`);
    await sleep(2000, ctx.signal);
    board = await ask();
  }
}

/** Waits `ms`, or rejects with the signal's reason when it aborts first. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason as Error);
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', stop);
      resolve();
    }, ms);
    const stop = () => {
      clearTimeout(timer);
      reject(signal.reason as Error);
    };
    signal.addEventListener('abort', stop, { once: true });
  });
}
