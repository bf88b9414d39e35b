#!/bin/bash
# PID 1 of the mail container. Stage 1 (as started, with NET_ADMIN): close the way out of the lab, then
# give NET_ADMIN up for good (capsh drops it from the bounding set) and start over as stage 2. Stage 2:
# start the daemons, then wait; on SIGTERM stop them all and exit, so that `docker stop` returns at once.
set -u
evidence=/var/lib/labctl/evidence
keys=/var/lib/labctl/keys
listening=$evidence/listening
# What listened before this start is not true of it: nothing listens until the daemons do (see read_listeners).
rm -f "$listening" "$listening.new"

# Nothing in a student's network opens a connection outside the lab: only loopback and the replies to
# connections that came in (published ports) may leave the container. Nor do the lab's accounts (every uid
# from 1000: the image's 2001+ and the per-student 100000+) reach Docker's resolver at 127.0.0.11, over UDP
# or TCP: the host would resolve for them, a way out by DNS. Their rule comes before loopback's, as the
# resolver sits on loopback; filter OUTPUT sees Docker's DNAT-ed packet, still bound for 127.0.0.11. Root
# still resolves; no daemon here asks (Postfix, Courier and sshd look no names up). One restore per family,
# not one command per rule: each iptables run costs as much as the whole rule set.
firewall() {
  local dns rules out f off
  dns='-A OUTPUT -d 127.0.0.11/32 -p tcp -m owner --uid-owner 1000-4294967294 -j REJECT --reject-with tcp-reset
-A OUTPUT -d 127.0.0.11/32 -m owner --uid-owner 1000-4294967294 -j REJECT'
  rules='-A OUTPUT -o lo -j ACCEPT
-A OUTPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
-A OUTPUT -p tcp -j REJECT --reject-with tcp-reset
-A OUTPUT -j REJECT
COMMIT'
  out=$(printf '*filter\n:OUTPUT ACCEPT [0:0]\n%s\n%s\n' "$dns" "$rules" | iptables-restore -w 2>&1) ||
    { why="iptables-restore: ${out:-failed}"; return 1; }
  # The same for IPv6 (the resolver is IPv4 only). ip6tables may fail only where there is no IPv6 to close:
  # none in the kernel, or IPv6 off on every interface and for new ones (Docker's default without --ipv6).
  out=$(printf '*filter\n:OUTPUT ACCEPT [0:0]\n%s\n' "$rules" | ip6tables-restore -w 2>&1) && return 0
  for f in /proc/sys/net/ipv6/conf/*/disable_ipv6; do
    [ -e "$f" ] || break
    read -r off <"$f"
    [ "$off" = 1 ] || { why="ip6tables-restore: ${out:-failed}, and IPv6 is on (${f%/disable_ipv6})"; return 1; }
  done
}

if [ "${1:-}" != daemons ]; then
  # This student's configuration, rendered by labctl, travels in the container's spec (any engine carries
  # it): a gzipped tar in base64, unpacked at every start, then dropped from the environment before any
  # daemon starts.
  if [ -n "${LABCTL_SERVER_CONFIG:-}" ]; then
    printf '%s' "$LABCTL_SERVER_CONFIG" | base64 -d | tar -xzf - -C / --no-same-owner ||
      { echo "labctl: cannot unpack this server's configuration (LABCTL_SERVER_CONFIG)" >&2; exit 1; }
  fi
  unset LABCTL_SERVER_CONFIG
  # Without its firewall a server would let mail and students out of the lab: it does not start.
  why=''
  if ! firewall; then
    echo "labctl: this mail server does not start: its egress firewall cannot be set, and without it mail and students could leave the lab ($why). It needs the NET_ADMIN capability and the host's iptables (IPv6 too, unless IPv6 is off)." >&2
    exit 1
  fi
  exec capsh --drop=cap_net_admin -- "$0" daemons
fi

stop() {
  kill -TERM -1 2>/dev/null
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    pgrep -x master >/dev/null || pgrep -x rsyslogd >/dev/null || break
    sleep 0.1
  done
  exit 0
}
trap stop TERM INT

# systemd or the init scripts make these; there is neither here. /run is a small tmpfs (/run/lock is
# world-writable: on the container's own layer it would be the host's disk).
mkdir -p /run/courier/authdaemon /run/sshd /var/spool/rsyslog
install -d -m 1777 /run/lock
chown daemon:daemon /run/courier/authdaemon 2>/dev/null || true
touch /var/log/mail.log && chmod 0644 /var/log/mail.log
# The evidence the sidecar believes: rsyslog's verification log and Postfix's copy of every message.
# Only root, Postfix and the sidecar's uid (990) may enter; the lab's accounts may not.
install -d -o root -g 990 -m 0750 "$evidence" "$evidence/log"
install -d -o 990 -g 990 -m 0700 "$evidence/archive"
# ssh host keys of this server, made at its first start and kept on its own volume.
install -d -o root -g root -m 0700 "$keys"
for type in ed25519 ecdsa; do
  [ -s "$keys/ssh_host_${type}_key" ] || ssh-keygen -q -t "$type" -N '' -f "$keys/ssh_host_${type}_key"
done
# This student's accounts take their own uids (rendered by labctl), with what they own in their home and
# the spool, so that one student's processes never count against another's limits.
# One pass over /etc/passwd for all of them (a process per account would cost more than the rest of the start).
if [ -s /etc/labctl/uids ]; then
  changes=$(awk -F: 'NR == FNR { split($0, a, " "); want[a[1]] = a[2]; next }
    ($1 in want) && $3 != want[$1] { print $1, $3, want[$1] }' /etc/labctl/uids /etc/passwd)
  if [ -n "$changes" ]; then
    sed -i "$(printf '%s\n' "$changes" | awk '{ printf "s/^%s:x:%s:/%s:x:%s:/\n", $1, $2, $1, $3 }')" /etc/passwd
    # What each account owns in the homes and the spool, in one walk (symlinks themselves, never their targets).
    perl -MFile::Find -MPOSIX=lchown -e '
      my %uid; while (<STDIN>) { my (undef, $old, $new) = split; $uid{$old} = $new }
      find({ no_chdir => 1, wanted => sub {
        my @st = lstat $_ or return;
        lchown($uid{$st[4]}, -1, $_) if exists $uid{$st[4]};
      } }, grep { -d } "/home", "/var/mail");' <<<"$changes"
  fi
fi
# rsyslog trusts Postfix's own uid, whatever number Debian gave it.
sed -i "s/@POSTFIX_UID@/$(id -u postfix)/g" /etc/rsyslog.conf
# `up --passwords random` puts each student's own passwords here.
[ ! -s /etc/labctl/passwords ] || chpasswd </etc/labctl/passwords
# A graded session's end, as kept on the keys volume, where the daemons read it before any of them starts: a server
# that starts after its end refuses logins from its first connection.
labctl-session publish

rsyslogd -iNONE
/usr/sbin/authdaemond start &
# The lab's own start hooks (its folder's server/etc/labctl/start.d/), as root, before the base's daemons: what the
# lab adds (saslauthd, Courier's TLS ports) starts beside them.
for hook in /etc/labctl/start.d/*.sh; do
  [ -f "$hook" ] || continue
  sh "$hook" || echo "labctl: the lab's start hook $hook failed (exit $?)" >&2
done
# Without its integrity checks (ownership of the queue and the configuration, checked when the image is
# built, not changed since): they are 90% of Postfix's start, a quarter of a second of CPU per server.
touch /var/spool/postfix/quick-start
postfix start >/dev/null 2>&1 &
# Courier's plain IMAP and POP3 only where the lab has them (IMAPDSTART, POP3DSTART in their configuration).
(. /etc/courier/imapd && [ "${IMAPDSTART:-YES}" = NO ] || exec /usr/sbin/imapd start) &
(. /etc/courier/pop3d && [ "${POP3DSTART:-YES}" = NO ] || exec /usr/sbin/pop3d start) &
/usr/sbin/sshd &
wait
echo "labctl: mail server up: $(awk '{ printf "%s%s %s", sep, $1, $4; sep = ", " }' /etc/labctl/services 2>/dev/null)"

# The archive is evidence for the sidecar, which reads each copy within a poll; after that it is only disk. It
# is kept within its share of the student's disk and its age (/etc/labctl/limits): the oldest copies go first.
prune_archive() {
  local ARCHIVE_MAX_KIB=262144 ARCHIVE_MAX_AGE_MIN=1440 total
  . /etc/labctl/limits 2>/dev/null
  find "$evidence/archive" -type f -mmin +"$ARCHIVE_MAX_AGE_MIN" -delete 2>/dev/null
  total=$(du -sk "$evidence/archive" 2>/dev/null | cut -f1)
  [ "${total:-0}" -gt "$ARCHIVE_MAX_KIB" ] || return 0
  find "$evidence/archive/new" "$evidence/archive/cur" -type f -printf '%T@ %k %p\n' 2>/dev/null | sort -n |
    awk -v over=$((total - ARCHIVE_MAX_KIB)) 'over <= 0 { exit } { over -= $2; sub(/^[^ ]+ [^ ]+ /, ""); print }' |
    xargs -r -d '\n' rm -f --
}
# What listens on each of the lab's ports, as this container's kernel says (/proc/net/tcp, tcp6): `smtp 25 listening
# 0`, a line a service, in the evidence, where the sidecar reads it for `labctl status` and students cannot write.
# Reading it asks nothing of the daemons (a greeting costs each a process and lines in the mail log the student
# reads). A listening socket's rx_queue is its accept queue: connections still waiting at two reads in a row mean
# the daemon no longer takes them (`stuck`). Written only when it changes (the only forks: chgrp and mv).
declare -A waiting seen
busy=1
read_listeners() {
  local f line fields port name proto tls out=''
  waiting=()
  # One read a file (mapfile): `read` takes a line a byte at a time, each a walk of the table.
  for f in /proc/net/tcp /proc/net/tcp6; do
    [ -r "$f" ] || continue
    mapfile -t lines <"$f"
    for line in "${lines[@]:1}"; do
      read -ra fields <<<"$line"
      [ "${fields[3]}" = 0A ] || continue
      port=$((16#${fields[1]##*:}))
      waiting[$port]=$((${waiting[$port]:-0} + 16#${fields[4]#*:}))
    done
  done
  busy=''
  while read -r name proto tls port; do
    [ -n "$port" ] || continue
    if [ -z "${waiting[$port]+set}" ]; then
      out+="$name $port closed 0"$'\n' busy=1
    elif [ "${waiting[$port]}" -gt 0 ] && [ "${seen[$port]:-0}" -gt 0 ]; then
      out+="$name $port stuck ${waiting[$port]}"$'\n' busy=1
    else
      out+="$name $port listening ${waiting[$port]}"$'\n'
      [ "${waiting[$port]}" = 0 ] || busy=1
    fi
  done </etc/labctl/services
  seen=()
  for port in "${!waiting[@]}"; do seen[$port]=${waiting[$port]}; done
  [ "$out" != "${written-}" ] || return 0
  printf '%s' "$out" >"$listening.new" && chgrp 990 "$listening.new" && chmod 0640 "$listening.new" &&
    mv -f "$listening.new" "$listening" && written=$out
}
# But /proc/net/tcp walks the host's whole connection table, whatever the container's own: 5 ms of CPU a file on a
# 24 GiB host, more than all the rest of an idle server if read every few seconds. This container's count of TCP
# sockets (`inuse` in /proc/net/sockstat and sockstat6: its listeners and connections) costs microseconds, and
# changes when a daemon's listener goes (or a connection comes). So the listeners are read again only when that
# count changed, while some port is closed or has connections waiting, and every 5 minutes anyway.
sockets_in_use() {
  local f line
  inuse=''
  for f in /proc/net/sockstat /proc/net/sockstat6; do
    [ -r "$f" ] || continue
    mapfile -t lines <"$f"
    for line in "${lines[@]}"; do
      # (Globs, not a regex: bash compiles a regex at each use, which cost more than the rest.)
      case $line in 'TCP: inuse '* | 'TCP6: inuse '*) line=${line#* inuse } inuse+="${line%% *} " ;; esac
    done
  done
}
# Every 5 s it looks at that count (every second while a port is closed or has connections waiting: a start, a
# daemon stopped or stuck): half a millisecond of bash's CPU a look. Every 20 s it looks whether the archive's new/
# changed since the last prune (two stats, in bash itself), and prunes only then, or every 5 minutes for the age
# limit: an idle server forks nothing (du and find every 20 s were nearly all of an idle server's CPU). It waits on
# a FIFO nobody writes instead of forking sleep.
(
  mkfifo -m 0600 /run/labctl-prune.tick && exec 3<>/run/labctl-prune.tick
  marker=/run/labctl-prune.last pruned=0 read=0 counted=''
  : >"$marker"
  while :; do
    printf -v now '%(%s)T' -1
    sockets_in_use
    if [ "$inuse" != "$counted" ] || [ -n "$busy" ] || [ $((now - read)) -ge 300 ]; then
      counted=$inuse read=$now
      read_listeners
    fi
    wait=5
    [ -z "$busy" ] || wait=1
    read -r -t "$wait" -u 3 _ 2>/dev/null
    [ $? -gt 128 ] || sleep "$wait" # no FIFO: wait anyway
    [ $((now - pruned)) -ge 20 ] || continue
    pruned=$now tick=$((${tick:-0} + 1))
    [ "$evidence/archive/new" -nt "$marker" ] || [ $((tick % 15)) = 0 ] || continue
    : >"$marker"
    prune_archive
  done
) &
# The session's end, enforced here whether labctl runs or not (images/mail/session.sh).
labctl-session guard &

sleep infinity &
wait $!
