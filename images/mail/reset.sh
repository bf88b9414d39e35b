#!/bin/bash
# labctl-reset [--backup DIR] USER...
# Empties each user's mail everywhere it lives: /var/mail/USER (mbox), ~/Maildir (Courier) and ~/mbox (where
# `mail` moves read messages). Each mbox is emptied under its dotlock, which Postfix's local(8) also takes before
# writing, so a message being delivered is kept or removed whole; Maildir deliveries are atomic renames.
# Everything in a home is done as the account itself (setpriv), so what a student put there (a link to
# /etc/passwd, a FIFO) can do no more than the student could; anything that is not a regular file is left
# alone and named. The spool, in a directory students cannot write, is handled as root, regular files only.
# Prints one line per user: USER spool=N maildir=N mbox=N (messages removed).
set -eu
# `docker exec` hands this the container's environment, which carries the server's configuration: none of it
# goes to the processes run as the account.
unset LABCTL_SERVER_CONFIG

backup=""
if [ "${1:-}" = --backup ]; then backup=$2; shift 2; fi
[ $# -gt 0 ] || { echo "usage: labctl-reset [--backup DIR] USER..." >&2; exit 2; }
for user in "$@"; do
  getent passwd "$user" >/dev/null || { echo "no such account: $user" >&2; exit 2; }
done

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

# The part done in the home, as the account: prints "maildir=N mbox=N".
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
if [ -n "$backup" ]; then
  if regular "$mbox" && [ -s "$mbox" ]; then cp -P "$mbox" "$backup/mbox"; fi
  [ ! -d "$home/Maildir" ] || [ -L "$home/Maildir" ] || cp -RP "$home/Maildir" "$backup/Maildir"
fi
if regular "$mbox"; then : >"$mbox"; fi
find "$home/Maildir/new" "$home/Maildir/cur" -maxdepth 1 -type f -delete 2>/dev/null || true
echo "maildir=$maildir mbox=$mboxed"
'

for user in "$@"; do
  home=$(getent passwd "$user" | cut -d: -f6)
  spool=/var/mail/$user
  dest=""
  if [ -n "$backup" ]; then
    install -d -m 0711 -o root -g root "$backup"
    install -d -m 0700 -o "$user" -g "$user" "$backup/$user"
    dest=$backup/$user
  fi
  spooled=0
  if regular "$spool"; then
    lock "$spool"
    spooled=$(messages "$spool")
    [ -z "$dest" ] || [ ! -s "$spool" ] || cp -p "$spool" "$dest/spool"
  elif [ -e "$spool" ] || [ -L "$spool" ]; then
    echo "skipped $spool: not a regular file" >&2
  fi
  counts=$(setpriv --reuid="$user" --regid="$user" --init-groups --reset-env -- bash -c "$home_part" labctl-reset "$home" "$dest")
  ! regular "$spool" || : >"$spool"
  unlock
  locks=()
  echo "$user spool=$spooled $counts"
done
