#!/usr/bin/env bash
# Base images made on this machine from Debian packages, for machines that cannot pull from a
# public registry (BASES=local in scripts/images.sh, and the e2e suite's real node). Each is
# tagged by the versions it was made from and built once per Docker data root.
#
#   scripts/local-bases.sh runtime   inferwatch.local/runtime:bookworm-<key>: glibc, libgcc,
#                                    netbase, CA certificates, /etc/passwd with nonroot (65532),
#                                    /tmp; what gcr.io/distroless/cc-debian12:nonroot gives
#   scripts/local-bases.sh pause     inferwatch.local/pause:catatonit-<version>: the pod sandbox
#                                    (Debian's static catatonit in pause mode)
#   scripts/local-bases.sh rust      inferwatch.local/rust:<rustc version>-bookworm-ca<hash>: a
#                                    bookworm root filesystem (mmdebstrap: gcc, libc6-dev) with
#                                    this machine's Rust toolchain in /usr/local and its CA bundle
# Each prints the image name. Needs DOCKER_HOST (scripts/docker.sh start) and apt.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
docker="$("$root/scripts/docker.sh" client)"
log() { echo "[local-bases] $*" >&2; }
have() { "$docker" image inspect "$1" >/dev/null 2>&1; }
candidate() { apt-cache policy "$1" | sed -n 's/^ *Candidate: //p'; }
ensure_apt() { # package...
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

runtime() {
  local pkgs=(libc6 libgcc-s1 netbase base-files tzdata) spec="" key image
  for p in "${pkgs[@]}"; do spec="$spec $p=$(candidate "$p")"; done
  key="$(echo "$spec" | sha256sum | cut -c1-12)"
  image="inferwatch.local/runtime:bookworm-$key"
  if ! have "$image"; then
    log "runtime base from$spec"
    local fs="$work/rootfs"
    mkdir -p "$fs" "$work/debs"
    (cd "$work/debs" && apt-get download "${pkgs[@]}" >/dev/null 2>&1)
    for d in "$work"/debs/*.deb; do dpkg-deb -x "$d" "$fs"; done
    rm -rf "$fs/usr/share/doc" "$fs/usr/share/man" "$fs/usr/share/info" "$fs/usr/share/lintian"
    mkdir -p "$fs/etc/ssl/certs" "$fs/home/nonroot" "$fs/tmp"
    chmod 1777 "$fs/tmp"
    chown 65532:65532 "$fs/home/nonroot"
    cp /etc/ssl/certs/ca-certificates.crt "$fs/etc/ssl/certs/ca-certificates.crt"
    printf 'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$fs/etc/passwd"
    printf 'root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n' >"$fs/etc/group"
    tar -C "$fs" -c . | "$docker" import -c 'USER 65532:65532' -c 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' - "$image" >/dev/null
  fi
  echo "$image"
}

pause() {
  ensure_apt catatonit
  local version image
  version="$(dpkg-query -W -f '${Version}' catatonit | tr '~+:' '---')"
  image="inferwatch.local/pause:catatonit-$version"
  if ! have "$image"; then
    log "pause image from catatonit $version"
    mkdir -p "$work/pause"
    cp /usr/bin/catatonit "$work/pause/pause"
    tar -C "$work/pause" -c . | "$docker" import -c 'ENTRYPOINT ["/pause","-P"]' -c 'USER 65535:65535' - "$image" >/dev/null
  fi
  echo "$image"
}

rust() {
  local version image ca
  version="$(rustc --version | awk '{print $2}')"
  # The machine's CA bundle goes in too (a registry reached through a proxy with its own CA is
  # trusted by the build as by the host); the tag changes with it.
  ca="$(sha256sum /etc/ssl/certs/ca-certificates.crt | cut -c1-8)"
  image="inferwatch.local/rust:$version-bookworm-ca$ca"
  if ! have "$image"; then
    ensure_apt mmdebstrap
    log "rust builder base: bookworm + rustc $version (mmdebstrap, a few minutes once)"
    local fs="$work/rust" sysroot
    mmdebstrap --variant=minbase --include=gcc,libc6-dev,ca-certificates,binutils bookworm "$fs" >/dev/null 2>&1
    sysroot="$(rustc --print sysroot)"
    mkdir -p "$fs/usr/local/cargo/bin" "$fs/usr/local/rust"
    tar -C "$sysroot" --exclude=share/doc -c bin lib libexec | tar -C "$fs/usr/local/rust" -x
    cp /etc/ssl/certs/ca-certificates.crt "$fs/etc/ssl/certs/ca-certificates.crt"
    tar -C "$fs" -c . | "$docker" import \
      -c 'ENV PATH=/usr/local/rust/bin:/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      -c 'ENV CARGO_HOME=/usr/local/cargo' - "$image" >/dev/null
  fi
  echo "$image"
}

case "${1:-}" in
  runtime | pause | rust) "$1" ;;
  *) echo "usage: $0 runtime|pause|rust" >&2; exit 2 ;;
esac
