#!/usr/bin/env bash
# Create the small disk images (and directories) that the domain corpus references,
# as listed in images.txt next to this script (written by generate.py).
# Idempotent: an image that already exists is left alone, so a second run is instant.
# --recreate deletes and recreates every listed image (never anything else).
# Needs qemu-img (Debian package qemu-utils) and write access to the image directory.
set -euo pipefail

IMAGE_DIR=/var/lib/virtops/corpus-images
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
list="$here/images.txt"

die() { echo "make_images.sh: error: $*" >&2; exit 1; }

recreate=0
case "${1:-}" in
  "") ;;
  --recreate) recreate=1 ;;
  *) die "usage: make_images.sh [--recreate]" ;;
esac

[ -r "$list" ] || die "missing $list (run generate.py)"
command -v qemu-img >/dev/null 2>&1 || die "qemu-img not found (apt-get install qemu-utils)"
mkdir -p "$IMAGE_DIR" || die "cannot create $IMAGE_DIR"

# Formats by path, so that an overlay can name the format of its backing file.
declare -A formats=()
while read -r fmt _ rel _; do
  case "$fmt" in ''|'#'*) continue ;; esac
  formats["$rel"]=$fmt
done <"$list"

created=0
kept=0
while read -r fmt size rel backing; do
  case "$fmt" in ''|'#'*) continue ;; esac
  case "$rel" in /*|*..*) die "image path must be relative and inside $IMAGE_DIR: $rel" ;; esac
  path="$IMAGE_DIR/$rel"
  if [ "$fmt" = dir ]; then
    mkdir -p "$path"
    continue
  fi
  if [ "$recreate" -eq 1 ]; then
    rm -f "$path"
  fi
  if [ -e "$path" ]; then
    kept=$((kept + 1))
    continue
  fi
  mkdir -p "$(dirname "$path")"
  tmp="$path.tmp.$$"
  if [ -n "${backing:-}" ]; then
    backing_fmt=${formats["$backing"]:-}
    [ -n "$backing_fmt" ] || die "$rel: backing file $backing is not listed"
    [ -e "$IMAGE_DIR/$backing" ] || die "$rel: backing file $backing must be listed before it"
    qemu-img create -q -f "$fmt" -F "$backing_fmt" -b "$IMAGE_DIR/$backing" "$tmp" "$size"
  else
    qemu-img create -q -f "$fmt" "$tmp" "$size"
  fi
  chmod 0644 "$tmp"
  mv -f "$tmp" "$path"
  created=$((created + 1))
done <"$list"

echo "make_images.sh: $created created, $kept already present in $IMAGE_DIR"
