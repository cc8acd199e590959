#!/usr/bin/env bash
# `make stack` / `make stack-down`: the whole monitoring stack on this machine, without
# Kubernetes or Docker. Starts on loopback, with the configuration `make generate` wrote into
# deploy/local/ (ports in deploy/local/ports.env): redis-server (AOF), SeaweedFS (S3), `mlflow
# server` (artifacts in SeaweedFS), Alertmanager (routing to webhooks on WEBHOOK_PORT),
# Prometheus (the generated rules, every part scraped) and two inference servers: one serving the
# five built-in packages from the S3 store, one serving `models:/sentiment@champion` from MLflow.
# The packages are uploaded to S3 and registered in MLflow on first start. State, logs and pid
# files live in .cache/stack/; `down` stops every process it started (process groups) and keeps
# the data (delete .cache/stack/ for a fresh stack).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
# shellcheck source=SCRIPTDIR/../deploy/local/ports.env
. deploy/local/ports.env
state="$root/.cache/stack"
logs="$state/logs"
data="$state/data"
ACCESS_KEY=inferwatch-stack
SECRET_KEY=inferwatch-stack-local-only

alive() { [ -f "$state/$1.pid" ] && kill -0 "$(cat "$state/$1.pid")" 2>/dev/null; }

start() { # name command...: in its own process group, output to logs/<name>.log
  local name=$1
  shift
  if alive "$name"; then echo "[stack] $name already running" >&2; return; fi
  setsid "$@" >"$logs/$name.log" 2>&1 < /dev/null &
  echo $! >"$state/$name.pid"
}

wait_http() { # url name
  for _ in $(seq 1 600); do
    curl -sf -o /dev/null "$1" && return 0
    alive "$2" || { echo "[stack] $2 exited; see $logs/$2.log" >&2; tail -20 "$logs/$2.log" >&2; exit 1; }
    sleep 0.2
  done
  echo "[stack] $2 did not answer $1 in 120 s; see $logs/$2.log" >&2
  exit 1
}

retry() { # what log command...: up to 3 tries (a store under load may refuse one); loud on failure
  local what=$1 log=$2
  shift 2
  for try in 1 2 3; do
    "$@" >>"$log" 2>&1 && return 0
    echo "[stack] $what failed (try $try of 3); see $log" >&2
    sleep 2
  done
  tail -20 "$log" >&2
  exit 1
}

weed_shell() { echo "$1" | "$weed" shell "-master=127.0.0.1:$WEED_MASTER_PORT" 2>&1; }

