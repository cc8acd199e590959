#!/usr/bin/env bash
# Install what `make test` needs on a fresh Debian machine: promtool (Debian's prometheus
# package), openssl/curl/go for the local control plane (whose binaries e2e/cluster/build.sh
# builds from pinned Go modules), and a Python virtualenv with the pinned test clients. Idempotent and quiet when
# everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v promtool >/dev/null 2>&1 || need_apt+=(prometheus)
command -v prometheus-alertmanager >/dev/null 2>&1 || need_apt+=(prometheus-alertmanager)
command -v python3 >/dev/null 2>&1 || need_apt+=(python3 python3-venv)
# the local control plane: certificates, readiness probes, the Go toolchain that builds it
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
command -v curl >/dev/null 2>&1 || need_apt+=(curl)
command -v shellcheck >/dev/null 2>&1 || need_apt+=(shellcheck)
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
# a real Compose implementation that validates compose.yaml without a Docker engine
command -v docker-compose >/dev/null 2>&1 || need_apt+=(docker-compose)
# the e2e cluster's real node (e2e/cluster/node.sh): Docker to build its images, containerd and
# runc to run them, the CNI plugins, catatonit for the pause image, iptables and conntrack for
# kube-proxy, jq for the runc wrapper
command -v dockerd >/dev/null 2>&1 || need_apt+=(docker.io)
command -v containerd >/dev/null 2>&1 || need_apt+=(containerd)
command -v runc >/dev/null 2>&1 || need_apt+=(runc)
[ -x /usr/lib/cni/bridge ] || need_apt+=(containernetworking-plugins)
command -v catatonit >/dev/null 2>&1 || need_apt+=(catatonit)
command -v iptables >/dev/null 2>&1 || need_apt+=(iptables)
command -v conntrack >/dev/null 2>&1 || need_apt+=(conntrack)
command -v jq >/dev/null 2>&1 || need_apt+=(jq)
# (Go itself comes with the machine: Debian's golang-go is too old for Kubernetes 1.34.)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing Debian packages: ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

venv=.cache/venv-test
if [ ! -x "$venv/bin/pytest" ] || ! cmp -s tests/requirements.txt "$venv/requirements.txt"; then
  echo "creating $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip
  "$venv/bin/pip" install -q -r tests/requirements.txt
  cp tests/requirements.txt "$venv/requirements.txt"
fi

# The real MLflow server for the registry tests (its own venv: MLflow pins many packages).
mlflow_venv=.cache/venv-mlflow
if [ ! -x "$mlflow_venv/bin/mlflow" ] || ! cat tests/mlflow/requirements.txt tests/mlflow/constraints.txt | cmp -s - "$mlflow_venv/requirements.txt"; then
  echo "creating $mlflow_venv"
  rm -rf "$mlflow_venv"
  python3 -m venv "$mlflow_venv"
  "$mlflow_venv/bin/pip" install -q --upgrade pip
  "$mlflow_venv/bin/pip" install -q -r tests/mlflow/requirements.txt -c tests/mlflow/constraints.txt
  cat tests/mlflow/requirements.txt tests/mlflow/constraints.txt >"$mlflow_venv/requirements.txt"
fi

# SeaweedFS, the S3-compatible server of the storage and registry tests (built once).
./scripts/build-seaweedfs.sh >/dev/null
