#!/bin/bash
# labctl-session: a graded session's end, as this mail server enforces it, with labctl not running.
#   set END TEXT      labctl (root): keep the end, epoch seconds ('' for none), and how students read it (16:00),
#                     on the keys volume, which only root writes and which outlives the container
#   guard             the entrypoint (root), every second: publish the end where the daemons read it
#                     (/run/labctl/session, root's, world-readable); warn open terminals 5 minutes before it; at
#                     it, refuse ssh logins with the message (pam_nologin) and end every session of a lab account
#   imaplogin, courierpop3login   (this file, by those names, is what couriertcpd runs before a login, as root)
#                     after the end, greet with the French refusal; before it, run Courier's own (.real)
#   policy            Postfix's policy service (spawn, as nobody): after the end, refuse SMTP at the greeting
#                     (smtpd_delay_reject = no) and at each RCPT and end of data of a session opened before
#   pam               pam_exec (account) for sshd, imap and pop3: after the end, refuse every account's login
# Everything compares the end with the clock of this host's kernel, which no student can set (no CAP_SYS_TIME).
set -u
keep=/var/lib/labctl/keys/session
run=/run/labctl/session

# END and TEXT as published; END is empty when there is no time box.
read_session() {
  END='' TEXT=''
  { read -r END && read -r TEXT; } <"$run" 2>/dev/null
  [[ $END =~ ^[0-9]+$ ]] || END=''
}
closed() {
  read_session
  printf -v NOW '%(%s)T' -1
  [ -n "$END" ] && [ "$NOW" -ge "$END" ]
}
refusal() { printf 'La séance est terminée (%s) : ce serveur refuse les connexions.' "$TEXT"; }

case "${0##*/}" in
  imaplogin | courierpop3login)
    if closed; then
      if [ "${0##*/}" = imaplogin ]; then printf '* BYE %s\r\n' "$(refusal)"; else printf -- '-ERR %s\r\n' "$(refusal)"; fi
      exit 0
    fi
    exec "$0.real" "$@"
    ;;
esac

# Writes `text` to every terminal open on this server, all at once, a second at most in all: a terminal whose reader
# stopped (^S, or an ssh client that reads nothing) blocks a write, and one after the other, ten such terminals held
# the end back ten seconds, long enough for a job left behind to send its message after the end.
tell() {
  local t
  for t in /dev/pts/[0-9]*; do
    [ -c "$t" ] || continue
    timeout 1 sh -c 'printf "\r\n*** %s ***\r\n" "$1" >"$2"' tell "$1" "$t" 2>/dev/null &
  done
  wait
}

