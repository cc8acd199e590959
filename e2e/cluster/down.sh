#!/usr/bin/env bash
# Stop everything up.sh started (newest first), wait for it to exit, and remove the state
# directory's runtime data. Safe to run when nothing is running.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
dir="${INFERWATCH_CLUSTER_DIR:-$root/.cache/cluster-run}"
# shellcheck source=e2e/cluster/cache-dir.sh
source "$here/cache-dir.sh"
# shellcheck source=e2e/cluster/node.sh
source "$here/node.sh"
bin="$(cat "$dir/bin" 2>/dev/null || true)"
if [ ! -f "$dir/pids" ]; then
  [ "$(cat "$dir/real-node" 2>/dev/null)" = 1 ] && node_stop
  "$here/../../scripts/docker.sh" stop e2e-cluster
  exit 0
fi
mapfile -t lines < <(tac "$dir/pids")
for line in "${lines[@]}"; do
  pid="${line%% *}"
  kill -TERM "$pid" 2>/dev/null || true
done
for line in "${lines[@]}"; do
  pid="${line%% *}"
  for _ in $(seq 1 40); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.25
  done
  kill -KILL "$pid" 2>/dev/null || true
done
rm -f "$dir/pids"
[ "$(cat "$dir/real-node" 2>/dev/null)" = 1 ] && node_stop
rm -f "$dir/real-node"
"$here/../../scripts/docker.sh" stop e2e-cluster
rm -rf "$dir/etcd"
echo "[cluster-down] stopped (logs kept in $dir/logs)" >&2
