#!/usr/bin/env bash
# Build the pinned upstream binaries for the local control plane from the Go module proxy, once,
# into $XDG_CACHE_HOME/inferwatch/cluster/<key>/bin (~/.cache/..., outside the checkout, so every
# clone on the machine shares one build; INFERWATCH_CACHE moves it). Prints the bin directory.
#
#   etcd                         wrapper module: go.etcd.io/etcd/server/v3 -> etcdmain.Main
#   kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, kubelet, kube-proxy
#                                wrapper module requiring k8s.io/kubernetes with every staging
#                                `k8s.io/<x> v0.0.0` requirement replaced by the published v0.<minor>.<patch>
#   kwok, helm                   go install <module>@<version>
#   prometheus-operator          wrapper module requiring github.com/prometheus-operator/prometheus-operator
#                                (its go.mod replaces two nested modules, so `go install @version` refuses it)
#   prometheus, promtool         wrapper module requiring github.com/prometheus/prometheus at the version
#                                prometheus-operator's go.mod names
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=e2e/cluster/versions.env
source "$here/versions.env"

key="etcd-${ETCD_VERSION}_kube-${KUBE_VERSION}_kwok-${KWOK_VERSION}_helm-${HELM_VERSION}_po-${PROMETHEUS_OPERATOR_VERSION}"
# shellcheck source=e2e/cluster/cache-dir.sh
source "$here/cache-dir.sh"
cache="${INFERWATCH_CLUSTER_CACHE:-$INFERWATCH_CACHE/cluster}/$key"
bin="$cache/bin"
mkdir -p "$bin" "$cache/src"
export GOFLAGS="-buildvcs=false -trimpath" CGO_ENABLED=0
scratch_go_caches
export PATH="$PATH:/usr/local/go/bin"
log() { echo "[cluster-build] $*" >&2; }
if ! command -v go >/dev/null; then
  log "the go command is missing (Go >= 1.24 is needed to build the pinned Kubernetes $KUBE_VERSION)"
  exit 1
fi

build_etcd() {
  [ -x "$bin/etcd" ] && return
  log "etcd $ETCD_VERSION"
  local d="$cache/src/etcd"
  mkdir -p "$d"
  cat >"$d/main.go" <<'GO'
// Command etcd: the upstream etcd server, built from its published module.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  (cd "$d" && rm -f go.mod go.sum && go mod init inferwatch.local/etcd >/dev/null 2>&1 &&
    go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" >&2 && go mod tidy >&2 &&
    go build -ldflags "-s -w" -o "$bin/etcd" .)
}

build_kube() {
  if [ -x "$bin/kube-apiserver" ] && [ -x "$bin/kube-controller-manager" ] && [ -x "$bin/kube-scheduler" ] &&
    [ -x "$bin/kubectl" ] && [ -x "$bin/kubelet" ] && [ -x "$bin/kube-proxy" ]; then
    return
  fi
  log "kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, kubelet, kube-proxy $KUBE_VERSION"
  local d="$cache/src/kube" staging="v0.${KUBE_VERSION#v1.}"
  mkdir -p "$d"
  local gomod
  gomod="$(go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
  local goline
  goline="$(sed -n 's/^go \([0-9.]*\)$/\1/p' "$gomod" | head -1)"
  {
    echo "module inferwatch.local/kube"
    echo
    echo "go $goline"
    echo
    echo "require k8s.io/kubernetes $KUBE_VERSION"
    echo
    # every `k8s.io/<x> => ./staging/src/k8s.io/<x>` becomes the published module at the same minor
    sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/src/k8s.io/.*#replace \1 => \1 '"$staging"'#p' "$gomod"
  } >"$d/go.mod"
  cat >"$d/tools.go" <<'GO'
//go:build tools

// Package tools pins the upstream commands this module builds.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver/app"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	_ "k8s.io/kubernetes/cmd/kube-scheduler/app"
	_ "k8s.io/kubernetes/cmd/kubelet/app"
	_ "k8s.io/kubernetes/cmd/kube-proxy/app"
	_ "k8s.io/kubectl/pkg/cmd"
	_ "k8s.io/component-base/cli"
)
GO
  (cd "$d" && go mod tidy -e >&2)
  local pkg="k8s.io/component-base/version" cpkg="k8s.io/client-go/pkg/version"
  local minor="${KUBE_VERSION#v1.}"
  minor="${minor%%.*}"
  local ld="-s -w"
  for p in $pkg $cpkg; do
    ld="$ld -X $p.gitVersion=$KUBE_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
    ld="$ld -X $p.buildDate=1970-01-01T00:00:00Z"
  done
  for cmd in kube-apiserver kube-controller-manager kube-scheduler kubectl kubelet kube-proxy; do
    [ -x "$bin/$cmd" ] && continue
    log "  go build $cmd"
    (cd "$d" && go build -tags tools -ldflags "$ld" -o "$bin/$cmd" "k8s.io/kubernetes/cmd/$cmd")
  done
}

