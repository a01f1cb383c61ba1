#!/usr/bin/env bash
# A local base image for the Dockerfile where no image registry can be reached: Debian bookworm
# with python3.11, debootstrapped from the mirror apt already uses and imported into podman.
#   deploy/base-image.sh [IMAGE]   (default localhost/execution-service-base:bookworm)
# Cached twice: nothing is done when podman already has IMAGE, and the root filesystem's tarball
# stays in $BASE_IMAGE_CACHE (default /var/cache/execution-service), so that a fresh podman
# store imports it in seconds instead of debootstrapping again (minutes).
set -euo pipefail
image="${1:-localhost/execution-service-base:bookworm}"
cache="${BASE_IMAGE_CACHE:-/var/cache/execution-service}"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$(cd "$(dirname "$0")" && pwd)/containers.conf}"

podman image exists "$image" && exit 0

# The first Debian (not -security) URI of the enabled apt sources, one-line or deb822 format.
debian_mirror() {
  local sources=()
  shopt -s nullglob
  for file in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [ -f "$file" ] && sources+=("$file")
  done
  [ ${#sources[@]} -gt 0 ] || return 0
  sed -nE -e 's/^deb +(\[[^]]*\] +)?([^ ]+) .*/\2/p' -e 's/^URIs: *//p' "${sources[@]}" |
    tr ' ' '\n' | grep -E '/debian/?$' | head -1 || true
}

tarball="$cache/bookworm-python3.11.tar"
if [ ! -s "$tarball" ]; then
  mirror="$(debian_mirror)"
  mirror="${mirror:-http://deb.debian.org/debian}"
  mkdir -p "$cache"
  root="$(mktemp -d "$cache/rootfs.XXXXXX")"
  trap 'rm -rf "$root"' EXIT
  echo "debootstrap bookworm from $mirror (a few minutes, once)" >&2
  debootstrap --variant=minbase --include=python3.11,ca-certificates bookworm "$root" "$mirror" \
    >"$cache/debootstrap.log" 2>&1 || { tail -20 "$cache/debootstrap.log" >&2; exit 1; }
  # apt's cache and lists only make the image bigger.
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  tar -C "$root" -cf "$tarball.partial" . && mv "$tarball.partial" "$tarball"
fi
podman import --quiet --change 'CMD ["/bin/bash"]' "$tarball" "$image" >/dev/null
echo "imported $image from $tarball" >&2
