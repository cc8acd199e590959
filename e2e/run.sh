#!/usr/bin/env bash
# The cluster e2e suite: build (or reuse) the pinned control plane and the operator, start the
# local cluster, run every e2e test one at a time, and stop the cluster, also when a test fails.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
start=$(date +%s)
./e2e/cluster/build.sh >/dev/null
cargo build -q -p inferwatch-operator
# The kube-prometheus-stack test scrapes a real server; `make test` has built it already.
[ -x target/debug/inference-server ] || cargo build -q -p inference-server
trap './e2e/cluster/down.sh' EXIT
kubeconfig="$(./e2e/cluster/up.sh)"
INFERWATCH_E2E_KUBECONFIG="$kubeconfig" OPERATOR_BIN="$root/target/debug/inferwatch-operator" \
  cargo test -p e2e -- --test-threads=1
echo "[e2e] suite finished in $(($(date +%s) - start)) s"
