#!/usr/bin/env bash
# A Docker engine for the image builds, started only when none answers.
#
#   scripts/docker.sh start [owner]  prints the DOCKER_HOST to use: the caller's engine if one
#                             answers, else a dockerd of our own (own socket, data root under
#                             $INFERWATCH_CACHE/docker so built images survive, no bridge and no
#                             iptables rules: builds use the host network), owned by `owner`
#   scripts/docker.sh stop [owner]   stops the dockerd this script started, if `owner` started it
#                             (so the e2e cluster's teardown leaves a `make images` build alone)
#   scripts/docker.sh client  prints the docker client that can build with BuildKit
#
# Debian's docker.io installs with apt; nothing starts it on CI machines, so this does.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=e2e/cluster/cache-dir.sh
source "$root/e2e/cluster/cache-dir.sh"
run=/run/inferwatch-docker
sock="unix://$run/docker.sock"
log() { echo "[docker] $*" >&2; }

# A client that builds with BuildKit: one with the buildx plugin, or a 20.10 client (BuildKit
# built in). Debian's /usr/bin/docker is the latter; a newer client without buildx is neither.
client() {
  if [ -n "${DOCKER:-}" ]; then echo "$DOCKER"; return; fi
  if docker buildx version >/dev/null 2>&1; then echo docker; return; fi
  if [ -x /usr/bin/docker ] && /usr/bin/docker --version 2>/dev/null | grep -q 'version 20\.'; then
    echo /usr/bin/docker
    return
  fi
  echo docker
}

answers() { DOCKER_HOST="$1" "$(client)" version >/dev/null 2>&1; }

start() {
  if [ -n "${DOCKER_HOST:-}" ] && answers "$DOCKER_HOST"; then echo "$DOCKER_HOST"; return; fi
  if answers unix:///var/run/docker.sock; then echo unix:///var/run/docker.sock; return; fi
  if answers "$sock"; then echo "$sock"; return; fi
  if ! command -v dockerd >/dev/null; then
    log "installing Debian's docker.io"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
  fi
  mkdir -p "$run" "$INFERWATCH_CACHE/docker"
  log "starting dockerd (data root $INFERWATCH_CACHE/docker)"
  echo "${1:-}" >"$run/owner"
  dockerd --data-root "$INFERWATCH_CACHE/docker" --exec-root "$run/exec" --pidfile "$run/dockerd.pid" \
    -H "$sock" --iptables=false --ip-forward=false --ip-masq=false --bridge=none \
    >"$run/dockerd.log" 2>&1 &
  for _ in $(seq 1 120); do
    if answers "$sock"; then echo "$sock"; return; fi
    sleep 0.25
  done
  log "dockerd did not answer in 30 s:"
  tail -n 20 "$run/dockerd.log" >&2
  exit 1
}

stop() {
  [ -f "$run/dockerd.pid" ] || return 0
  [ "$(cat "$run/owner" 2>/dev/null)" = "${1:-}" ] || return 0
  local pid
  pid="$(cat "$run/dockerd.pid")"
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 80); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$run/dockerd.pid" "$run/owner"
}

case "${1:-}" in
  start) start "${2:-}" ;;
  stop) stop "${2:-}" ;;
  client) client ;;
  *) echo "usage: $0 start [owner] | stop [owner] | client" >&2; exit 2 ;;
esac
