# shellcheck shell=bash
# Where version-keyed builds live: outside the checkout, so a fresh clone on the same machine
# reuses the Go builds, the node's images and base root filesystems instead of rebuilding them.
# Every entry below it is keyed by the versions it was built from; deleting it is always safe.
INFERWATCH_CACHE="${INFERWATCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/inferwatch}"
export INFERWATCH_CACHE

# Go's own build and module caches grow to ~15 GiB building Kubernetes, Prometheus and SeaweedFS,
# and nothing reuses them once the version-keyed binaries exist: a script that builds with Go
# calls this to give them a scratch directory that is removed when the script exits.
scratch_go_caches() {
  local scratch
  mkdir -p "$INFERWATCH_CACHE"
  scratch=$(mktemp -d "$INFERWATCH_CACHE/go-scratch.XXXXXX")
  export GOCACHE="$scratch/build" GOMODCACHE="$scratch/mod" GOFLAGS="${GOFLAGS:-} -modcacherw"
  # shellcheck disable=SC2064 # the path is fixed now, on purpose
  trap "rm -rf '$scratch'" EXIT
}
