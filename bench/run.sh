#!/usr/bin/env bash
# `make bench`: the Rust server against the reference Python server, same machine, same
# concurrency, same load driver (wrk), one run; writes docs/benchmarks.md. Loopback only;
# every load run is bounded by DURATION.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-5s}
ROUNDS=${ROUNDS:-5}
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

# BASELINE=<git ref>: the same server built from that ref runs beside this one and alternates
# with it, for a before/after ratio from one run (built first: it shares target/).
baseline_bin=""
if [ -n "${BASELINE:-}" ]; then
  baseline_bin=$(./bench/build-baseline.sh "$BASELINE")
fi
cargo build --release -q -p inference-server
cargo bench -q -p inference-server --bench startup > "$out/startup.json"

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

target/release/inference-server --host 127.0.0.1 --port 18100 --log warn & pids+=($!)
rust_pid=$!
target/release/inference-server --host 127.0.0.1 --port 18101 --log warn --metrics false & pids+=($!)
off_pid=$!
target/release/inference-server --host 127.0.0.1 --port 18103 --log warn --dynamic-batching false & pids+=($!)
unbatched_pid=$!
target/release/inference-server --host 127.0.0.1 --port 18105 --log warn --prediction-ids false & pids+=($!)
ids_off_pid=$!
target/release/inference-server --host 127.0.0.1 --port 18106 --log warn --drift-metrics false & pids+=($!)
drift_off_pid=$!
baseline_pid=0
if [ -n "$baseline_bin" ]; then
  "$baseline_bin" --host 127.0.0.1 --port 18104 --model-dir models --log warn & pids+=($!)
  baseline_pid=$!
fi
(cd bench && MODEL_DIR=../models exec .venv/bin/uvicorn reference_server:app --host 127.0.0.1 --port 18102 \
  --workers 2 --log-level warning) & pids+=($!)

wait_for() { for _ in $(seq 1 300); do curl -sf "$1" >/dev/null && return 0; sleep 0.1; done; echo "$1 never came up" >&2; exit 1; }
wait_for http://127.0.0.1:18100/ready
wait_for http://127.0.0.1:18101/ready
wait_for http://127.0.0.1:18103/ready
wait_for http://127.0.0.1:18105/ready
wait_for http://127.0.0.1:18106/ready
wait_for http://127.0.0.1:18102/health
[ "$baseline_pid" = 0 ] || wait_for http://127.0.0.1:18104/ready
rss_idle=$(awk '/VmRSS/ {print $2}' "/proc/$rust_pid/status")

BODY_SENTIMENT='{"text": "The plot was thin, but the acting was wonderful and I would happily watch it again."}'
TICKS=$(getconf CLK_TCK)
cpu_ticks() { if [ "$1" = 0 ]; then echo 0; else awk '{print $14 + $15}' "/proc/$1/stat"; fi; }
load() { # name server-pid (0: not measured) url [body]; prints "name {summary}" and "cpu name ticks"
  local t0 t1
  t0=$(cpu_ticks "$2")
  BODY="${4:-}" wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency -s bench/summary.lua "$3" > "$out/$1.txt"
  t1=$(cpu_ticks "$2")
  grep '^SUMMARY' "$out/$1.txt" | sed "s/^SUMMARY /$1 /"
  echo "cpu $1 $(( t1 - t0 ))"
}
SENTIMENT=/v1/models/sentiment/predict
load warmup_rust "$rust_pid" "http://127.0.0.1:18100$SENTIMENT" "$BODY_SENTIMENT" >/dev/null
load warmup_rust_off "$off_pid" "http://127.0.0.1:18101$SENTIMENT" "$BODY_SENTIMENT" >/dev/null
load warmup_rust_unbatched "$unbatched_pid" "http://127.0.0.1:18103$SENTIMENT" "$BODY_SENTIMENT" >/dev/null
load warmup_rust_ids_off "$ids_off_pid" "http://127.0.0.1:18105$SENTIMENT" "$BODY_SENTIMENT" >/dev/null
load warmup_rust_drift_off "$drift_off_pid" "http://127.0.0.1:18106$SENTIMENT" "$BODY_SENTIMENT" >/dev/null
[ "$baseline_pid" = 0 ] || load warmup_baseline "$baseline_pid" "http://127.0.0.1:18104$SENTIMENT" "$BODY_SENTIMENT" >/dev/null
load warmup_python 0 "http://127.0.0.1:18102$SENTIMENT" "$BODY_SENTIMENT" >/dev/null
# The machine's speed drifts between runs by more than the effects measured here, so the Rust
# loads alternate for ROUNDS rounds and the report compares medians.
{
  load python_sentiment 0 "http://127.0.0.1:18102$SENTIMENT" "$BODY_SENTIMENT"
  for r in $(seq 1 "$ROUNDS"); do
    # The baseline runs first in even rounds and last in odd ones, so neither build always
    # follows the same load.
    if [ "$baseline_pid" != 0 ] && [ $((r % 2)) = 0 ]; then
      load "rust_sentiment_baseline_r$r" "$baseline_pid" "http://127.0.0.1:18104$SENTIMENT" "$BODY_SENTIMENT"
    fi
    load "rust_sentiment_r$r" "$rust_pid" "http://127.0.0.1:18100$SENTIMENT" "$BODY_SENTIMENT"
    load "rust_sentiment_metrics_off_r$r" "$off_pid" "http://127.0.0.1:18101$SENTIMENT" "$BODY_SENTIMENT"
    load "rust_sentiment_unbatched_r$r" "$unbatched_pid" "http://127.0.0.1:18103$SENTIMENT" "$BODY_SENTIMENT"
    load "rust_sentiment_ids_off_r$r" "$ids_off_pid" "http://127.0.0.1:18105$SENTIMENT" "$BODY_SENTIMENT"
    load "rust_sentiment_drift_off_r$r" "$drift_off_pid" "http://127.0.0.1:18106$SENTIMENT" "$BODY_SENTIMENT"
    load "rust_health_r$r" "$rust_pid" http://127.0.0.1:18100/health
    if [ "$baseline_pid" != 0 ] && [ $((r % 2)) = 1 ]; then
      load "rust_sentiment_baseline_r$r" "$baseline_pid" "http://127.0.0.1:18104$SENTIMENT" "$BODY_SENTIMENT"
    fi
  done
} > "$out/load.txt"
rss_loaded=$(awk '/VmRSS/ {print $2}' "/proc/$rust_pid/status")
{
  echo "rss_kib idle=$rss_idle after_load=$rss_loaded"
  echo "clk_tck $TICKS"
  curl -s http://127.0.0.1:18100/metrics | wc -c | sed 's/^/metrics_bytes /'
  curl -s http://127.0.0.1:18100/metrics | awk '/^inferwatch_model_run_rows_(sum|count)\{model="sentiment"/ {print "run_rows_" ($1 ~ /_sum/ ? "sum" : "count"), $2}'
} >> "$out/load.txt"
cat "$out/load.txt"
[ -z "${BASELINE:-}" ] || echo "baseline $(git rev-parse --short "$BASELINE")" >> "$out/load.txt"
python3 bench/report.py "$out" "$DURATION" "$CONNECTIONS" "$ROUNDS" > docs/benchmarks.md
echo "wrote docs/benchmarks.md"
