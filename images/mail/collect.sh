#!/bin/bash
# labctl-collect: what `labctl archive` takes from a student's mail server. As labctl-reset's backup, it makes a
# new directory DIR that only root may enter (backup-dir.sh), prints "backup DIR" first, and opens each file there
# itself; what lies in a home is read by the account (setpriv), so a student's link or FIFO can make it read no
# more than the student may, and nothing is extracted. What only root and the daemons write (the logs, the
# evidence of uid 990) is copied as root, links left as links. DIR/backup/ then holds:
#   mail/USER/spool      /var/mail/USER (an mbox), as USER read it; none when it is empty
#   mail/USER/home.tar   ~/mbox and ~/Maildir, as USER's own tar of them (names relative to the home)
#   log/mail.log*        the mail log the TD has students follow (and its rotated file)
#   evidence/log/…       the verification log (the daemons' lines the sidecar credits from)
#   evidence/archive/…   Postfix's copy of each message it accepted (a Maildir)
# The engine copies DIR/backup out and removes DIR.
set -eu
# As in labctl-reset: none of the server's configuration goes to the processes run as the account.
unset LABCTL_SERVER_CONFIG
umask 077
. /usr/local/lib/labctl/backup-dir.sh

backup_dir archive
out=$dir/backup
mkdir "$out/mail" "$out/log" "$out/evidence"
regular() { [ -f "$1" ] && [ ! -L "$1" ]; }
as() { local user=$1; shift; setpriv --reuid="$user" --regid="$user" --init-groups --reset-env -- "$@"; }
home_part='
home=$1
regular() { [ -f "$1" ] && [ ! -L "$1" ]; }
saved=()
if regular "$home/mbox" && [ -s "$home/mbox" ]; then saved+=(mbox); fi
if [ -d "$home/Maildir" ] && [ ! -L "$home/Maildir" ]; then saved+=(Maildir); fi
# tar exits 1 when a file changed while it read (a delivery): what it read is still a copy.
[ ${#saved[@]} -eq 0 ] || tar -C "$home" -cf - -- "${saved[@]}" || [ $? -eq 1 ]
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
  as "$user" bash -c "$home_part" labctl-collect "$home" >"$out/mail/$user/home.tar"
  [ -s "$out/mail/$user/home.tar" ] || rm -f -- "$out/mail/$user/home.tar"
done
find /var/log -maxdepth 1 -type f -name 'mail.log*' -exec cp -p -t "$out/log/" -- {} +
for part in log archive; do
  [ ! -d "/var/lib/labctl/evidence/$part" ] || cp -R -P -p -- "/var/lib/labctl/evidence/$part" "$out/evidence/"
done
