#!/usr/bin/env bash
# Build the inference server of git ref $1 (a commit, tag or branch) in release mode, for a
# before/after comparison in the same `make bench` run (`make bench BASELINE=<ref>`). The ref is
# checked out in a temporary worktree and built into a target directory of its own
# (.cache/bench-baseline/target, shared by every baseline): cargo's artifacts of workspace crates
# do not depend on the checkout's path, so building two checkouts into one target directory can
# leave one checkout's crates in the other's binary. The binary is copied out at once; prints
# its path. Cached by commit.
set -euo pipefail
cd "$(dirname "$0")/.."
ref=${1:?usage: bench/build-baseline.sh <git ref>}
sha=$(git rev-parse --verify "$ref^{commit}")
out=.cache/bench-baseline/$sha
if [ ! -x "$out/inference-server" ]; then
  tree=$(mktemp -d)
  trap 'git worktree remove --force "$tree" >/dev/null 2>&1 || rm -rf "$tree"' EXIT
  git worktree add --detach -q "$tree" "$sha"
  mkdir -p "$out"
  CARGO_TARGET_DIR="$PWD/.cache/bench-baseline/target" cargo build --release -q -p inference-server \
    --manifest-path "$tree/Cargo.toml" >&2
  cp .cache/bench-baseline/target/release/inference-server "$out/inference-server"
fi
echo "$out/inference-server"
