#!/bin/bash
# PID 1 of the mail container: start the daemons, then wait; on SIGTERM stop them all and exit,
# so that `docker stop` returns at once instead of waiting 10 s for SIGKILL.
set -u

stop() {
  kill -TERM -1 2>/dev/null
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    pgrep -x master >/dev/null || pgrep -x rsyslogd >/dev/null || break
    sleep 0.1
  done
  exit 0
}
trap stop TERM INT

# systemd or the init scripts make these; there is neither here.
mkdir -p /run/courier/authdaemon /run/sshd /var/spool/rsyslog
chown daemon:daemon /run/courier/authdaemon 2>/dev/null || true
touch /var/log/mail.log && chmod 0644 /var/log/mail.log
# `up --passwords random` puts each student's own passwords here.
[ ! -s /etc/labctl/passwords ] || chpasswd </etc/labctl/passwords

rsyslogd -iNONE
/usr/sbin/authdaemond start &
postfix start >/dev/null 2>&1 &
/usr/sbin/imapd start &
/usr/sbin/pop3d start &
/usr/sbin/sshd &
wait
echo "labctl: mail server up: smtp 25, pop3 110, imap 143, ssh 22"

sleep infinity &
wait $!