up() {
  mkdir -p "$logs" "$data"/{redis,weed,mlflow,alertmanager,prometheus}
  server_bin=${SERVER_BIN:-}
  if [ -z "$server_bin" ]; then
    cargo build --release -q -p inference-server
    server_bin="$root/target/release/inference-server"
  fi
  weed=$(./scripts/build-seaweedfs.sh)
  export AWS_ACCESS_KEY_ID=$ACCESS_KEY AWS_SECRET_ACCESS_KEY=$SECRET_KEY AWS_REGION=us-east-1
  export MLFLOW_S3_ENDPOINT_URL="http://127.0.0.1:$WEED_S3_PORT"

  start redis redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$data/redis" \
    --appendonly yes --appendfsync everysec --save ""
  printf '{"identities": [{"name": "stack", "credentials": [{"accessKey": "%s", "secretKey": "%s"}], "actions": ["Admin", "Read", "List", "Write"]}]}\n' \
    "$ACCESS_KEY" "$SECRET_KEY" >"$state/s3.json"
  start seaweedfs "$weed" server "-dir=$data/weed" -ip=127.0.0.1 -ip.bind=127.0.0.1 -volume.max=8 -volume.minFreeSpace=100MiB \
    -master.volumeSizeLimitMB=64 "-master.port=$WEED_MASTER_PORT" "-volume.port=$WEED_VOLUME_PORT" \
    -filer=true "-filer.port=$WEED_FILER_PORT" -s3=true "-s3.port=$WEED_S3_PORT" "-s3.config=$state/s3.json" \
    "-metricsPort=$WEED_METRICS_PORT"
  wait_http "http://127.0.0.1:$WEED_METRICS_PORT/metrics" seaweedfs
  if [ ! -f "$state/uploaded" ]; then
    for _ in $(seq 1 120); do
      out=$(weed_shell "s3.bucket.create -name models"; weed_shell "s3.bucket.create -name mlflow")
      weed_shell "s3.bucket.list" | grep -q mlflow && break
      sleep 0.5
    done
    echo "$out" >>"$logs/seaweedfs-setup.log"
    for m in models/*/; do
      retry "uploading $m" "$logs/seaweedfs-setup.log" \
        "$weed" filer.copy "$m" "http://127.0.0.1:$WEED_FILER_PORT/buckets/models/builtin/"
    done
    touch "$state/uploaded"
  fi

  start mlflow .cache/venv-mlflow/bin/mlflow server --host 127.0.0.1 --port "$MLFLOW_PORT" --workers 1 \
    --backend-store-uri "sqlite:///$data/mlflow/mlflow.db" --default-artifact-root s3://mlflow/artifacts --no-serve-artifacts
  wait_http "http://127.0.0.1:$MLFLOW_PORT/health" mlflow
  if [ ! -f "$state/registered" ]; then
    retry "registering the models in MLflow" "$logs/mlflow-register.log" \
      .cache/venv-mlflow/bin/python tests/mlflow/register_models.py --tracking-uri "http://127.0.0.1:$MLFLOW_PORT" \
      --models-dir models sentiment topic email recsys trend
    touch "$state/registered"
  fi

  start alertmanager prometheus-alertmanager --config.file=deploy/local/alertmanager.yml \
    "--storage.path=$data/alertmanager" "--web.listen-address=127.0.0.1:$ALERTMANAGER_PORT" --cluster.listen-address=
  wait_http "http://127.0.0.1:$ALERTMANAGER_PORT/-/ready" alertmanager

  start inference "$server_bin" --host 127.0.0.1 --port "$INFERENCE_PORT" --model-source s3 \
    --s3-uri s3://models/builtin --s3-endpoint "http://127.0.0.1:$WEED_S3_PORT" \
    --model-cache-dir "$data/cache-s3" --redis-url "redis://127.0.0.1:$REDIS_PORT/0"
  start inference-mlflow "$server_bin" --host 127.0.0.1 --port "$INFERENCE_MLFLOW_PORT" --model-source mlflow \
    --mlflow-tracking-uri "http://127.0.0.1:$MLFLOW_PORT" --mlflow-model-uri "models:/sentiment@champion" \
    --s3-endpoint "http://127.0.0.1:$WEED_S3_PORT" --model-cache-dir "$data/cache-mlflow"
  wait_http "http://127.0.0.1:$INFERENCE_PORT/ready" inference
  wait_http "http://127.0.0.1:$INFERENCE_MLFLOW_PORT/ready" inference-mlflow

  # 35 days: the SLO window (30 days) and a margin (docs/slo.md, "Retention").
  start prometheus prometheus --config.file=deploy/local/prometheus.yml "--storage.tsdb.path=$data/prometheus" \
    --storage.tsdb.retention.time=35d \
    "--web.listen-address=127.0.0.1:$PROMETHEUS_PORT"
  wait_http "http://127.0.0.1:$PROMETHEUS_PORT/-/ready" prometheus

  cat <<URLS
[stack] up (state and logs in .cache/stack/; stop with make stack-down)
  inference server (S3 store)      http://127.0.0.1:$INFERENCE_PORT   e.g. curl -s http://127.0.0.1:$INFERENCE_PORT/v1/models
  inference server (MLflow model)  http://127.0.0.1:$INFERENCE_MLFLOW_PORT   serves models:/sentiment@champion
  Prometheus                       http://127.0.0.1:$PROMETHEUS_PORT   (targets, rules, alerts)
  Alertmanager                     http://127.0.0.1:$ALERTMANAGER_PORT   (webhooks to 127.0.0.1:$WEBHOOK_PORT/{page,team,digest})
  MLflow                           http://127.0.0.1:$MLFLOW_PORT
  SeaweedFS S3                     http://127.0.0.1:$WEED_S3_PORT   (key $ACCESS_KEY)
  Redis                            redis://127.0.0.1:$REDIS_PORT/0
URLS
}

down() {
  local pids=()
  for f in "$state"/*.pid; do
    [ -e "$f" ] || continue
    pid=$(cat "$f")
    kill -TERM -- "-$pid" 2>/dev/null || true
    pids+=("$pid")
  done
  gone() { for pid in "${pids[@]}"; do kill -0 -- "-$pid" 2>/dev/null && return 1; done; return 0; }
  for _ in $(seq 1 150); do gone && break; sleep 0.1; done
  if ! gone; then
    for pid in "${pids[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
    for _ in $(seq 1 50); do gone && break; sleep 0.1; done
  fi
  rm -f "$state"/*.pid
  echo "[stack] stopped ${#pids[@]} parts"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  *) echo "usage: scripts/stack.sh up|down" >&2; exit 2 ;;
esac