build_kwok() {
  [ -x "$bin/kwok" ] && return
  log "kwok $KWOK_VERSION"
  GOBIN="$bin" go install -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION" >&2 ||
    { log "kwok $KWOK_VERSION failed; trying $KWOK_FALLBACK_VERSION"; GOBIN="$bin" go install -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_FALLBACK_VERSION" >&2; }
}

# kwok's own "fast" stages (node initialize + heartbeat with lease, pod ready/complete/delete),
# taken from its module at the pinned version.
kwok_stages() {
  [ -s "$bin/kwok-stages.yaml" ] && return
  local mod
  mod="$(go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')"
  local s="$mod/kustomize/stage" out="$bin/kwok-stages.yaml.tmp"
  : >"$out"
  for f in node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
    pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
    { echo "---"; cat "$s/$f"; } >>"$out"
  done
  mv "$out" "$bin/kwok-stages.yaml"
}

# The prometheus-operator CRDs from its module's example directory, at test time; never committed.
# prometheus-operator-crds holds the three the Inferwatch operator writes (ServiceMonitor,
# PrometheusRule, PodMonitor); prometheus-operator-all-crds holds every CRD prometheus-operator
# itself watches (Prometheus, Alertmanager, AlertmanagerConfig, ...).
prometheus_operator_crds() {
  [ -d "$bin/prometheus-operator-crds" ] && [ -d "$bin/prometheus-operator-all-crds" ] && return
  log "prometheus-operator CRDs $PROMETHEUS_OPERATOR_VERSION"
  local mod
  mod="$(go mod download -json "github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION" |
    sed -n 's/.*"Dir": "\(.*\)".*/\1/p')"
  rm -rf "$bin/prometheus-operator-crds.tmp" "$bin/prometheus-operator-all-crds.tmp"
  mkdir -p "$bin/prometheus-operator-crds.tmp" "$bin/prometheus-operator-all-crds.tmp"
  cp "$mod"/example/prometheus-operator-crd/monitoring.coreos.com_{servicemonitors,prometheusrules,podmonitors}.yaml \
    "$bin/prometheus-operator-crds.tmp/"
  cp "$mod"/example/prometheus-operator-crd/monitoring.coreos.com_*.yaml "$bin/prometheus-operator-all-crds.tmp/"
  rm -rf "$bin/prometheus-operator-crds" "$bin/prometheus-operator-all-crds"
  mv "$bin/prometheus-operator-crds.tmp" "$bin/prometheus-operator-crds"
  mv "$bin/prometheus-operator-all-crds.tmp" "$bin/prometheus-operator-all-crds"
}

# prometheus-operator itself, run as a process against the local API server by the e2e test of
# the kube-prometheus-stack path.
# prometheus-config-reloader (same module) runs beside Prometheus and Alertmanager in their pods.
build_prometheus_operator() {
  [ -x "$bin/prometheus-operator" ] && [ -x "$bin/prometheus-config-reloader" ] && return
  log "prometheus-operator, prometheus-config-reloader $PROMETHEUS_OPERATOR_VERSION"
  local d="$cache/src/prometheus-operator" pkg="github.com/prometheus-operator/prometheus-operator"
  local ld="-s -w -X github.com/prometheus/common/version.Version=${PROMETHEUS_OPERATOR_VERSION#v}"
  mkdir -p "$d"
  (cd "$d" && rm -f go.mod go.sum && go mod init inferwatch.local/prometheus-operator >/dev/null 2>&1 &&
    go get "$pkg/cmd/operator@$PROMETHEUS_OPERATOR_VERSION" "$pkg/cmd/prometheus-config-reloader@$PROMETHEUS_OPERATOR_VERSION" >&2 &&
    go build -ldflags "$ld" -o "$bin/prometheus-operator" "$pkg/cmd/operator" &&
    go build -ldflags "$ld" -o "$bin/prometheus-config-reloader" "$pkg/cmd/prometheus-config-reloader")
}

build_helm() {
  [ -x "$bin/helm" ] && return
  log "helm $HELM_VERSION"
  GOBIN="$bin" go install -ldflags "-s -w" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" >&2
}

# Prometheus and promtool at the version prometheus-operator is built against (its go.mod), with
# every service-discovery plugin: Debian's prometheus package leaves Kubernetes discovery out,
# and the configuration prometheus-operator generates is all Kubernetes discovery.
build_prometheus() {
  [ -x "$bin/prometheus" ] && [ -x "$bin/promtool" ] && return
  local mod gomod version d="$cache/src/prometheus" pkg="github.com/prometheus/prometheus"
  mod="$(go mod download -json "github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION" |
    sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
  version="$(sed -n 's#^[[:space:]]*github.com/prometheus/prometheus \(v[0-9.]*\)$#\1#p' "$mod" | head -1)"
  # module v0.3XY.Z is Prometheus 3.XY.Z
  local minor="${version#v0.}" ld
  minor="${minor%%.*}"
  ld="-s -w -X github.com/prometheus/common/version.Version=3.$((minor - 300)).${version##*.}"
  log "prometheus, promtool (module $version, from prometheus-operator $PROMETHEUS_OPERATOR_VERSION)"
  mkdir -p "$d"
  gomod="$(go mod download -json "$pkg@$version" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
  (cd "$d" && rm -f go.mod go.sum && go mod init inferwatch.local/prometheus >/dev/null 2>&1 &&
    # upstream's own replace lines, which a dependent module does not inherit
    sed -n 's#^replace \([^ ]*\) \([^ ]*\) => \([^ ]*\) \([^ ]*\)$#\1@\2=\3@\4#p' "$gomod" |
    while read -r r; do go mod edit -replace "$r"; done &&
    go get "$pkg/cmd/prometheus@$version" "$pkg/cmd/promtool@$version" >&2 &&
    go build -ldflags "$ld" -o "$bin/prometheus" "$pkg/cmd/prometheus" &&
    go build -ldflags "$ld" -o "$bin/promtool" "$pkg/cmd/promtool")
}

start=$(date +%s)
build_etcd
build_kube
build_kwok
build_helm
kwok_stages
prometheus_operator_crds
build_prometheus_operator
build_prometheus
log "ready in $(($(date +%s) - start)) s: $bin"
echo "$bin"
