#!/usr/bin/env bash
# Start a real local control plane on 127.0.0.1: etcd, kube-apiserver (client-certificate auth,
# Node + RBAC authorization, service-account signing keys made with openssl),
# kube-controller-manager (garbage collection, Deployments -> ReplicaSets -> Pods), kube-scheduler;
# kwok with two fake nodes (for tests that need no containers, and for scale), and one real node
# (node.sh: containerd, runc, CNI, kubelet, kube-proxy) that runs the images images.sh builds.
# Writes admin.kubeconfig into the state dir and waits until the cluster is ready. Stop it with
# down.sh (also after a failed test).
#
#   INFERWATCH_CLUSTER_DIR   state directory (default .cache/cluster-run)
#   INFERWATCH_APISERVER_PORT, INFERWATCH_ETCD_PORT   ports (default 16443, 12379/12380)
#   INFERWATCH_NODE=0        no real node (kwok only: the API server stays on loopback)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
bin="$("$here/build.sh")"
dir="${INFERWATCH_CLUSTER_DIR:-$root/.cache/cluster-run}"
api_port="${INFERWATCH_APISERVER_PORT:-16443}"
etcd_port="${INFERWATCH_ETCD_PORT:-12379}"
peer_port=$((etcd_port + 1))
real_node="${INFERWATCH_NODE:-1}"
log() { echo "[cluster-up] $*" >&2; }
# shellcheck source=e2e/cluster/cache-dir.sh
source "$here/cache-dir.sh"
# shellcheck source=e2e/cluster/node.sh
source "$here/node.sh"

if [ -f "$dir/pids" ]; then
  log "a cluster is already recorded in $dir; stopping it first"
  "$here/down.sh"
fi
rm -rf "$dir"
mkdir -p "$dir/pki" "$dir/logs" "$dir/etcd"
pki="$dir/pki"
echo "$bin" >"$dir/bin"
echo "$real_node" >"$dir/real-node"

# --- certificates -------------------------------------------------------------------------------
openssl_quiet() { openssl "$@" >/dev/null 2>&1; }
openssl_quiet req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=inferwatch-e2e-ca" \
  -keyout "$pki/ca.key" -out "$pki/ca.crt"
cert() { # name CN [O] [SAN]
  local name="$1" cn="$2" org="${3:-}" san="${4:-}"
  local subj="/CN=$cn"
  [ -n "$org" ] && subj="/O=$org$subj"
  openssl_quiet req -newkey rsa:2048 -nodes -subj "$subj" -keyout "$pki/$name.key" -out "$pki/$name.csr"
  local ext="$pki/$name.ext"
  if [ -n "$san" ]; then
    printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$san" >"$ext"
  else
    printf 'extendedKeyUsage=clientAuth\n' >"$ext"
  fi
  openssl_quiet x509 -req -in "$pki/$name.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
    -days 2 -extfile "$ext" -out "$pki/$name.crt"
}
cert apiserver kube-apiserver "" "IP:127.0.0.1,IP:$NODE_IP,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc"
cert admin admin system:masters
# The controller-manager runs every controller under its own identity here (no per-controller
# service-account credentials), so it needs the full rights of a test cluster's control plane.
cert controller-manager system:kube-controller-manager system:masters
cert scheduler system:kube-scheduler
openssl_quiet genrsa -out "$pki/sa.key" 2048
openssl_quiet rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub"

kubeconfig() { # name
  cat >"$dir/$1.kubeconfig" <<YAML
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: https://127.0.0.1:$api_port
    certificate-authority: $pki/ca.crt
users:
- name: $1
  user:
    client-certificate: $pki/$1.crt
    client-key: $pki/$1.key
contexts:
- name: local
  context: {cluster: local, user: $1}
current-context: local
YAML
}
kubeconfig admin
kubeconfig controller-manager
kubeconfig scheduler
[ "$real_node" = 1 ] && node_certs

# --- processes ----------------------------------------------------------------------------------
start() { # name cmd...
  local name="$1"
  shift
  "$@" >"$dir/logs/$name.log" 2>&1 &
  echo "$! $name" >>"$dir/pids"
}
wait_for() { # what seconds cmd...
  local what="$1" secs="$2"
  shift 2
  for _ in $(seq 1 $((secs * 4))); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.25
  done
  log "$what not ready after ${secs}s; last log lines:"
  tail -n 30 "$dir/logs/"*.log >&2 || true
  return 1
}
on_exit() {
  local code=$?
  if [ "$code" -ne 0 ]; then
    log "start failed; stopping"
    "$here/down.sh"
  fi
}
trap on_exit EXIT
# A command that ends the script says which (set -E: also inside functions).
set -E
trap 'log "failed (exit $?) at line $LINENO: $BASH_COMMAND"' ERR

# With the real node, the API server listens beyond loopback (node.sh's INFERWATCH-API chain
# admits only loopback and the pod bridge) and advertises the bridge address, which the
# `kubernetes` Service's endpoints then carry; pods reach it through the Service's ClusterIP.
apiserver_net=(--bind-address 127.0.0.1 --advertise-address 127.0.0.1 --endpoint-reconciler-type none
  --authorization-mode RBAC)
