#!/usr/bin/env bash
# Prepares a Debian host for labctl: a Docker engine, the Debian bootstrap tool, and the
# protocol clients and the browser the tests use. Safe to run again. Needs root (it uses apt-get).
set -euo pipefail

log() { printf 'setup-host: %s\n' "$*" >&2; }

if [ "$(id -u)" != 0 ]; then
  log "run me as root (sudo $0)"; exit 1
fi

need=()
command -v dockerd >/dev/null || need+=(docker.io)
command -v mmdebstrap >/dev/null || need+=(mmdebstrap)
command -v curl >/dev/null || need+=(curl)
command -v swaks >/dev/null || need+=(swaks)
# Each lab's solve script (run by the tests) reads the student's card with jq; swaks speaks TLS with Net::SSLeay.
command -v jq >/dev/null || need+=(jq)
command -v openssl >/dev/null || need+=(openssl)
perl -MNet::SSLeay -e 1 2>/dev/null || need+=(libnet-ssleay-perl)
# The tests start a second dockerd on a bridge of their own, made with ip(8).
command -v ip >/dev/null || need+=(iproute2)
# Headless Chromium renders the printable cards and the class board in the tests.
command -v chromium >/dev/null || need+=(chromium)
# `labctl handout --format pdf` prints with Chromium; the tests read the PDF's text with pdftotext.
command -v pdftotext >/dev/null || need+=(poppler-utils)
# The Swarm tests push the images to a registry of their own on loopback (started by the test, not as a service).
[ -x /usr/bin/docker-registry ] || need+=(docker-registry)
if [ ${#need[@]} -gt 0 ]; then
  log "installing ${need[*]}"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
  # Debian starts the package's registry as a service on :5000; the tests start their own.
  if [[ " ${need[*]} " == *" docker-registry "* ]] && command -v systemctl >/dev/null; then
    systemctl disable --now docker-registry >/dev/null 2>&1 || true
  fi
fi

engine_up() { docker info >/dev/null 2>&1; }
if ! engine_up; then
  # The engine's settings, unless this host already has its own (then `labctl doctor` says what they cost):
  # - each student takes one network and Docker's default pools hold about 30; this pool holds 1,024 networks
  #   of /26 (64 addresses: plenty for a student's two containers), room for 150 students and more;
  # - without the userland proxy the kernel forwards published ports itself: a student's server sees each
  #   client's own address (per-client limits then hold per client, and the mail log names the PC), and the
  #   engine runs no docker-proxy process per port (about 17 MiB a student). See README, "Port proxies".
  if [ ! -e /etc/docker/daemon.json ]; then
    log "writing /etc/docker/daemon.json (address pool for 1,024 networks, no userland proxy)"
    mkdir -p /etc/docker
    printf '%s\n' '{' '  "default-address-pools": [{ "base": "10.213.0.0/16", "size": 26 }],' \
      '  "userland-proxy": false' '}' >/etc/docker/daemon.json
  fi
  if [ -d /run/systemd/system ]; then
    log "starting docker with systemd"
    systemctl start docker
  else
    # No init system (containers, CI sandboxes): run dockerd in the background.
    log "starting dockerd in the background (log: /var/log/labctl-dockerd.log)"
    setsid nohup dockerd >/var/log/labctl-dockerd.log 2>&1 < /dev/null &
  fi
  for _ in $(seq 1 60); do engine_up && break; sleep 1; done
  engine_up || { log "dockerd did not answer within 60 s; see /var/log/labctl-dockerd.log"; tail -20 /var/log/labctl-dockerd.log >&2 || true; exit 1; }
fi
log "Docker engine $(docker version --format '{{.Server.Version}}') is up"

# Each student's sidecar waits on inotify for its server's log (one instance each, all as uid 990); the kernel's
# default of 128 per user would leave the sidecars of a big class polling twice a second. Raised, and kept.
want=1024
if [ "$(cat /proc/sys/fs/inotify/max_user_instances 2>/dev/null || echo "$want")" -lt "$want" ]; then
  if sysctl -q -w fs.inotify.max_user_instances=$want 2>/dev/null; then
    log "fs.inotify.max_user_instances raised to $want (a sidecar each)"
    [ ! -d /etc/sysctl.d ] || echo "fs.inotify.max_user_instances = $want" >/etc/sysctl.d/60-labctl.conf
  else
    log "cannot raise fs.inotify.max_user_instances; sidecars beyond about 120 will poll instead (labctl doctor)"
  fi
fi

# `labctl` on the PATH, for this clone: `npx labctl` costs npm's own start (about a second) on every command. A shim
# of another labctl clone is replaced; anything else of that name is left alone.
repo=$(cd "$(dirname "$0")/.." && pwd)
shim=/usr/local/bin/labctl
if [ ! -e "$shim" ] || grep -q '^# labctl shim' "$shim" 2>/dev/null; then
  printf '#!/bin/sh\n# labctl shim (scripts/setup-host.sh): the labctl of %s\nexec node "%s/bin/labctl.js" "$@"\n' \
    "$repo" "$repo" >"$shim.new" && chmod 755 "$shim.new" && mv -f "$shim.new" "$shim"
  log "labctl is on the PATH ($shim runs $repo/bin/labctl.js; npm ci builds it)"
else
  log "$shim is not labctl's: left alone; use npx labctl"
fi
