#!/usr/bin/env bash
# Build a real Debian 12 (bookworm) guest image for the test bed, from Debian's
# package registry only, once, and keep it cached.
#
# Output: ${VIRTOPS_IMAGE_DIR:-/var/lib/virtops/image}/ (all world-readable, so
# QEMU running as libvirt-qemu can open them)
#   debian-12.qcow2  the root file system: ext4 directly on the disk (no
#                    partition table, root=/dev/vda), 2 GiB virtual size;
#                    use it as the backing file of a qcow2 overlay per guest
#   vmlinuz          the kernel for direct kernel boot (linux-image-cloud-amd64)
#   initrd.img       its initramfs (MODULES=list: virtio + ext4 only)
#   cmdline          the kernel command line to boot it with
#   manifest.txt     build date, build seconds, sizes, every package and version
# Guests are configured by cloud-init from a NoCloud seed (a cdrom labelled
# cidata); see tests/testbed/README.md ("A real Debian 12 guest image") and
# tests/testbed/boot_image.py, which boots one and measures it.
#
# Cached: .stamp holds this script's sha256 and the apt sources used; with a
# matching stamp and every file present the script exits at once. A build runs
# in a temporary folder beside the output and replaces it only when complete,
# so a failed build leaves the previous image (or nothing), never half of one.
# Rebuilding replaces debian-12.qcow2: overlays made on the old one are invalid.
#
# Env: VIRTOPS_IMAGE_DIR, VIRTOPS_IMAGE_REBUILD=1 (force, e.g. for a Debian
#      point release), VIRTOPS_IMAGE_SOURCES (an apt sources file for
#      mmdebstrap; default: the host's Debian bookworm entries),
#      VIRTOPS_IMAGE_SIZE (virtual disk size, default 2G).
set -euo pipefail

me=build_image.sh
OUT=${VIRTOPS_IMAGE_DIR:-/var/lib/virtops/image}
OUT=${OUT%/}
STAMP=$OUT/.stamp
SIZE=${VIRTOPS_IMAGE_SIZE:-2G}
SUITE=bookworm
INCLUDE=systemd-sysv,dbus,udev,openssh-server,python3,qemu-guest-agent,cloud-init,ifupdown,isc-dhcp-client,linux-image-cloud-amd64,iproute2,netbase,sudo
# quiet: the kernel's boot messages on the emulated 115200 baud serial port
# cost seconds under TCG; the rest is measured in the README.
CMDLINE="root=/dev/vda rw console=ttyS0 net.ifnames=0 quiet"
FILES=(debian-12.qcow2 vmlinuz initrd.img cmdline manifest.txt)

die() { echo "$me: error: $*" >&2; exit 1; }

