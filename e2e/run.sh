#!/usr/bin/env bash
# The cluster e2e suite: build (or reuse) the pinned control plane, the operator and the test
# binaries, start the local cluster, run every e2e test binary one test at a time, and stop the
# cluster, also when a test fails.
#
# The Rust side is one `cargo test --workspace --no-run`: the same package selection, hence the
# same resolved features, as `make lint` and `make test-rust`, so nothing is compiled a second
# time (`cargo test -p e2e` alone would resolve kube, k8s-openapi, tokio and hyper with fewer
# features and rebuild them and everything above them).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
start=$(date +%s)
./e2e/cluster/build.sh >/dev/null
mapfile -t tests < <(cargo test --workspace --no-run --message-format=json 2>/dev/null | python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["kind"] != ["bin"] \
            and m["package_id"].split("#")[0].rstrip("/").endswith("/e2e"):
        print(m["executable"])
')
[ ${#tests[@]} -gt 0 ] || { echo "[e2e] no test binaries built (run: cargo test --workspace --no-run)" >&2; exit 1; }
for bin in target/debug/inferwatch-operator target/debug/inference-server; do
  [ -x "$bin" ] || { echo "[e2e] $bin was not built by cargo test --workspace --no-run" >&2; exit 1; }
done
trap './e2e/cluster/down.sh' EXIT
kubeconfig="$(./e2e/cluster/up.sh)"
failed=()
outputs="$root/.cache/cluster-run/test-output"
rm -rf "$outputs" && mkdir -p "$outputs"
for t in "${tests[@]}"; do
  out="$outputs/$(basename "$t").log"
  (cd e2e && INFERWATCH_E2E_KUBECONFIG="$kubeconfig" OPERATOR_BIN="$root/target/debug/inferwatch-operator" \
    "$t" --test-threads=1 2>&1 | tee "$out"; exit "${PIPESTATUS[0]}") || failed+=("$(basename "$t")")
done
echo "[e2e] suite finished in $(($(date +%s) - start)) s"
[ ${#failed[@]} -eq 0 ] || {
  # The panics again at the end, where a log's tail shows them.
  for f in "${failed[@]}"; do
    echo "[e2e] $f: what failed (whole output in $outputs/$f.log)" >&2
    grep -E -A12 "^thread .* panicked at|^---- .* stdout ----" "$outputs/$f.log" | grep -v -E '^ +[0-9]+: |^ +at ' | head -60 >&2 || true
  done
  echo "[e2e] failed: ${failed[*]}" >&2
  exit 1
}
