#!/usr/bin/env bash
# Install the Debian 12 system packages the virtops test bed needs.
# Idempotent: apt-get runs only when a package is missing, so a second run is instant.
# Must run as root.
set -euo pipefail

PACKAGES=(
  libvirt-daemon-system libvirt-clients qemu-system-x86 qemu-utils dnsmasq-base
  libvirt-dev pkg-config gcc python3-venv python3-dev iproute2 cpio
  openssh-server openssh-client rsync
  # start_daemons.sh: a child subreaper for libvirtd (PID 1 here reaps orphans late)
  tini
  # used by build_guest.sh: depmod, module decompression, sha256sum
  kmod xz-utils zstd coreutils
  # tests/corpus: UEFI firmware (OVMF) and the emulated TPM that libvirt needs at define time
  ovmf swtpm swtpm-tools
  # ansible-test sanity's shellcheck test (tests/run_all.sh fails the stage without it)
  shellcheck
  # build_image.sh: the Debian 12 guest image (root file system from the package
  # registry, ext4 made without mounting, qcow2), its keyring; ssh through netns virtops
  mmdebstrap e2fsprogs debian-archive-keyring netcat-openbsd
)

die() { echo "install_system.sh: error: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root"
command -v dpkg-query >/dev/null 2>&1 || die "dpkg-query not found: this script supports Debian/Ubuntu only"

missing=()
for p in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [ "$status" = installed ] || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install_system.sh: all ${#PACKAGES[@]} packages already installed"
  exit 0
fi

export DEBIAN_FRONTEND=noninteractive
log=$(mktemp /tmp/virtops-install-system.XXXXXX.log)
# Without systemd, maintainer scripts may try to start services and complain;
# policy-rc.d 101 tells invoke-rc.d not to start anything during the install.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod 0755 "$policy"
  created_policy=1
fi
cleanup() {
  if [ "$created_policy" -eq 1 ]; then rm -f "$policy"; fi
  rm -f "$log"
}
trap cleanup EXIT

if ! apt-get update -q >"$log" 2>&1; then
  cat "$log" >&2
  die "apt-get update failed"
fi
if ! apt-get install -y -q --no-install-recommends \
     -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
     "${missing[@]}" >>"$log" 2>&1; then
  tail -n 50 "$log" >&2
  die "apt-get install failed for: ${missing[*]}"
fi

echo "install_system.sh: installed ${missing[*]}"
