import { classBoard, type Board } from '../core/board-model.js';
import { usageError } from '../errors.js';
import { boardCsv, boardTable } from '../ui/board.js';
import { DEFAULT_CLASS, defaultContext, type Context } from './context.js';

export interface CheckOptions {
  className?: string;
  student?: number;
  json?: boolean;
  csv?: boolean;
  watch?: boolean;
  /** Minutes without progress before a student is marked stuck (default 15). */
  stuck?: number;
}

/** The class board: students × exercises, as a table, JSON or CSV; --watch redraws it. */
export async function check(options: CheckOptions, ctx: Context = defaultContext(options)): Promise<Board> {
  const className = options.className ?? DEFAULT_CLASS;
  if (options.watch && (options.json || options.csv))
    throw usageError('--watch draws the board on a terminal; it does not go with --json or --csv.');
  await ctx.engine.ping();
  const show = (board: Board) => {
    if (options.csv) process.stdout.write(boardCsv(board));
    else
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
  if (!options.watch) {
    show(board);
    return board;
  }
  for (;;) {
    if (process.stdout.isTTY) process.stdout.write('\x1b[2J\x1b[H');
    process.stdout.write(`${boardTable(board)}\n(updated ${new Date().toLocaleTimeString()}; Ctrl-C to stop)\n`);
    await new Promise((r) => setTimeout(r, 2000));
    board = await ask();
  }
}
