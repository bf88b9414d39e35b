#!/bin/sh
# labctl-rotate FILE: rsyslog runs this when FILE reaches its size limit (rotation.sizeLimit in rsyslog.conf).
# One old file is kept, so each log takes at most twice its limit on the student's disk.
for f in "$@"; do mv -f -- "$f" "$f.1"; done