# --- the customize hook: mmdebstrap runs "build_image.sh --customize ROOT" ----------
# after all packages are installed (with /proc, /sys, /dev mounted in ROOT).
customize() {
  local R=$1 unit
  [ -d "$R/etc" ] || die "--customize: $R is not a root file system"

  echo debian >"$R/etc/hostname"
  cat >"$R/etc/hosts" <<'EOF'
127.0.0.1	localhost
::1		localhost ip6-localhost ip6-loopback
ff02::1		ip6-allnodes
ff02::2		ip6-allrouters
EOF
  # root=/dev/vda is mounted rw by the initramfs (cmdline "rw"): no remount,
  # and no fsck pass (the journal is replayed on mount anyway).
  cat >"$R/etc/fstab" <<'EOF'
# virtops test image: ext4 directly on the virtio disk, no partition table
/dev/vda	/	ext4	defaults,noatime,errors=remount-ro	0	0
EOF
  : >"$R/etc/resolv.conf"

  # A small initramfs: only what mounts an ext4 root on a virtio disk, no resume.
  cat >"$R/etc/initramfs-tools/conf.d/virtops.conf" <<'EOF'
MODULES=list
RESUME=none
COMPRESS=gzip
EOF
  cat >>"$R/etc/initramfs-tools/modules" <<'EOF'
virtio_pci
virtio_blk
virtio_scsi
ext4
EOF
  chroot "$R" update-initramfs -u -k all >/dev/null

  # cloud-init: NoCloud seed (cdrom labelled cidata) or nothing, no probing of
  # cloud metadata services; root may log in with the seed's ssh keys.
  cat >"$R/etc/cloud/cloud.cfg.d/10-virtops.cfg" <<'EOF'
# virtops test image (tests/testbed/build_image.sh)
datasource_list: [ NoCloud, None ]
# users log in as root with the keys of the seed (ssh_authorized_keys at the
# top level of user-data); the default user "debian" gets them too, with sudo
disable_root: false
# RSA host keys take seconds to make under TCG emulation
ssh_genkeytypes: [ ed25519, ecdsa ]
# generating en_US.UTF-8 (the default) takes seconds under TCG
locale: C.UTF-8
# no boot loader in the image (direct kernel boot)
grub_dpkg:
  enabled: false
EOF

  # The libvirt network answers the first DHCPDISCOVER late or not at all while
  # the bridge port comes up: ask again after 1 s, not 3 then 5.
  printf '\n# virtops test image: retry DHCPDISCOVER quickly\ninitial-interval 1;\n' \
    >>"$R/etc/dhcp/dhclient.conf"

  # Units a short-lived test guest does not need (timers that would wake up
  # apt, scrub or trim the disk in the middle of a test; a getty on a screen
  # nobody looks at). systemctl mask only writes symlinks: fine in a chroot.
  for unit in apt-daily.timer apt-daily-upgrade.timer apt-daily.service apt-daily-upgrade.service \
              e2scrub_all.timer e2scrub_all.service e2scrub_reap.service \
              fstrim.timer fstrim.service man-db.timer man-db.service \
              systemd-timesyncd.service getty@tty1.service \
              systemd-pstore.service systemd-binfmt.service proc-sys-fs-binfmt_misc.automount \
              dev-hugepages.mount sys-kernel-debug.mount sys-kernel-tracing.mount \
              sys-fs-fuse-connections.mount modprobe@drm.service; do
    chroot "$R" systemctl mask "$unit" >/dev/null 2>&1
  done

  # Every guest makes its own identity: host keys (cloud-init's ssh module)
  # and machine-id (systemd, at first boot, from the empty file).
  rm -f "$R"/etc/ssh/ssh_host_*
  : >"$R/etc/machine-id"
  rm -f "$R/var/lib/dbus/machine-id"
  ln -s /etc/machine-id "$R/var/lib/dbus/machine-id"
}

if [ "${1:-}" = --customize ]; then
  customize "$2"
  exit 0
fi

# --- cache check ---------------------------------------------------------------------
script_path=$(readlink -f "${BASH_SOURCE[0]}")
script_sha=$(sha256sum "$script_path" | cut -d' ' -f1)

# The apt sources for mmdebstrap: the host's Debian entries for bookworm (not
# third-party repositories the host may also use).
sources_text() {
  if [ -n "${VIRTOPS_IMAGE_SOURCES:-}" ]; then
    cat "$VIRTOPS_IMAGE_SOURCES"
  elif [ -s /etc/apt/sources.list.d/debian.sources ]; then
    cat /etc/apt/sources.list.d/debian.sources
  elif grep -Eq '^deb[[:space:]]+(\[[^]]*\][[:space:]]+)?[^[:space:]]+[[:space:]]+bookworm' /etc/apt/sources.list 2>/dev/null; then
    grep -E '^deb[[:space:]]+(\[[^]]*\][[:space:]]+)?[^[:space:]]+[[:space:]]+bookworm(-updates|-security|/updates)?[[:space:]]' /etc/apt/sources.list
  fi
}
sources=$(sources_text)
sources_sha=$(printf '%s' "$sources" | sha256sum | cut -d' ' -f1)
want_stamp="script=$script_sha
sources=$sources_sha
size=$SIZE"

outputs_present() {
  local f
  for f in "${FILES[@]}"; do [ -s "$OUT/$f" ] || return 1; done
}
is_cached() {
  [ "${VIRTOPS_IMAGE_REBUILD:-0}" != 1 ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$want_stamp" ] && outputs_present
}

if is_cached; then
  echo "$me: image cached ($OUT)"
  exit 0
fi

[ "$(id -u)" -eq 0 ] || die "must run as root (mmdebstrap, chroot)"
for cmd in mmdebstrap mkfs.ext4 qemu-img flock chroot; do
  command -v "$cmd" >/dev/null 2>&1 || die "'$cmd' not found; run tests/testbed/install_system.sh first"
done

start=$(date +%s%N)
parent=$(dirname "$OUT")
install -d -m 0755 "$parent"
# one builder at a time; a waiter finds the fresh build and stops there
exec 9>"$parent/.$(basename "$OUT").lock"
flock 9
if is_cached; then
  echo "$me: image cached ($OUT; built by a concurrent run)"
  exit 0
fi

work=$(mktemp -d "$parent/.$(basename "$OUT").build.XXXXXX")
cleanup() { rm -rf "$work"; }
trap cleanup EXIT
new=$work/out
install -d -m 0755 "$new"
root=$work/root
log=$work/mmdebstrap.log

mirror=()
if [ -n "$sources" ]; then
  case $sources in
    *Types:*) printf '%s\n' "$sources" >"$work/debian.sources"; mirror=("$work/debian.sources") ;;
    *) printf '%s\n' "$sources" >"$work/debian.list"; mirror=("$work/debian.list") ;;
  esac