if [ "$real_node" = 1 ]; then
  node_prepare "$api_port"
  # shellcheck disable=SC2054 # Node,RBAC is one value
  apiserver_net=(--bind-address 0.0.0.0 --advertise-address "$NODE_IP" --endpoint-reconciler-type lease
    --authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction
    --kubelet-client-certificate "$pki/apiserver-kubelet-client.crt"
    --kubelet-client-key "$pki/apiserver-kubelet-client.key" --kubelet-preferred-address-types InternalIP)
fi

start etcd "$bin/etcd" --name default --data-dir "$dir/etcd" \
  --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
  --listen-peer-urls "http://127.0.0.1:$peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
  --initial-cluster "default=http://127.0.0.1:$peer_port" --unsafe-no-fsync --log-level warn
wait_for etcd 30 curl -sf "http://127.0.0.1:$etcd_port/health"

# INFERWATCH_CLUSTER_AUDIT=1 (make bench-operator): an audit log of every request's metadata
# (user, user agent, verb, resource, time) in $dir/audit.log, for counting one client's requests.
audit=()
if [ "${INFERWATCH_CLUSTER_AUDIT:-0}" = 1 ]; then
  cat >"$dir/audit-policy.yaml" <<'YAML'
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived, ResponseStarted]
rules:
  - level: None
    users: [system:kube-controller-manager, system:kube-scheduler, system:apiserver]
  - level: Metadata
YAML
  audit=(--audit-policy-file "$dir/audit-policy.yaml" --audit-log-path "$dir/audit.log" --audit-log-format json
    --audit-log-maxsize 0)
fi

start kube-apiserver "$bin/kube-apiserver" \
  --etcd-servers "http://127.0.0.1:$etcd_port" "${apiserver_net[@]}" --secure-port "$api_port" \
  --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
  --client-ca-file "$pki/ca.crt" \
  --service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key" \
  --service-account-issuer https://kubernetes.default.svc \
  --service-cluster-ip-range 10.96.0.0/16 "${audit[@]}" \
  --allow-privileged=true --enable-priority-and-fairness=false --profiling=false --v 0
wait_for kube-apiserver 90 "$bin/kubectl" --kubeconfig "$dir/admin.kubeconfig" get --raw /readyz

# Service and pod ranges are /16s and each fake node takes 1000 pods, so the cluster holds the
# 1000 ModelServices of `make bench-operator`; the controller-manager and the scheduler get a
# client rate (200 requests/s) that does not make them the bottleneck of that benchmark.
start kube-controller-manager "$bin/kube-controller-manager" \
  --kubeconfig "$dir/controller-manager.kubeconfig" \
  --authentication-kubeconfig "$dir/controller-manager.kubeconfig" \
  --authorization-kubeconfig "$dir/controller-manager.kubeconfig" \
  --bind-address 127.0.0.1 --secure-port 0 --leader-elect=false \
  --service-account-private-key-file "$pki/sa.key" --root-ca-file "$pki/ca.crt" \
  --use-service-account-credentials=false --concurrent-gc-syncs 5 --v 0 \
  --kube-api-qps 200 --kube-api-burst 400 --concurrent-deployment-syncs 10 --concurrent-replicaset-syncs 10
start kube-scheduler "$bin/kube-scheduler" \
  --kubeconfig "$dir/scheduler.kubeconfig" \
  --authentication-kubeconfig "$dir/scheduler.kubeconfig" \
  --authorization-kubeconfig "$dir/scheduler.kubeconfig" \
  --bind-address 127.0.0.1 --secure-port 0 --leader-elect=false --v 0 --kube-api-qps 200 --kube-api-burst 400
start kwok "$bin/kwok" --kubeconfig "$dir/admin.kubeconfig" --config "$bin/kwok-stages.yaml" \
  --manage-all-nodes=false --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
  --cidr 10.244.0.0/16 --node-ip 10.0.0.2 --node-lease-duration-seconds 40

k() { "$bin/kubectl" --kubeconfig "$dir/admin.kubeconfig" "$@"; }
for n in 0 1; do
  k apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Node
metadata:
  name: kwok-node-$n
  annotations: {kwok.x-k8s.io/node: fake, node.alpha.kubernetes.io/ttl: "0"}
  labels: {type: kwok, kubernetes.io/hostname: kwok-node-$n, kubernetes.io/os: linux, kubernetes.io/arch: amd64}
spec: {}
status:
  allocatable: {cpu: "1000", memory: 4Ti, pods: "1000"}
  capacity: {cpu: "1000", memory: 4Ti, pods: "1000"}
YAML
done
wait_for "fake nodes" 60 bash -c "[ \"\$('$bin/kubectl' --kubeconfig '$dir/admin.kubeconfig' get nodes --no-headers 2>/dev/null | grep -c ' Ready ')\" = 2 ]"
wait_for "default service account" 60 k -n default get serviceaccount default
if [ "$real_node" = 1 ]; then
  node_start_time=$(date +%s)
  mapfile -t images < <("$here/images.sh")
  node_start "${images[@]}"
  log "real node $NODE_NAME Ready in $(($(date +%s) - node_start_time)) s (images included)"
fi
trap - EXIT
log "ready: KUBECONFIG=$dir/admin.kubeconfig ($(k version -o json | sed -n 's/.*"gitVersion": "\(v1[^"]*\)".*/\1/p' | tail -1))"
echo "$dir/admin.kubeconfig"
