#!/usr/bin/env bash
# The two suites that need Docker, side by side: the integration suite (dist/test/integration, the real images on
# this engine, one file at a time) and the multinode suite (dist/test/multinode, a three-node swarm of engines in
# containers). Side by side because the multinode suite mostly waits (Swarm's heartbeats and task starts, a node's
# engine booting): run after the integration suite, it added about 6 minutes to `npm test`.
# The multinode report is printed after the integration one. Exit code: non-zero if either failed, or if the
# multinode suite was skipped (it needs root and cgroup v1, which `npm test` assumes) unless LABCTL_SKIP_MULTINODE=1.
set -uo pipefail
cd "$(dirname "$0")/.."

multinode_log=$(mktemp /tmp/labctl-multinode-XXXXXX.log)
multinode=skip
if [ "${LABCTL_SKIP_MULTINODE:-}" != 1 ]; then
  node --test --test-reporter=spec --test-concurrency=1 dist/test/multinode/ >"$multinode_log" 2>&1 &
  multinode=$!
  trap 'kill "$multinode" 2>/dev/null' INT TERM
fi

node --test --test-reporter=spec --test-concurrency=1 dist/test/integration/
integration_rc=$?

multinode_rc=0
if [ "$multinode" != skip ]; then
  wait "$multinode"
  multinode_rc=$?
  echo
  echo "=== the multinode suite (dist/test/multinode), run beside the integration suite ==="
  cat "$multinode_log"
  if [ "$multinode_rc" -eq 0 ] && ! grep -q '^ℹ skipped 0$' "$multinode_log"; then
    echo "test-docker: the multinode suite skipped tests (see above); LABCTL_SKIP_MULTINODE=1 allows it" >&2
    multinode_rc=1
  fi
fi
rm -f "$multinode_log"

echo "test-docker: integration exit $integration_rc, multinode exit $multinode_rc" >&2
[ "$integration_rc" -eq 0 ] && [ "$multinode_rc" -eq 0 ]
