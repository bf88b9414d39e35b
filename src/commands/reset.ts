import os from 'node:os';
import path from 'node:path';
import { checkResetRequest, resetClass, type ResetResult } from '../core/class-reset.js';
import { observeClass, onlyStudent } from '../core/observed-class.js';
import { DEFAULT_CLASS, defaultContext, type Context, type RunOptions } from './context.js';

export type { ResetResult } from '../core/class-reset.js';

export interface ResetOptions extends RunOptions {
  className?: string;
  student?: number;
  user?: string;
  all?: boolean;
  backup?: boolean;
  hard?: boolean;
  progress?: boolean;
  yes?: boolean;
}

/** Where labctl keeps a class's files on this host (backups). */
export function classDataDir(className: string): string {
  const root = process.env.LABCTL_DATA_DIR ?? path.join(os.homedir(), '.local', 'share', 'labctl');
  return path.join(root, className);
}

/** Empties mailboxes (spool, Maildir, ~/mbox) of one account, one student or the class; progress stays unless asked. */
export async function reset(options: ResetOptions, ctx: Context = defaultContext(options)): Promise<ResetResult> {
  const { engine, reporter } = ctx;
  const className = options.className ?? DEFAULT_CLASS;
  checkResetRequest(options);
  await engine.ping();
  const observed = await observeClass(engine, className);
  const student = options.all ? undefined : options.student;
  if (student !== undefined) onlyStudent(observed, student); // says so when there is no such student
  const what = `${options.user ? `the mail of ${options.user}` : 'all mail'} of ${options.all ? `every student of class ${className}` : `student ${options.student}`}${options.progress ? ', and their progress' : ''}${options.hard ? ' (recreating the containers)' : ''}`;
  await reporter.confirm(`Delete ${what}?`, {
    yes: options.yes,
    refusal: `This would delete ${what}`,
    cancelled: 'Cancelled; nothing was removed.',
  });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const result = await reporter.task(`Resetting ${what}`, () =>
    resetClass(
      engine,
      observed,
      { ...options, student },
      {
        // Backups hold students' mail: a file for its owner only, in a private directory.
        saveBackup: async (n, tar) => {
          const file = path.join(classDataDir(className), 'backups', `${stamp}-s${String(n).padStart(2, '0')}.tar`);
          await reporter.writePrivate(file, tar, { privateDir: true });
          return file;
        },
        feedback: reporter,
        signal: ctx.signal,
      },
    ),
  );
  const lines = result.students.flatMap((s) =>
    s.accounts.map(
      (a) =>
        `student ${s.student}  ${a.user.padEnd(7)} removed ${a.spool} from the spool, ${a.maildir} from Maildir, ${a.mbox} from ~/mbox`,
    ),
  );
  lines.push(...result.skipped.map((line) => `${line} (left as it is)`));
  if (result.backups.length > 0) lines.push(`Backups: ${result.backups.join(', ')}`);
  lines.push(options.progress ? 'Progress cleared.' : 'Progress kept (add --progress to clear it).');
  reporter.result(lines.join('\n'), result);
  return result;
}
