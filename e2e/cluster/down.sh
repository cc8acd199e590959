#!/usr/bin/env bash
# Stop everything up.sh started (newest first), wait for it to exit, and remove the state
# directory's runtime data. Safe to run when nothing is running.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
dir="${INFERWATCH_CLUSTER_DIR:-$root/.cache/cluster-run}"
[ -f "$dir/pids" ] || exit 0
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
rm -rf "$dir/etcd"
echo "[cluster-down] stopped (logs kept in $dir/logs)" >&2
