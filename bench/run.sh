#!/usr/bin/env bash
# `make bench`: the Rust server against the servers users would pick instead, same machine, same
# load drivers, one run; writes docs/benchmarks.md. Loopback only; every load is bounded in time.
#
# Servers (all serve the same five model packages with the same featurizers):
#   ours          target/release/inference-server, defaults
#   fastapi       FastAPI as documented for production: async handlers with declared return
#                 types, uvicorn with uvloop + httptools, one worker per core (bench/fastapi_server.py:app)
#   fastapi-sync  the original design: sync handlers, uvicorn's pure-Python loop and parser
#   kserve        KServe's Python ModelServer, one worker per core, v1 and v2 routes
#   ours (byo)    target/release/inference-server serving a BERT-style transformer package
#                 (tests/fixtures/transformer_package.py) beside the built-in sentiment
# Closed loop: wrk -t2 -c32 for DURATION, ROUNDS rounds (median). Open loop: oha at a constant
# rate of 50% and 90% of each load's measured maximum, latency counted from when each request was
# due (--latency-correction: no coordinated omission).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-5s}
ROUNDS=${ROUNDS:-3}
OPEN_SECONDS=${OPEN_SECONDS:-6}
WARMUP=${WARMUP:-2s}
CONNECTIONS=${CONNECTIONS:-32}
OHA_VERSION=1.16.0
out=bench/results
mkdir -p "$out"
rm -f "$out"/*

command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
oha=.cache/bench-tools/oha-$OHA_VERSION/bin/oha
[ -x "$oha" ] || cargo install -q oha --version "$OHA_VERSION" --locked --root ".cache/bench-tools/oha-$OHA_VERSION"
if [ ! -x bench/.venv/bin/uvicorn ] || ! cat bench/requirements.txt bench/constraints.txt | cmp -s - bench/.venv/requirements.txt; then
  rm -rf bench/.venv
  python3 -m venv bench/.venv
  bench/.venv/bin/pip install -q --upgrade pip
  bench/.venv/bin/pip install -q -r bench/requirements.txt -c bench/constraints.txt
  cat bench/requirements.txt bench/constraints.txt > bench/.venv/requirements.txt
fi
cargo build --release -q -p inference-server
cargo bench -q -p inference-server --bench startup > "$out/startup.json"

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
target/release/inference-server --host 127.0.0.1 --port 18100 --log warn & pids+=($!)
rust_pid=$!
# Two ablations of ours for the sentiment route: without metrics, without dynamic batching.
target/release/inference-server --host 127.0.0.1 --port 18101 --log warn --metrics false & pids+=($!)
target/release/inference-server --host 127.0.0.1 --port 18103 --log warn --dynamic-batching false & pids+=($!)
# A team's own transformer (tests/fixtures/transformer_package.py: BERT-style, 2 layers, hidden 32,
# hf_transformer family) beside the built-in sentiment package, in one server.
byo="$out/byo-models"
mkdir -p "$byo" && cp -r models/sentiment "$byo/sentiment"
[ -x .cache/venv-test/bin/python ] || ./scripts/install-deps.sh
.cache/venv-test/bin/python tests/fixtures/transformer_package.py "$byo/bert-sentiment" >/dev/null
target/release/inference-server --host 127.0.0.1 --port 18104 --log warn --model-dir "$byo" & pids+=($!)
(cd bench && exec .venv/bin/uvicorn fastapi_server:app --host 127.0.0.1 --port 18110 --workers 2 \
  --loop uvloop --http httptools --no-access-log --log-level warning) & pids+=($!)
(cd bench && exec .venv/bin/uvicorn fastapi_server:app_sync --host 127.0.0.1 --port 18111 --workers 2 \
  --loop asyncio --http h11 --log-level warning) & pids+=($!)
(cd bench && exec .venv/bin/python -W ignore kserve_server.py --http_port 18112 --workers 2 --enable_grpc false \
  --enable_latency_logging false --log_config_file kserve_logging.json) >"$out/kserve.log" 2>&1 & pids+=($!)

wait_for() { for _ in $(seq 1 600); do curl -sf "$1" >/dev/null && return 0; sleep 0.1; done; echo "$1 never came up" >&2; exit 1; }
wait_for http://127.0.0.1:18100/ready
wait_for http://127.0.0.1:18101/ready
wait_for http://127.0.0.1:18103/ready
wait_for http://127.0.0.1:18104/ready
wait_for http://127.0.0.1:18110/health
wait_for http://127.0.0.1:18111/health
wait_for http://127.0.0.1:18112/v2/health/ready
rss_idle=$(awk '/VmRSS/ {print $2}' "/proc/$rust_pid/status")

# The request bodies: one realistic item each, and a batch of 32 reviews.
python3 bench/bodies.py "$out"

# load NAME URL BODYFILE: wrk for DURATION; prints "NAME {summary}".
closed() {
  local file="$out/${1//\//_}.wrk"
  BODY="$(cat "$3" 2>/dev/null || true)" wrk -t2 -c"$CONNECTIONS" -d"${4:-$DURATION}" --latency -s bench/summary.lua "$2" > "$file"
  grep '^SUMMARY' "$file" | sed "s|^SUMMARY |$1 |"
}
# open NAME URL BODYFILE RATE: oha at RATE requests/s for OPEN_SECONDS; prints "NAME {json}".
open_loop() {
  local args=(-z "${OPEN_SECONDS}s" -q "$4" --latency-correction -c "$CONNECTIONS" --no-tui --output-format json)
  [ -s "$3" ] && args+=(-m POST -T application/json -D "$3")
  local file="$out/${1//\//_}.oha.json"
  "$oha" "${args[@]}" "$2" > "$file" 2>/dev/null
  python3 -c '
import json, sys
r = json.load(open(sys.argv[3])); s = r["summary"]; p = r["latencyPercentiles"]
codes = r.get("statusCodeDistribution", {})
# oha cuts the requests still in flight when the window closes and lists them as errors: counted apart.
failed = {k: v for k, v in r.get("errorDistribution", {}).items() if "deadline" not in k}
aborted = sum(v for k, v in r.get("errorDistribution", {}).items() if "deadline" in k)
errors = sum(v for k, v in codes.items() if not k.startswith("2")) + sum(failed.values())
print(sys.argv[1], json.dumps({"rate": float(sys.argv[2]), "rps": s["requestsPerSec"], "p50_ms": p["p50"] * 1e3,
      "p99_ms": p["p99"] * 1e3, "p999_ms": p["p99.9"] * 1e3, "errors": errors, "aborted": aborted,
      "requests": sum(codes.values())}))
' "$1" "$4" "$file"
}

# name|url|body file (empty: GET)
R=http://127.0.0.1:18100 F=http://127.0.0.1:18110 S=http://127.0.0.1:18111 K=http://127.0.0.1:18112
loads=(
  "ours/health|$R/health|"
  "ours/sentiment|$R/v1/models/sentiment/predict|$out/sentiment.json"
  "ours/topic|$R/v1/models/topic/predict|$out/topic.json"
  "ours/email|$R/v1/models/email/predict|$out/email.json"
  "ours/recsys|$R/v1/models/recsys/predict|$out/recsys.json"
  "ours/recommend|$R/v1/models/recsys/recommend|$out/recommend.json"
  "ours/trend|$R/v1/models/trend/predict|$out/trend.json"
  "ours/v2-sentiment|$R/v2/models/sentiment/infer|$out/v2.json"
  "ours/batch32|$R/v1/models/sentiment/predict|$out/batch32.json"
  "ours-metrics-off/sentiment|http://127.0.0.1:18101/v1/models/sentiment/predict|$out/sentiment.json"
  "ours-unbatched/sentiment|http://127.0.0.1:18103/v1/models/sentiment/predict|$out/sentiment.json"
  "ours/bert-sentiment|http://127.0.0.1:18104/v1/models/bert-sentiment/predict|$out/sentiment.json"
  "ours/bert-batch32|http://127.0.0.1:18104/v1/models/bert-sentiment/predict|$out/batch32.json"
  "fastapi/health|$F/health|"
  "fastapi/sentiment|$F/v1/models/sentiment/predict|$out/sentiment.json"
  "fastapi/topic|$F/v1/models/topic/predict|$out/topic.json"
  "fastapi/email|$F/v1/models/email/predict|$out/email.json"
  "fastapi/recsys|$F/v1/models/recsys/predict|$out/recsys.json"
  "fastapi/recommend|$F/v1/models/recsys/recommend|$out/recommend.json"
  "fastapi/trend|$F/v1/models/trend/predict|$out/trend.json"
  "fastapi/batch32|$F/v1/models/sentiment/predict|$out/batch32.json"
  "fastapi-sync/sentiment|$S/v1/models/sentiment/predict|$out/sentiment.json"
  "kserve/sentiment|$K/v1/models/sentiment:predict|$out/k-sentiment.json"
  "kserve/topic|$K/v1/models/topic:predict|$out/k-topic.json"
  "kserve/email|$K/v1/models/email:predict|$out/k-email.json"
  "kserve/recsys|$K/v1/models/recsys:predict|$out/k-recsys.json"
  "kserve/recommend|$K/v1/models/recsys-recommend:predict|$out/k-recommend.json"
  "kserve/trend|$K/v1/models/trend:predict|$out/k-trend.json"
  "kserve/v2-sentiment|$K/v2/models/sentiment/infer|$out/v2.json"
  "kserve/batch32|$K/v1/models/sentiment:predict|$out/k-batch32.json"
)
# Every route answers 200 before it is measured (a wrong body would benchmark an error path).
for l in "${loads[@]}"; do
  IFS='|' read -r name url body <<<"$l"
  if [ -n "$body" ]; then code=$(curl -s -o /dev/null -w '%{http_code}' -H 'content-type: application/json' --data-binary "@$body" "$url")
  else code=$(curl -s -o /dev/null -w '%{http_code}' "$url"); fi
  [ "$code" = 200 ] || { echo "$name: $url answered $code" >&2; exit 1; }
  closed "warmup-$name" "$url" "$body" "$WARMUP" >/dev/null
done
# Closed loop, ROUNDS rounds over all loads (the machine's speed drifts; the report takes medians).
t0=$(awk '{print $14 + $15}' "/proc/$rust_pid/stat")
for r in $(seq 1 "$ROUNDS"); do
  for l in "${loads[@]}"; do
    IFS='|' read -r name url body <<<"$l"
    closed "$name#$r" "$url" "$body"
  done
done > "$out/closed.txt"
# Open loop at 50% and 90% of each load's median maximum.
python3 - "$out/closed.txt" > "$out/rates.txt" <<'EOF'
import json, statistics, sys
runs = {}
for line in open(sys.argv[1]):
    name, _, js = line.partition(" ")
    runs.setdefault(name.split("#")[0], []).append(json.loads(js)["rps"])
for name, rps in runs.items():
    print(name, round(statistics.median(rps)))
EOF
for l in "${loads[@]}"; do
  IFS='|' read -r name url body <<<"$l"
  max=$(awk -v n="$name" '$1 == n {print $2}' "$out/rates.txt")
  for pct in 50 90; do
    open_loop "$name@$pct" "$url" "$body" $((max * pct / 100))
  done
done > "$out/open.txt"
{
  echo "rss_kib idle=$rss_idle after_load=$(awk '/VmRSS/ {print $2}' "/proc/$rust_pid/status")"
  echo "rust_cpu_ticks $(( $(awk '{print $14 + $15}' "/proc/$rust_pid/stat") - t0 ))"
  echo "clk_tck $(getconf CLK_TCK)"
  echo "versions $(bench/.venv/bin/python -c 'from importlib.metadata import version as v; print(", ".join(f"{p} {v(p)}" for p in ("fastapi", "uvicorn", "uvloop", "httptools", "kserve", "onnxruntime")))'), wrk $(wrk -v 2>&1 | head -1 | awk '{print $2}'), oha $OHA_VERSION"
} > "$out/extra.txt"
python3 bench/report.py "$out" "$DURATION" "$CONNECTIONS" "$ROUNDS" "$OPEN_SECONDS" > docs/benchmarks.md
echo "wrote docs/benchmarks.md"
