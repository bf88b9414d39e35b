#!/bin/sh
# PID 1 of the sidecar. labctl starts it as root with four capabilities only (CHOWN, SETUID, SETGID, SETPCAP; see
# src/core/plan.ts) for one job: a progress volume made by a labctl whose sidecar ran as root is owned by root, and
# the sidecar (uid 990) could read its credits but never save one. Such a volume is given to uid 990, credits and
# all. Then the sidecar runs as uid 990 with no capability, none in its bounding set, and no new privileges: as if
# started as uid 990 with every capability dropped.
set -eu
if [ "$(id -u)" = 0 ]; then
  if [ -O /state ]; then
    echo "sidecar: /state is owned by root (a volume from an older labctl): giving it to uid 990" >&2
    chmod 700 /state
    chown -R 990:990 /state
  fi
  exec setpriv --reuid=990 --regid=990 --clear-groups --inh-caps=-all --bounding-set=-all --no-new-privs -- "$@"
fi
exec "$@"
