import { chmod, mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { withClassLock } from '../core/class-lock.js';
import { studentMails } from '../core/class-objects.js';
import { classUp, type ClassUpInput } from '../core/class-up.js';
import { labFromLabels } from '../core/lab.js';
import { LABEL } from '../core/labels.js';
import { parsePorts } from '../core/ports.js';
import { SidecarClient } from '../core/sidecar-client.js';
import { adminKey, classToken } from '../core/token.js';
import type { ContainerInfo, Engine } from '../docker/engine.js';
import { ExitCode, LabctlError, usageError } from '../errors.js';
import { confirm } from '../ui/prompt.js';
import { Reporter } from '../ui/reporter.js';
import { DEFAULT_CLASS, defaultContext, type Context } from './context.js';

export interface ResetOptions {
  className?: string;
  student?: number;
  user?: string;
  all?: boolean;
  backup?: boolean;
  hard?: boolean;
  progress?: boolean;
  yes?: boolean;
  json?: boolean;
}

export interface ResetResult {
  class: string;
  students: { student: number; accounts: { user: string; spool: number; maildir: number; mbox: number }[] }[];
  backups: string[];
  progressCleared: number[];
  recreated: number[];
  /** What was left alone, e.g. a ~/mbox that is a link or a FIFO: "student 1: skipped …". */
  skipped: string[];
}

const RESET_TIMEOUT_S = 30;

/** Where labctl keeps a class's files on this host (backups). */
export function classDataDir(className: string): string {
  const root = process.env.LABCTL_DATA_DIR ?? path.join(os.homedir(), '.local', 'share', 'labctl');
  return path.join(root, className);
}

/**
 * Backups hold students' mail, which may hold passwords: the file is 0600 in a private (0700) directory. Modes are
 * set again after writing, since they only apply when a file or directory is created.
 */
async function writePrivate(file: string, data: Buffer): Promise<void> {
  const dir = path.dirname(file);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  await writeFile(file, data, { mode: 0o600 });
  await chmod(file, 0o600);
}

function parseCounts(output: string) {
  return output
    .trim()
    .split('\n')
    .filter((l) => /^\S+ spool=\d+ maildir=\d+ mbox=\d+$/.test(l))
    .map((l) => {
      const [user, ...counts] = l.split(' ');
      const n = Object.fromEntries(counts.map((c) => c.split('=') as [string, string]));
      return { user: user!, spool: Number(n.spool), maildir: Number(n.maildir), mbox: Number(n.mbox) };
    });
}

/** Empties mailboxes (spool, Maildir, ~/mbox) of one account, one student or the class; progress stays unless asked. */
export async function reset(options: ResetOptions, ctx: Context = defaultContext(options)): Promise<ResetResult> {
  const { engine, reporter } = ctx;
  const className = options.className ?? DEFAULT_CLASS;
  if (options.all === (options.student !== undefined)) {
    throw usageError('Name what to reset: --student N (optionally with --user U), or --all.');
  }
  if (options.user && options.all) throw usageError('--user goes with --student N, not with --all.');
  if (options.user && options.hard) throw usageError('--hard recreates a whole student; it does not go with --user.');
  await engine.ping();
  const { containers } = await engine.list(className);
  const mails = studentMails(containers, className, options.all ? undefined : options.student);
  if (options.user && !/^[a-z_][a-z0-9_-]{0,31}$/.test(options.user)) {
    throw usageError(`--user "${options.user}" is not an account name`, 'Use an account such as util7.');
  }
  const what = `${options.user ? `the mail of ${options.user}` : 'all mail'} of ${options.all ? `every student of class ${className}` : `student ${options.student}`}${options.progress ? ', and their progress' : ''}${options.hard ? ' (recreating the containers)' : ''}`;
  if (!options.yes) {
    if (!process.stdin.isTTY)
      throw usageError(`This would delete ${what}, and this is not a terminal to confirm on.`, 'Add --yes to confirm.');
    if (!(await confirm(`Delete ${what}?`))) throw usageError('Cancelled; nothing was removed.');
  }
  const result: ResetResult = {
    class: className,
    students: [],
    backups: [],
    progressCleared: [],
    recreated: [],
    skipped: [],
  };
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  await reporter.task(`Resetting ${what}`, async () => {
    for (const mail of mails) {
      const n = Number(mail.labels[LABEL.student]);
      const users = options.user ? [options.user] : await accounts(engine, mail);
      const run = await engine.maintenance(mail, {
        action: 'reset',
        users,
        backup: options.backup ?? false,
        timeoutSeconds: RESET_TIMEOUT_S,
      });
      // Saved first: a reset that fails halfway has already emptied some mailboxes.
      let saved = '';
      if (run.backup) {
        saved = path.join(classDataDir(className), 'backups', `${stamp}-s${String(n).padStart(2, '0')}.tar`);
        await writePrivate(saved, run.backup);
        result.backups.push(saved);
      }
      const backupNote = saved && `\nWhat it had removed is backed up in ${saved}.`;
      if (run.exitCode === 124 || run.exitCode === 137) {
        throw new LabctlError(
          ExitCode.engine,
          `Reset of student ${n} did not finish within ${RESET_TIMEOUT_S} s and was stopped: ${run.stderr.trim()}${backupNote}`,
          'Run it again; if it hangs again, `labctl reset --hard` recreates the student.',
        );
      }
      if (run.exitCode !== 0) {
        throw new LabctlError(
          run.exitCode === 2 ? ExitCode.usage : ExitCode.engine,
          `Reset failed on student ${n}: ${(run.stderr || run.stdout).trim()}${backupNote}`,
        );
      }
      result.students.push({ student: n, accounts: parseCounts(run.stdout) });
      for (const line of run.stderr.split('\n').filter((l) => l.startsWith('skipped ')))
        result.skipped.push(`student ${n}: ${line}`);
      if (options.progress) {
        const sidecar = containers.find(
          (c) => c.labels[LABEL.role] === 'sidecar' && c.labels[LABEL.student] === String(n),
        );
        const port = parsePorts(mail.labels[LABEL.ports]).web;
        const token = classToken(containers);
        if (!sidecar || !token || port === undefined)
          throw new LabctlError(ExitCode.engine, `Student ${n} has no sidecar to clear.`);
        const host = engine.address(sidecar.ports[0]?.ip ?? '', sidecar.node);
        await new SidecarClient({ host, port, key: adminKey(token, n) }).resetProgress();
        result.progressCleared.push(n);
      }
      if (options.hard) {
        const mine = containers.filter((c) => c.labels[LABEL.student] === String(n));
        await Promise.all(mine.map((c) => engine.stopContainer(c.name, 3).then(() => engine.removeContainer(c.name))));
        result.recreated.push(n);
      }
    }
  });
  if (options.hard) await recreateClass(mails[0]!, containers, ctx);
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

/** Every account of a student's server: the homes with a Maildir. */
async function accounts(engine: Engine, mail: ContainerInfo): Promise<string[]> {
  const run = await engine.maintenance(mail, { action: 'accounts' });
  return run.stdout.split('\n').filter(Boolean);
}

/** --hard: the class is brought back to its plan (as `up` does), from the lab stored with it, and waited for. */
async function recreateClass(mail: ContainerInfo, containers: ContainerInfo[], ctx: Context): Promise<void> {
  const className = mail.labels[LABEL.class]!;
  const input: ClassUpInput = {
    lab: await labFromLabels(mail.labels),
    className,
    students: Math.max(...containers.map((c) => Number(c.labels[LABEL.student] ?? 0))),
    basePort: Number(mail.labels[LABEL.basePort]),
    host: mail.labels[LABEL.host]!,
    bind: mail.labels[LABEL.bind]!,
  };
  await withClassLock(
    ctx.engine,
    className,
    () => classUp(input, ctx.engine, new Reporter({ quiet: true }), new AbortController().signal),
    { onWait: (message) => ctx.reporter.info(message) },
  );
}
