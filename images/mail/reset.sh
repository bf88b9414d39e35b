#!/bin/bash
# labctl-reset [--backup DIR] USER...
# Empties each user's mail everywhere it lives: /var/mail/USER (mbox), ~/Maildir (Courier) and ~/mbox (where
# `mail` moves read messages). Each mbox is emptied under its dotlock, which Postfix's local(8) also takes before
# writing, so a message being delivered is kept or removed whole; Maildir deliveries are atomic renames.
# Prints one line per user: USER spool=N maildir=N mbox=N (messages removed).
set -eu

backup=""
if [ "${1:-}" = --backup ]; then backup=$2; shift 2; fi
[ $# -gt 0 ] || { echo "usage: labctl-reset [--backup DIR] USER..." >&2; exit 2; }
for user in "$@"; do
  getent passwd "$user" >/dev/null || { echo "no such account: $user" >&2; exit 2; }
done

locks=()
unlock() { [ ${#locks[@]} -eq 0 ] || rm -f "${locks[@]}"; }
trap unlock EXIT

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

messages() { if [ -s "$1" ]; then grep -c '^From ' "$1" || true; else echo 0; fi; }

for user in "$@"; do
  home=$(getent passwd "$user" | cut -d: -f6)
  spool=/var/mail/$user
  mbox=$home/mbox
  lock "$spool"
  [ ! -e "$mbox" ] || lock "$mbox"
  maildir=$(find "$home/Maildir/new" "$home/Maildir/cur" -type f 2>/dev/null | wc -l)
  if [ -n "$backup" ]; then
    mkdir -p "$backup/$user"
    [ ! -s "$spool" ] || cp -p "$spool" "$backup/$user/spool"
    [ ! -s "$mbox" ] || cp -p "$mbox" "$backup/$user/mbox"
    [ -d "$home/Maildir" ] && cp -a "$home/Maildir" "$backup/$user/Maildir"
  fi
  spooled=$(messages "$spool")
  mboxed=$(messages "$mbox")
  [ ! -e "$spool" ] || : >"$spool"
  [ ! -e "$mbox" ] || : >"$mbox"
  find "$home/Maildir/new" "$home/Maildir/cur" -type f -delete 2>/dev/null || true
  unlock
  locks=()
  echo "$user spool=$spooled maildir=$maildir mbox=$mboxed"
done
