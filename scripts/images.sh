#!/usr/bin/env bash
# `make images`: build the operator and inference-server images from their Dockerfiles (release
# build inside the image build, models baked in), print each image's size, and optionally push.
#
#   REGISTRY=ghcr.io/inferwatch   image names are $REGISTRY/operator and $REGISTRY/inference-server
#   TAG=<chart appVersion>        image tag
#   PUSH=1                        docker push both (log in to the registry first)
#   BASES=upstream                the Dockerfiles' pinned public bases (rust, distroless);
#   BASES=local                   bases made here from Debian packages and this machine's Rust
#                                 toolchain (scripts/local-bases.sh), for machines that cannot pull
# A Docker engine is used if one answers, else started (scripts/docker.sh) and stopped again.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
registry="${REGISTRY:-ghcr.io/inferwatch}"
tag="${TAG:-$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' charts/inferwatch/Chart.yaml)}"
bases="${BASES:-upstream}"
log() { echo "[images] $*" >&2; }
DOCKER_HOST="$(scripts/docker.sh start make-images)"
export DOCKER_HOST DOCKER_BUILDKIT=1
trap 'scripts/docker.sh stop make-images' EXIT
docker="$(scripts/docker.sh client)"
args=()
case "$bases" in
  upstream) ;;
  local) args+=(--build-arg "RUST_IMAGE=$(scripts/local-bases.sh rust)" --build-arg "RUNTIME_IMAGE=$(scripts/local-bases.sh runtime)")
    # the local builder reaches crates.io through the host's network (no Docker bridge here)
    args+=(--network host) ;;
  *) log "BASES must be upstream or local, not $bases"; exit 2 ;;
esac
for image in operator inference-server; do
  name="$registry/$image:$tag"
  start=$(date +%s)
  log "building $name (BASES=$bases)"
  "$docker" build "${args[@]}" -f "$image/Dockerfile" -t "$name" .
  size="$("$docker" image inspect -f '{{.Size}}' "$name")"
  log "$name: $((size / 1024 / 1024)) MiB, built in $(($(date +%s) - start)) s"
  if [ "${PUSH:-0}" = 1 ]; then "$docker" push "$name"; fi
done
