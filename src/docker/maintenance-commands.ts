import type { Maintenance } from './engine.js';

/** What the engines run in a student's mail server (images/mail/) for a maintenance action or the mail log. */

/** The student's mail log, what the TD has them follow. */
export const MAIL_LOG = '/var/log/mail.log';

/** The accounts that have a mailbox there, one a line. */
export const ACCOUNTS_COMMAND = ['sh', '-c', 'for d in /home/*/Maildir; do basename "$(dirname "$d")"; done'];

/** images/mail/reset.sh for a reset; one that hangs is stopped (TERM, so it lets go of the mailbox locks; KILL 5 s later). */
export function resetCommand(task: Extract<Maintenance, { action: 'reset' }>): string[] {
  return [
    'timeout',
    '-k',
    '5',
    String(task.timeoutSeconds),
    'labctl-reset',
    ...(task.backup ? ['--backup'] : []),
    ...task.users,
  ];
}

/**
 * Where a reset with `--backup` keeps its copy, from its first line ("backup DIR"): a new directory in the mail
 * server's root-only /var/lib/labctl/backups, there even when the reset failed halfway. The backup given back is
 * DIR/backup, archived with that name at its root.
 */
export function backupDir(stdout: string): string | undefined {
  return /^backup (\/var\/lib\/labctl\/backups\/(?:reset|archive)\.[A-Za-z0-9]+)\n/.exec(stdout)?.[1];
}

/**
 * images/mail/collect.sh for an archive: a backup as a reset's (its first line "backup DIR"), of the accounts' mail,
 * the mail log and the evidence; one that hangs is stopped as a reset is.
 */
export function collectCommand(task: Extract<Maintenance, { action: 'collect' }>): string[] {
  return ['timeout', '-k', '5', String(task.timeoutSeconds), 'labctl-collect'];
}

/** images/mail/session.sh: keeps the student's end where only root writes; the server enforces it from there. */
export function sessionCommand(task: Extract<Maintenance, { action: 'session' }>): string[] {
  return ['labctl-session', 'set', task.end === null ? '' : String(task.end), task.text];
}

/** Where the session's end is kept in the mail server (a volume of its own, which only root writes). */
export const SESSION_DIR = '/var/lib/labctl/keys';
