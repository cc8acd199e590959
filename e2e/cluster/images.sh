#!/usr/bin/env bash
# The images the real node runs, built here (no registry is reachable), saved as archives that
# node.sh imports into the node's containerd. Prints the pause image's name, then one archive
# path per line. Every archive is named by its image ID, so an unchanged image is neither saved
# nor imported twice.
#
#   inferwatch.local/pause:catatonit-<v>            scripts/local-bases.sh pause
#   inferwatch.local/operator:e2e                   operator/Dockerfile, BINARY=prebuilt, with the
#   inferwatch.local/inference-server:e2e           test build's binaries (OPERATOR_BIN and
#                                                   inferwatch-report, SERVER_BIN; default
#                                                   target/debug), stripped,
#                                                   on the local runtime base; the server's
#                                                   /models also holds sentiment/1.1.0/
#   inferwatch.local/prometheus-operator:<v>        build.sh's binaries on the local runtime base
#   inferwatch.local/prometheus-config-reloader:<v>
#   inferwatch.local/prometheus:<v>
#   inferwatch.local/alertmanager:<v>               Debian's prometheus-alertmanager
# Our two images are skipped (with a note) when their binaries are not built.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
# shellcheck source=e2e/cluster/cache-dir.sh
source "$here/cache-dir.sh"
# shellcheck source=e2e/cluster/versions.env
source "$here/versions.env"
bin="$("$here/build.sh")"
log() { echo "[images] $*" >&2; }
DOCKER_HOST="$("$root/scripts/docker.sh" start e2e-cluster)"
export DOCKER_HOST DOCKER_BUILDKIT=1
docker="$("$root/scripts/docker.sh" client)"
runtime="$("$root/scripts/local-bases.sh" runtime)"
pause="$("$root/scripts/local-bases.sh" pause)"
out="$INFERWATCH_CACHE/node/images"
mkdir -p "$out"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
archives=()

save() { # image
  local id file
  id="$("$docker" image inspect -f '{{.Id}}' "$1")"
  file="$out/$(echo "$1" | tr '/:' '__')-${id#sha256:}.tar"
  if [ ! -s "$file" ]; then
    rm -f "$out/$(echo "$1" | tr '/:' '__')"-*.tar
    "$docker" save -o "$file.tmp" "$1"
    mv "$file.tmp" "$file"
  fi
  archives+=("$file")
}

# An upstream binary on the runtime base: image name, binary path, entrypoint name, and
# optionally a directory of data files it reads and where they go.
binary_image() {
  local image="$1" binary="$2" name="$3" ctx="$work/$3"
  mkdir -p "$ctx"
  cp "$binary" "$ctx/$name"
  printf 'FROM %s\nCOPY %s /bin/%s\nENTRYPOINT ["/bin/%s"]\n' "$runtime" "$name" "$name" "$name" >"$ctx/Dockerfile"
  if [ -n "${4:-}" ]; then
    cp -a "$4" "$ctx/data"
    printf 'COPY data %s\n' "$5" >>"$ctx/Dockerfile"
  fi
  "$docker" build -q -t "$image" "$ctx" >/dev/null
  save "$image"
}

# Our image from its own Dockerfile's final stage, with the test build's binaries (the first
# names the build context; `models` bakes the built-in packages in).
our_image() { # image dockerfile binary [binary...] [models]
  local image="$1" dockerfile="$2" ctx models="" b
  ctx="$work/ctx-$(basename "$3")"
  shift 2
  mkdir -p "$ctx/prebuilt" "$ctx/models"
  for b in "$@"; do
    if [ "$b" = models ]; then models=1; continue; fi
    if [ ! -x "$b" ]; then
      log "no $b: $image not built (run cargo test --workspace --no-run first)"
      return
    fi
    strip -o "$ctx/prebuilt/$(basename "$b")" "$b"
  done
  if [ -n "$models" ]; then
    cp -a "$root/models/." "$ctx/models/"
    # A second version of sentiment beside the built-in 1.0.0, as a team adds one (the same
    # graph; its model.json says 1.1.0): what the real-pod suite pins and rolls to.
    mkdir -p "$ctx/models/sentiment/1.1.0"
    find "$root/models/sentiment" -maxdepth 1 -type f -exec cp {} "$ctx/models/sentiment/1.1.0/" \;
    jq '.version = "1.1.0"' "$root/models/sentiment/model.json" >"$ctx/models/sentiment/1.1.0/model.json"
  fi
  "$docker" build -q -f "$dockerfile" --build-arg BINARY=prebuilt --build-arg RUNTIME_IMAGE="$runtime" \
    -t "$image" "$ctx" >/dev/null
  save "$image"
}

save "$pause"
our_image inferwatch.local/operator:e2e "$root/operator/Dockerfile" \
  "${OPERATOR_BIN:-$root/target/debug/inferwatch-operator}" "$root/target/debug/inferwatch-report"
our_image inferwatch.local/inference-server:e2e "$root/inference-server/Dockerfile" \
  "${SERVER_BIN:-$root/target/debug/inference-server}" models
po="${PROMETHEUS_OPERATOR_VERSION}"
binary_image "inferwatch.local/prometheus-operator:$po" "$bin/prometheus-operator" operator
binary_image "inferwatch.local/prometheus-config-reloader:$po" "$bin/prometheus-config-reloader" prometheus-config-reloader
prom_version="v$("$bin/prometheus" --version 2>&1 | awk 'NR==1 {print $3}')"
binary_image "inferwatch.local/prometheus:$prom_version" "$bin/prometheus" prometheus
command -v prometheus-alertmanager >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus-alertmanager >/dev/null
am_version="v$(prometheus-alertmanager --version 2>&1 | awk 'NR==1 {print $3}' | cut -d+ -f1)"
# Debian's build reads its notification templates from /usr/share/prometheus/alertmanager.
binary_image "inferwatch.local/alertmanager:$am_version" "$(command -v prometheus-alertmanager)" alertmanager \
  /usr/share/prometheus/alertmanager /usr/share/prometheus/alertmanager

echo "$pause"
printf '%s\n' "${archives[@]}"
