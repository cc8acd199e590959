#!/usr/bin/env bash
# `make bench-operator`: the release operator at 1000 ModelServices (SCALE_MODELSERVICES) on a
# fresh local control plane with an audit log; writes docs/operator-scale.md. Takes the
# convergence time plus one resync interval (SCALE_RESYNC_SECONDS, 300 by default).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
./e2e/cluster/build.sh >/dev/null
cargo build --release -q -p inferwatch-operator
# The test binary from the workspace build (the same features as `make test`: no second compile).
cargo test --workspace --no-run -q --test scale 2>/dev/null
./e2e/cluster/down.sh >/dev/null 2>&1 || true
trap './e2e/cluster/down.sh' EXIT
kubeconfig="$(INFERWATCH_CLUSTER_AUDIT=1 INFERWATCH_NODE=0 ./e2e/cluster/up.sh)"
INFERWATCH_E2E_KUBECONFIG="$kubeconfig" OPERATOR_BIN="$root/target/release/inferwatch-operator" \
  SCALE_REPORT="$root/docs/operator-scale.md" \
  cargo test --workspace -q --test scale -- --ignored --nocapture
echo "wrote docs/operator-scale.md"
