# shellcheck shell=bash
# Where version-keyed builds live: outside the checkout, so a fresh clone on the same machine
# reuses the Go builds, the node's images and base root filesystems instead of rebuilding them.
# Every entry below it is keyed by the versions it was built from; deleting it is always safe.
INFERWATCH_CACHE="${INFERWATCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/inferwatch}"
export INFERWATCH_CACHE
