#!/usr/bin/env bash
# `make bench`: the Rust server against the reference Python server, same machine, same
# concurrency, same load driver (wrk), one run; writes docs/benchmarks.md. Loopback only;
# every load run is bounded by DURATION.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-32}
out=bench/results
mkdir -p "$out"
rm -f "$out"/*.txt

command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
if [ ! -x bench/.venv/bin/uvicorn ] || ! cmp -s bench/requirements.txt bench/.venv/requirements.txt; then
  python3 -m venv bench/.venv
  bench/.venv/bin/pip install -q --upgrade pip
  bench/.venv/bin/pip install -q -r bench/requirements.txt
  cp bench/requirements.txt bench/.venv/requirements.txt
fi

cargo build --release -q -p inference-server
cargo bench -q -p inference-server --bench startup > "$out/startup.json"

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

target/release/inference-server --host 127.0.0.1 --port 18100 --log warn & pids+=($!)
rust_pid=$!
target/release/inference-server --host 127.0.0.1 --port 18101 --log warn --metrics false & pids+=($!)
(cd bench && MODEL_DIR=../models exec .venv/bin/uvicorn reference_server:app --host 127.0.0.1 --port 18102 \
  --workers 2 --log-level warning) & pids+=($!)

wait_for() { for _ in $(seq 1 300); do curl -sf "$1" >/dev/null && return 0; sleep 0.1; done; echo "$1 never came up" >&2; exit 1; }
wait_for http://127.0.0.1:18100/ready
wait_for http://127.0.0.1:18101/ready
wait_for http://127.0.0.1:18102/health
rss_idle=$(awk '/VmRSS/ {print $2}' "/proc/$rust_pid/status")

BODY_SENTIMENT='{"text": "The plot was thin, but the acting was wonderful and I would happily watch it again."}'
load() { # name url [body]
  BODY="${3:-}" wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency -s bench/summary.lua "$2" > "$out/$1.txt"
  grep '^SUMMARY' "$out/$1.txt" | sed "s/^SUMMARY /$1 /"
}
load warmup_rust http://127.0.0.1:18100/v1/models/sentiment/predict "$BODY_SENTIMENT" >/dev/null
load warmup_python http://127.0.0.1:18102/v1/models/sentiment/predict "$BODY_SENTIMENT" >/dev/null
{
  load python_sentiment http://127.0.0.1:18102/v1/models/sentiment/predict "$BODY_SENTIMENT"
  load rust_sentiment http://127.0.0.1:18100/v1/models/sentiment/predict "$BODY_SENTIMENT"
  load rust_health http://127.0.0.1:18100/health
  load rust_sentiment_metrics_off http://127.0.0.1:18101/v1/models/sentiment/predict "$BODY_SENTIMENT"
  load rust_sentiment_metrics_on_again http://127.0.0.1:18100/v1/models/sentiment/predict "$BODY_SENTIMENT"
} > "$out/load.txt"
rss_loaded=$(awk '/VmRSS/ {print $2}' "/proc/$rust_pid/status")
echo "rss_kib idle=$rss_idle after_load=$rss_loaded" >> "$out/load.txt"
curl -s http://127.0.0.1:18100/metrics | wc -c | sed 's/^/metrics_bytes /' >> "$out/load.txt"
cat "$out/load.txt"
python3 bench/report.py "$out" "$DURATION" "$CONNECTIONS" > docs/benchmarks.md
echo "wrote docs/benchmarks.md"