# Ends every process of a lab account (a home under /home) that descends from this server's daemons (PID 1): shells,
# ssh sessions, Courier's post-login imapd and pop3d, anything left running. What an engine runs in the container
# for labctl (reset, as the account) comes from outside (parent 0) and is left alone, and so is Postfix's local
# delivery (it runs as the recipient), by its executable, which a student cannot fake.
# Stopped first, all of them, then killed: killed one by one, a job's shell whose `sleep` died first ran the next
# command of the job (`| sendmail`) before its own turn came, and that new process, not in the list, sent its message
# after the end. A stopped process runs nothing; what was forked before its stop is found by the next look, until
# a look finds nothing new.
end_sessions() {
  perl -e '
    my %lab;
    open my $pw, "<", "/etc/passwd" or exit;
    while (<$pw>) { my @f = split /:/; $lab{$f[2]} = 1 if ($f[5] // "") =~ m{^/home/}; }
    sub lab_processes {
      my (%ppid, %uid);
      for my $dir (glob "/proc/[0-9]*") {
        open my $st, "<", "$dir/status" or next;
        my $pid = substr $dir, 6;
        while (<$st>) { $ppid{$pid} = $1 if /^PPid:\s+(\d+)/; $uid{$pid} = $1 if /^Uid:\s+(\d+)/; }
      }
      my @found;
      for my $pid (keys %uid) {
        next unless $lab{$uid{$pid}};
        # Postfix delivering a message accepted before the end runs as its recipient: let it finish writing.
        next if (readlink("/proc/$pid/exe") // "") eq "/usr/lib/postfix/sbin/local";
        my ($p, $n) = ($pid, 0);
        $p = $ppid{$p} // 0 while $p > 1 && $n++ < 100;
        push @found, $pid if $p == 1;
      }
      return @found;
    }
    my %stopped;
    for (1 .. 50) {
      my @new = grep { !$stopped{$_} } lab_processes();
      last unless @new;
      kill "STOP", @new;
      $stopped{$_} = 1 for @new;
    }
    kill "KILL", keys %stopped;'
}

# Copies the kept end where the daemons read it, when it changed; sets `end` and `text`.
shown=''
publish() {
  end='' text=''
  { read -r end && read -r text; } <"$keep" 2>/dev/null
  [[ $end =~ ^[0-9]+$ ]] || end=''
  [ "$end|$text" != "$shown" ] || return 0
  install -d -m 0755 /run/labctl
  printf '%s\n%s\n' "$end" "$text" >"$run.tmp" && chmod 0644 "$run.tmp" && mv -f "$run.tmp" "$run" && shown="$end|$text"
}

guard() {
  local state=open warned='' closedAt=0
  # It waits on a FIFO nobody writes instead of forking sleep: an idle server forks nothing (see the entrypoint).
  mkfifo -m 0600 /run/labctl-session.tick 2>/dev/null
  exec 4<>/run/labctl-session.tick
  local wait
  while :; do
    publish
    printf -v NOW '%(%s)T' -1
    if [ -n "$end" ] && [ "$NOW" -ge "$end" ]; then
      if [ "$state" != closed ]; then
        state=closed closedAt=$NOW TEXT=$text
        refusal >/run/nologin
        tell "La séance est terminée ($text) : votre session est fermée."
      fi
      # Every second for two minutes (a login under way at the end), then every 30 s: nothing outlives the end.
      if [ $((NOW - closedAt)) -lt 120 ] || [ $((NOW % 30)) -eq 0 ]; then end_sessions; fi
    else
      [ "$state" = open ] || rm -f /run/nologin
      state=open
      if [ -n "$end" ] && [ $((end - NOW)) -le 300 ] && [ "$warned" != "$end" ]; then
        warned=$end
        tell "Attention : la séance se termine à $text (dans $(((end - NOW + 59) / 60)) min). Ensuite, ce serveur refusera les connexions et vos sessions seront fermées."
      fi
    fi
    # Every second while an end is set; else every 5 s (`set` publishes a new end itself, on this engine).
    wait=5
    [ -z "$end" ] || wait=1
    read -r -t "$wait" -u 4 _ 2>/dev/null || [ $? -gt 128 ] || sleep "$wait" # no FIFO: wait anyway
  done
}

case "${1:-}" in
  set)
    end=${2-} text=${3-}
    [[ -z $end || $end =~ ^[0-9]+$ ]] || { echo "labctl-session: not a time in epoch seconds: $end" >&2; exit 2; }
    [[ $text =~ ^[0-9A-Za-z:h\ .-]{0,32}$ ]] || { echo "labctl-session: not a time students read: $text" >&2; exit 2; }
    dir=${keep%/*}
    [ -d "$dir" ] && [ ! -L "$dir" ] || { echo "labctl-session: $dir is missing" >&2; exit 1; }
    tmp=$(mktemp "$dir/.session.XXXXXX") || exit 1
    printf '%s\n%s\n' "$end" "$text" >"$tmp" && chmod 0600 "$tmp" && mv -f "$tmp" "$keep" || exit 1
    [ ! -d /run/labctl ] || publish
    echo "session end ${end:-none} ${text}"
    ;;
  publish) publish ;;
  guard) guard ;;
  policy)
    # Postfix's policy delegation: attributes, one a line, then an empty line; one answer per request.
    while IFS= read -r line; do
      [ -z "${line%$'\r'}" ] || continue
      if closed; then
        printf 'action=554 5.3.2 La séance est terminée (%s) : ce serveur refuse les messages.\n\n' "$TEXT"
      else
        printf 'action=DUNNO\n\n'
      fi
    done
    ;;
  pam)
    if closed && [ "${PAM_USER:-}" != root ]; then exit 1; fi
    exit 0
    ;;
  *)
    echo "usage: labctl-session set END TEXT | publish | guard | policy | pam" >&2
    exit 2
    ;;
esac
