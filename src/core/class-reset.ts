import type { Engine, MaintenanceResult } from '../docker/engine.js';
import { ExitCode, LabctlError, usageError } from '../errors.js';
import { upClass } from './class-up.js';
import type { ObservedClass, ObservedStudent } from './observed-class.js';
import type { Feedback } from './feedback.js';
import { SidecarClient } from './sidecar-client.js';

export interface ResetRequest {
  /** One student; every student of the class when absent. */
  student?: number;
  /** One account of each student; every account with a mailbox when absent. */
  user?: string;
  backup?: boolean;
  progress?: boolean;
  hard?: boolean;
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

/** A reset that hangs is stopped after this long (the engine stops it: TERM, then KILL). */
export const RESET_TIMEOUT_S = 30;

export interface ResetHooks {
  /** Keeps a student's backup (a tar) safe, before anything else is said; resolves to where it went. */
  saveBackup: (student: number, tar: Buffer) => Promise<string>;
  feedback: Feedback;
  signal: AbortSignal;
}

/** Checks what a reset is asked to do, before anything is asked of the engine. */
export function checkResetRequest(r: ResetRequest & { all?: boolean }): void {
  if (Boolean(r.all) === (r.student !== undefined))
    throw usageError('Name what to reset: --student N (optionally with --user U), or --all.');
  if (r.user && r.all) throw usageError('--user goes with --student N, not with --all.');
  if (r.user && r.hard) throw usageError('--hard recreates a whole student; it does not go with --user.');
  if (r.user && !/^[a-z_][a-z0-9_-]{0,31}$/.test(r.user))
    throw usageError(`--user "${r.user}" is not an account name`, 'Use an account such as util7.');
}

function parseCounts(output: string): ResetResult['students'][number]['accounts'] {
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

/** What a failed run of the reset script means for the user. */
function failure(n: number, run: MaintenanceResult, saved: string): LabctlError {
  const backupNote = saved && `\nWhat it had removed is backed up in ${saved}.`;
  if (run.exitCode === 124 || run.exitCode === 137)
    return new LabctlError(
      ExitCode.engine,
      `Reset of student ${n} did not finish within ${RESET_TIMEOUT_S} s and was stopped: ${run.stderr.trim()}${backupNote}`,
      'Run it again; if it hangs again, `labctl reset --hard` recreates the student.',
    );
  return new LabctlError(
    run.exitCode === 2 ? ExitCode.usage : ExitCode.engine,
    `Reset failed on student ${n}: ${(run.stderr || run.stdout).trim()}${backupNote}`,
  );
}

/**
 * Empties the mailboxes (spool, Maildir, ~/mbox) of one student of `observed` or all (one account each, when
 * asked), each in their own environment as the engine runs it; clears their progress, or recreates them (--hard),
 * when asked.
 */
export async function resetClass(
  engine: Engine,
  observed: ObservedClass,
  request: ResetRequest,
  hooks: ResetHooks,
): Promise<ResetResult> {
  const result: ResetResult = {
    class: observed.className,
    students: [],
    backups: [],
    progressCleared: [],
    recreated: [],
    skipped: [],
  };
  const chosen = observed.students.filter((s) => s.mail && (request.student ?? s.student) === s.student);
  for (const s of chosen) {
    hooks.signal.throwIfAborted();
    const mail = s.mail!;
    const users =
      request.user !== undefined
        ? [request.user]
        : (await engine.maintenance(mail, { action: 'accounts' })).stdout.split('\n').filter(Boolean);
    const run = await engine.maintenance(mail, {
      action: 'reset',
      users,
      backup: request.backup ?? false,
      timeoutSeconds: RESET_TIMEOUT_S,
    });
    // Saved first: a reset that fails halfway has already emptied some mailboxes.
    const saved = run.backup ? await hooks.saveBackup(s.student, run.backup) : '';
    if (saved) result.backups.push(saved);
    if (run.exitCode !== 0) throw failure(s.student, run, saved);
    result.students.push({ student: s.student, accounts: parseCounts(run.stdout) });
    for (const line of run.stderr.split('\n').filter((l) => l.startsWith('skipped ')))
      result.skipped.push(`student ${s.student}: ${line}`);
    if (request.progress) {
      await clearProgress(s);
      result.progressCleared.push(s.student);
    }
    if (request.hard) {
      const mine = [s.mail, s.sidecar].flatMap((c) => (c ? [c] : []));
      await Promise.all(mine.map((c) => engine.stopWorkload(c.name, 3).then(() => engine.removeWorkload(c.name))));
      result.recreated.push(s.student);
    }
  }
  if (request.hard) await recreate(engine, observed, hooks);
  return result;
}

async function clearProgress(s: ObservedStudent): Promise<void> {
  if (!s.sidecar || !s.adminKey || s.ports.web === undefined)
    throw new LabctlError(ExitCode.engine, `Student ${s.student} has no sidecar to clear.`);
  await new SidecarClient({ host: s.address, port: s.ports.web, key: s.adminKey }).resetProgress();
}

/**
 * --hard: the class is brought back to its plan (as `up` does, quietly but for warnings), from the lab stored with
 * it, and waited for; Ctrl-C undoes it as it undoes `up`.
 */
async function recreate(engine: Engine, observed: ObservedClass, hooks: ResetHooks): Promise<void> {
  const students = Math.max(...observed.students.map((s) => s.student));
  const quiet: Feedback = {
    info: (message) => hooks.feedback.info(message),
    warn: (message) => hooks.feedback.warn(message),
    task: (_text, fn) => fn(() => {}),
  };
  await upClass(
    {
      lab: observed.lab,
      className: observed.className,
      students,
      basePort: observed.basePort,
      host: observed.host,
      bind: observed.bind,
      command: 'reset --hard',
    },
    engine,
    quiet,
    hooks.signal,
  );
}
