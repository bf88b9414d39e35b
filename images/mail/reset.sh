#!/bin/bash
# labctl-reset [--backup] USER...
# Empties each user's mail everywhere it lives: /var/mail/USER (mbox), ~/Maildir (Courier) and ~/mbox (where
# `mail` moves read messages). Each mbox is emptied under its dotlock, which Postfix's local(8) also takes before
# writing, so a message being delivered is kept or removed whole; Maildir deliveries are atomic renames.
# Everything in a home is done as the account itself (setpriv), so what a student put there (a link to
# /etc/passwd, a FIFO) can do no more than the student could; anything that is not a regular file is left
# alone and named. The spool, in a directory students cannot write, is emptied as root, regular files only.
# Prints one line per user: USER spool=N maildir=N mbox=N (messages removed).
#
# --backup first copies what is removed into a new directory DIR that only root may enter (backup-dir.sh), and
# prints "backup DIR" first. DIR/backup/USER/ holds `spool` (the spool file) and `home.tar` (~/mbox and
# ~/Maildir, relative to the home). Root only creates these files, in its own directory; the account reads
# its own mail and writes into the file root opened for it. So nothing a student can name or reach is written
# by root, and nothing is extracted. DIR stays when the reset fails, so that what it removed is not lost: the
# engine copies DIR out and removes it.
set -eu
# `docker exec` hands this the container's environment, which carries the server's configuration: none of it
# goes to the processes run as the account.
unset LABCTL_SERVER_CONFIG
. /usr/local/lib/labctl/backup-dir.sh

backup=false
if [ "${1:-}" = --backup ]; then backup=true; shift; fi
[ $# -gt 0 ] || { echo "usage: labctl-reset [--backup] USER..." >&2; exit 2; }
for user in "$@"; do
  getent passwd "$user" >/dev/null || { echo "no such account: $user" >&2; exit 2; }
done

umask 077
locks=()
unlock() { [ ${#locks[@]} -eq 0 ] || rm -f "${locks[@]}"; }
trap unlock EXIT
trap 'exit 1' TERM INT

# Takes FILE.lock the way Postfix does (create-exclusive), waiting while a delivery holds it.
lock() {
  local file=$1 tries=0
  until (set -o noclobber; echo $$ >"$file.lock") 2>/dev/null; do
    tries=$((tries + 1))
    [ $tries -lt 100 ] || { echo "$file stays locked" >&2; exit 1; }
    sleep 0.1
  done
  locks+=("$file.lock")
}

regular() { [ -f "$1" ] && [ ! -L "$1" ]; }
messages() { if regular "$1" && [ -s "$1" ]; then grep -c '^From ' "$1" || true; else echo 0; fi; }
as() { local user=$1; shift; setpriv --reuid="$user" --regid="$user" --init-groups --reset-env -- "$@"; }

# The part done in the home, as the account: prints "maildir=N mbox=N"; with a backup, writes a tar of ~/mbox
# and ~/Maildir to fd 3.
home_part='
set -eu
home=$1 backup=$2
mbox=$home/mbox
regular() { [ -f "$1" ] && [ ! -L "$1" ]; }
mboxed=0 lockfile=""
trap "[ -z \"\$lockfile\" ] || rm -f \"\$lockfile\"" EXIT
if [ -e "$mbox" ] || [ -L "$mbox" ]; then
  if regular "$mbox"; then
    tries=0
    until (set -o noclobber; echo $$ >"$mbox.lock") 2>/dev/null; do
      tries=$((tries + 1)); [ $tries -lt 100 ] || { echo "$mbox stays locked" >&2; exit 1; }; sleep 0.1
    done
    lockfile=$mbox.lock
    [ ! -s "$mbox" ] || mboxed=$(grep -c "^From " "$mbox" || true)
  else
    echo "skipped $mbox: not a regular file" >&2
  fi
fi
maildir=$(find "$home/Maildir/new" "$home/Maildir/cur" -maxdepth 1 -type f 2>/dev/null | wc -l)
if [ "$backup" = yes ]; then
  saved=()
  if regular "$mbox" && [ -s "$mbox" ]; then saved+=(mbox); fi
  if [ -d "$home/Maildir" ] && [ ! -L "$home/Maildir" ]; then saved+=(Maildir); fi
  # tar exits 1 when a file changed while it read (a delivery): what it read is still a backup.
  [ ${#saved[@]} -eq 0 ] || tar -C "$home" -cf - -- "${saved[@]}" >&3 || [ $? -eq 1 ]
fi
if regular "$mbox"; then : >"$mbox"; fi
find "$home/Maildir/new" "$home/Maildir/cur" -maxdepth 1 -type f -delete 2>/dev/null || true
echo "maildir=$maildir mbox=$mboxed"
'

dir=""
if $backup; then backup_dir reset; fi

for user in "$@"; do
  home=$(getent passwd "$user" | cut -d: -f6)
  spool=/var/mail/$user
  dest=""
  if [ -n "$dir" ]; then
    dest=$dir/backup/$user
    mkdir "$dest"
  fi
  spooled=0
  if regular "$spool"; then
    lock "$spool"
    spooled=$(messages "$spool")
    [ -z "$dest" ] || [ ! -s "$spool" ] || as "$user" cat -- "$spool" >"$dest/spool"
  elif [ -e "$spool" ] || [ -L "$spool" ]; then
    echo "skipped $spool: not a regular file" >&2
  fi
  if [ -n "$dest" ]; then
    counts=$(as "$user" bash -c "$home_part" labctl-reset "$home" yes 3>"$dest/home.tar")
    [ -s "$dest/home.tar" ] || rm -f -- "$dest/home.tar"
  else
    counts=$(as "$user" bash -c "$home_part" labctl-reset "$home" no)
  fi
  # What the account's part printed is the account's to forge: only its counts go on.
  [[ $counts =~ ^maildir=[0-9]+\ mbox=[0-9]+$ ]] || { echo "$user: unexpected counts from the home" >&2; exit 1; }
  ! regular "$spool" || : >"$spool"
  unlock
  locks=()
  echo "$user spool=$spooled $counts"
done
