#!/usr/bin/env bash
# The full e2e on kind, for users with Docker and internet access (kind's node image and
# kube-prometheus-stack come from public registries; on the project's machines, which reach no
# registry, the e2e suite runs the same chain on e2e/cluster's real node instead).
#
# Creates a kind cluster, builds and loads both images, installs kube-prometheus-stack and the
# Inferwatch chart, applies the examples, waits until Ready, sends predictions through a
# port-forward, and checks that Prometheus scrapes the targets and loaded the rules and that
# Grafana lists the dashboards.
#
#   CLUSTER=inferwatch   kind cluster name
#   KEEP=1               keep the cluster afterwards
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cluster="${CLUSTER:-inferwatch}"
tag=e2e
ns=ml
log() { echo "[kind-e2e] $*" >&2; }
need() { command -v "$1" >/dev/null || { log "missing $1"; exit 1; }; }
for tool in docker kind kubectl helm curl jq; do need "$tool"; done

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  if [ "${KEEP:-0}" != 1 ]; then kind delete cluster --name "$cluster" >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT

forward() { # namespace service local-port remote-port
  kubectl -n "$1" port-forward "svc/$2" "$3:$4" >/dev/null 2>&1 &
  pids+=("$!")
  for _ in $(seq 1 60); do curl -s -o /dev/null "http://127.0.0.1:$3/" && return 0; sleep 1; done
  log "port-forward to $1/$2 did not come up"
  return 1
}

log "cluster $cluster"
kind get clusters | grep -qx "$cluster" || kind create cluster --name "$cluster" --wait 120s

log "images"
# The same Dockerfiles and build arguments as `make images` (BuildKit: their cache mounts).
DOCKER_BUILDKIT=1 docker build -q -f "$root/inference-server/Dockerfile" -t "inferwatch/inference-server:$tag" "$root"
DOCKER_BUILDKIT=1 docker build -q -f "$root/operator/Dockerfile" -t "inferwatch/operator:$tag" "$root"
kind load docker-image --name "$cluster" "inferwatch/inference-server:$tag" "inferwatch/operator:$tag"

log "kube-prometheus-stack"
helm repo add prometheus-community https://prometheus-community.github.io/helm-charts >/dev/null
helm repo update >/dev/null
helm upgrade --install kube-prometheus-stack prometheus-community/kube-prometheus-stack \
  --namespace monitoring --create-namespace --wait --timeout 10m \
  --set grafana.sidecar.dashboards.enabled=true \
  --set grafana.sidecar.dashboards.searchNamespace=ALL \
  --set grafana.sidecar.dashboards.folderAnnotation=grafana_folder \
  --set grafana.sidecar.dashboards.provider.foldersFromFilesStructure=true \
  --set alertmanager.alertmanagerSpec.alertmanagerConfigMatcherStrategy.type=OnNamespaceExceptForAlertmanagerNamespace

log "inferwatch chart"
helm upgrade --install inferwatch "$root/charts/inferwatch" --namespace inferwatch-system --create-namespace \
  --wait --timeout 5m \
  --set operator.image.repository=inferwatch/operator --set operator.image.tag="$tag" \
  --set operator.image.pullPolicy=Never \
  --set serverImage.repository=inferwatch/inference-server --set serverImage.tag="$tag" \
  --set monitoring.labels.release=kube-prometheus-stack

log "examples"
kubectl create namespace "$ns" --dry-run=client -o yaml | kubectl apply -f -
for f in sentiment topic email recsys trend; do
  kubectl -n "$ns" apply -f "$root/manifests/examples/$f.yaml"
done
kubectl -n "$ns" wait --for=condition=Ready --timeout=300s msvc --all
kubectl -n "$ns" get msvc

log "predictions"
forward "$ns" sentiment 18080 80
out="$(curl -sf http://127.0.0.1:18080/v1/models/sentiment/predict -H 'content-type: application/json' \
  -d '{"text":"I love this product"}')"
echo "$out" | jq -e '.label and .confidence' >/dev/null || { log "bad prediction: $out"; exit 1; }
curl -sf http://127.0.0.1:18080/ready >/dev/null

log "prometheus targets and rules"
forward monitoring kube-prometheus-stack-prometheus 19090 9090
for _ in $(seq 1 60); do
  up="$(curl -s 'http://127.0.0.1:19090/api/v1/query' --data-urlencode "query=up{namespace=\"$ns\"}" |
    jq '[.data.result[] | select(.value[1] == "1")] | length')"
  [ "${up:-0}" -ge 5 ] && break
  sleep 5
done
[ "${up:-0}" -ge 5 ] || { log "Prometheus scrapes only ${up:-0} of 5 model services"; exit 1; }
groups="$(curl -s http://127.0.0.1:19090/api/v1/rules | jq -r '.data.groups[].name')"
for f in sentiment topic email recsys trend; do
  echo "$groups" | grep -q "inferwatch-$ns-$f" || { log "rules for $f not loaded"; exit 1; }
done

log "grafana dashboards"
forward monitoring kube-prometheus-stack-grafana 13000 80
password="$(kubectl -n monitoring get secret kube-prometheus-stack-grafana -o jsonpath='{.data.admin-password}' | base64 -d)"
for _ in $(seq 1 60); do
  titles="$(curl -s -u "admin:$password" 'http://127.0.0.1:13000/api/search?query=Inferwatch' | jq -r '.[].title')"
  [ "$(echo "$titles" | grep -c .)" -ge 7 ] && break
  sleep 5
done
echo "$titles"
[ "$(echo "$titles" | grep -c .)" -ge 7 ] || { log "Grafana lists fewer than 7 Inferwatch dashboards"; exit 1; }
log "passed"
