#!/bin/sh
# The secure-mail lab's daemons, at each start of the server (as root, before Postfix): saslauthd, which Postfix
# asks to check AUTH's passwords against /etc/shadow, and Courier's IMAPS and POP3S.
set -e
# Courier's TLS wrapper runs as courier and reads the key with the certificate; Postfix reads its key as root.
chgrp courier /etc/labctl/tls/server-key-cert.pem
chmod 0640 /etc/labctl/tls/server-key-cert.pem
# Postfix's smtpd (not chrooted) reaches saslauthd's socket as a member of the sasl group.
usermod -a -G sasl postfix
install -d -o root -g sasl -m 0710 /run/saslauthd
/usr/sbin/saslauthd -a shadow -m /run/saslauthd -n 2
/usr/sbin/imapd-ssl start
/usr/sbin/pop3d-ssl start
