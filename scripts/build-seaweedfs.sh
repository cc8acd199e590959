#!/usr/bin/env bash
# Build the pinned SeaweedFS server (`weed`, a real S3-compatible store, Apache-2.0) from the Go
# module proxy, once, into $INFERWATCH_CACHE/seaweedfs/<version>/weed (outside the checkout, see
# e2e/cluster/cache-dir.sh); prints the binary's path.
# Its module carries a replace directive, so `go install pkg@version` refuses it: a wrapper
# module requires it and repeats that replace.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=e2e/cluster/cache-dir.sh
source "$root/e2e/cluster/cache-dir.sh"
version=v0.0.0-20261109003541-7506e5f91cd6
out="$INFERWATCH_CACHE/seaweedfs/$version"
export PATH="$PATH:/usr/local/go/bin" GOFLAGS="-buildvcs=false -trimpath" CGO_ENABLED=0
if [ ! -x "$out/weed" ]; then
  echo "[seaweedfs] building weed $version (once)" >&2
  scratch_go_caches
  src="$out/src"
  mkdir -p "$src"
  cat >"$src/go.mod" <<GOMOD
module inferwatch.local/seaweedfs

go 1.26

require github.com/seaweedfs/seaweedfs $version

replace github.com/tyler-smith/go-bip39 => github.com/cosmos/go-bip39 v1.0.0
GOMOD
  cat >"$src/tools.go" <<'GO'
//go:build tools

// Package tools pins the SeaweedFS command this module builds.
package tools

import _ "github.com/seaweedfs/seaweedfs/weed/command"
GO
  (cd "$src" && go mod tidy -e >&2 && go get "github.com/seaweedfs/seaweedfs/weed@$version" >&2 && go build -tags tools -ldflags "-s -w" -o "$out/weed.tmp" github.com/seaweedfs/seaweedfs/weed)
  mv "$out/weed.tmp" "$out/weed"
fi
echo "$out/weed"
