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
 * What a collect runs (bash): as reset.sh's backup, root only makes a new directory DIR under its own
 * /var/lib/labctl/backups (0700, checked), prints "backup DIR" first, and opens each file there itself; what lies
 * in a home is read by the account (setpriv), so a student's link or FIFO can make it read no more than the student
 * may, and nothing is extracted. What only root and the daemons write (the logs, the evidence of uid 990) is copied
 * as root, links left as links. DIR/backup/ then holds:
 *   mail/USER/spool      /var/mail/USER (an mbox), as USER read it; none when it is empty
 *   mail/USER/home.tar   ~/mbox and ~/Maildir, as USER's own tar of them (names relative to the home)
 *   log/mail.log*        the mail log the TD has students follow (and its rotated file)
 *   evidence/log/…       the verification log (the daemons' lines the sidecar credits from)
 *   evidence/archive/…   Postfix's copy of each message it accepted (a Maildir)
 */
const COLLECT_SCRIPT = `
set -eu
unset LABCTL_SERVER_CONFIG
umask 077
parent=/var/lib/labctl/backups
mkdir -p /var/lib/labctl
mkdir -m 0700 "$parent" 2>/dev/null || true
if [ -L "$parent" ] || [ ! -d "$parent" ] || [ "$(stat -c %u:%a "$parent")" != 0:700 ]; then
  echo "$parent is not a directory only root may enter" >&2
  exit 1
fi
find "$parent" -mindepth 1 -maxdepth 1 -mmin +1440 -exec rm -rf -- {} +
dir=$(mktemp -d "$parent/archive.XXXXXXXX")
out=$dir/backup
mkdir "$out" "$out/mail" "$out/log" "$out/evidence"
echo "backup $dir"
regular() { [ -f "$1" ] && [ ! -L "$1" ]; }
as() { local user=$1; shift; setpriv --reuid="$user" --regid="$user" --init-groups --reset-env -- "$@"; }
home_part='
home=$1
regular() { [ -f "$1" ] && [ ! -L "$1" ]; }
saved=()
if regular "$home/mbox" && [ -s "$home/mbox" ]; then saved+=(mbox); fi
if [ -d "$home/Maildir" ] && [ ! -L "$home/Maildir" ]; then saved+=(Maildir); fi
# tar exits 1 when a file changed while it read (a delivery): what it read is still a copy.
[ \${#saved[@]} -eq 0 ] || tar -C "$home" -cf - -- "\${saved[@]}" || [ $? -eq 1 ]
'
for maildir in /home/*/Maildir; do
  user=$(basename "$(dirname "$maildir")")
  home=$(getent passwd "$user" | cut -d: -f6) || continue
  [ "$home" = "/home/$user" ] || continue
  mkdir "$out/mail/$user"
  spool=/var/mail/$user
  if regular "$spool"; then
    [ ! -s "$spool" ] || as "$user" cat -- "$spool" >"$out/mail/$user/spool"
  elif [ -e "$spool" ] || [ -L "$spool" ]; then
    echo "skipped $spool: not a regular file" >&2
  fi
  as "$user" bash -c "$home_part" labctl-archive "$home" >"$out/mail/$user/home.tar"
  [ -s "$out/mail/$user/home.tar" ] || rm -f -- "$out/mail/$user/home.tar"
done
find /var/log -maxdepth 1 -type f -name 'mail.log*' -exec cp -p -t "$out/log/" -- {} +
for part in log archive; do
  [ ! -d "/var/lib/labctl/evidence/$part" ] || cp -R -P -p -- "/var/lib/labctl/evidence/$part" "$out/evidence/"
done
`;

/** What runs for a collect; one that hangs is stopped as a reset is. */
export function collectCommand(task: Extract<Maintenance, { action: 'collect' }>): string[] {
  return ['timeout', '-k', '5', String(task.timeoutSeconds), 'bash', '-c', COLLECT_SCRIPT, 'labctl-archive'];
}

/** images/mail/session.sh: keeps the student's end where only root writes; the server enforces it from there. */
export function sessionCommand(task: Extract<Maintenance, { action: 'session' }>): string[] {
  return ['labctl-session', 'set', task.end === null ? '' : String(task.end), task.text];
}

/** Where the session's end is kept in the mail server (a volume of its own, which only root writes). */
export const SESSION_DIR = '/var/lib/labctl/keys';