fi

# --- 1. root file system --------------------------------------------------------------
echo "$me: mmdebstrap $SUITE (a minute or so) ..."
if ! mmdebstrap --variant=minbase --include="$INCLUDE" \
     --customize-hook="'$script_path' --customize \"\$1\"" \
     "$SUITE" "$root" "${mirror[@]}" >"$log" 2>&1; then
  tail -n 40 "$log" >&2
  die "mmdebstrap failed"
fi
t_debootstrap=$(( ($(date +%s%N) - start) / 1000000 ))

kver=$(find "$root/boot" -maxdepth 1 -name 'vmlinuz-*' -printf '%f\n' | sed 's/^vmlinuz-//' | sort -V | tail -n1)
if [ -z "$kver" ] || [ ! -s "$root/boot/initrd.img-$kver" ]; then die "no kernel/initrd in $root/boot"; fi
install -m 0644 "$root/boot/vmlinuz-$kver" "$new/vmlinuz"
install -m 0644 "$root/boot/initrd.img-$kver" "$new/initrd.img"
printf '%s\n' "$CMDLINE" >"$new/cmdline"
chmod 0644 "$new/cmdline"
packages=$(dpkg-query --admindir="$root/var/lib/dpkg" -W -f '${Package} ${Version}\n' | LC_ALL=C sort)
rootfs_mb=$(du -sm "$root" | cut -f1)

# --- 2. disk image ----------------------------------------------------------------------
# Inode tables and journal initialised now (zeros: no space in the qcow2), so
# no guest's overlay gets written by ext4lazyinit after boot.
truncate -s "$SIZE" "$work/root.raw"
mkfs.ext4 -q -F -L debian-root -d "$root" -E lazy_itable_init=0,lazy_journal_init=0 \
  "$work/root.raw" >"$work/mkfs.log" 2>&1 || { cat "$work/mkfs.log" >&2; die "mkfs.ext4 -d failed"; }
rm -rf "$root"
qemu-img convert -f raw -O qcow2 "$work/root.raw" "$new/debian-12.qcow2"
rm -f "$work/root.raw"
chmod 0644 "$new/debian-12.qcow2"

secs=$(( ($(date +%s%N) - start) / 1000000 ))
{
  echo "# virtops Debian 12 test image (tests/testbed/build_image.sh)"
  echo "built=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "build_seconds=$(awk "BEGIN { printf \"%.1f\", $secs / 1000 }")"
  echo "mmdebstrap_seconds=$(awk "BEGIN { printf \"%.1f\", $t_debootstrap / 1000 }")"
  echo "kernel=$kver"
  echo "cmdline=$CMDLINE"
  echo "rootfs_mb=$rootfs_mb"
  echo "qcow2_bytes=$(stat -c %s "$new/debian-12.qcow2")"
  echo "virtual_size=$SIZE"
  echo "script_sha256=$script_sha"
  echo "sources_sha256=$sources_sha"
  echo "# packages"
  printf '%s\n' "$packages"
} >"$new/manifest.txt"
chmod 0644 "$new/manifest.txt"
printf '%s\n' "$want_stamp" >"$new/.stamp"

# --- 3. into place: swap the folder (the old one goes only when the new one is there)
if [ -e "$OUT" ]; then
  mv "$OUT" "$work/old"
fi
mv "$new" "$OUT"
chmod 0755 "$OUT"

if id libvirt-qemu >/dev/null 2>&1 \
   && ! runuser -u libvirt-qemu -- test -r "$OUT/debian-12.qcow2" 2>/dev/null; then
  die "$OUT is not readable by the libvirt-qemu user (check the modes of its parent directories)"
fi
echo "$me: built $OUT (kernel $kver, rootfs ${rootfs_mb} MB, qcow2 $(du -h "$OUT/debian-12.qcow2" | cut -f1)) in $((secs / 1000)) s"
