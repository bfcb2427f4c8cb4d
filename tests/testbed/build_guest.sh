#!/usr/bin/env bash
# Build the tiny virtops test guest from Debian packages: a cloud kernel and
# initramfs images holding a static busybox and an /init that loads the
# virtio/ACPI/pvpanic modules, reports on the serial port and (variant
# permitting) powers off on the ACPI power button.
#
# Output: ${VIRTOPS_GUEST_DIR:-/var/lib/virtops/guest}/
#   vmlinuz  initrd-normal.img  initrd-stubborn.img  initrd-net.img  logs/
# Variants:
#   normal    busybox acpid: ACPI power button (PWRF) -> poweroff -f
#   stubborn  no acpid: ignores the ACPI power button
#   net       as normal, plus eth0 up and udhcpc (prints the leased address)
# Per-domain options on the kernel command line (guest.py sets them; the init
# and the power-button handler read /proc/cmdline):
#   virtops.shutdown_delay=S  power button -> wait S seconds, then poweroff -f;
#                             presses during the wait are ignored (default 0)
#   virtops.crash_after=S     kernel panic (sysrq c) S seconds after "booted";
#                             with a pvpanic device libvirt sees crashed (panicked)
# Serial lines (prefix "virtops-guest: "): "booted variant=V", "acpid started",
#   "acpid disabled", "power button pressed, powering off in S s",
#   "power button pressed again, poweroff already under way",
#   "crash in S s", "crashing now", "bad virtops.X=V (ignored)",
#   "dhcp started", "dhcp bound eth0 IP", "module X failed".
#
# Cached: a stamp records the kernel version and this script's sha256; a
# matching stamp with all files present exits at once.
# Env: VIRTOPS_GUEST_DIR, VIRTOPS_GUEST_KERNEL (e.g. 6.1.0-56-cloud-amd64; default:
#      what linux-image-cloud-amd64 depends on), VIRTOPS_GUEST_REBUILD=1 to force.
set -euo pipefail

me=build_guest.sh
OUT=${VIRTOPS_GUEST_DIR:-/var/lib/virtops/guest}
CACHE=$OUT/.pkgcache
STAMP=$OUT/.stamp
VARIANTS=(normal stubborn net)
MODULES=(evdev button virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev
         virtio_pci failover net_failover virtio_net virtio_console pvpanic_mmio)

die() { echo "$me: error: $*" >&2; exit 1; }

script_path=$(readlink -f "${BASH_SOURCE[0]}")
script_sha=$(sha256sum "$script_path" | cut -d' ' -f1)

outputs_present() {
  local f
  for f in vmlinuz "${VARIANTS[@]/#/initrd-}"; do
    case $f in initrd-*) f=$f.img ;; esac
    [ -s "$OUT/$f" ] || return 1
  done
  [ -d "$OUT/logs" ]
}

stamp_field() { sed -n "s/^$1=//p" "$STAMP" 2>/dev/null | head -n1; }

# The kernel version linux-image-cloud-amd64 points at. apt-cache takes ~0.5 s
# here (no pkgcache.bin), so reuse the stamp's answer while no apt list changed.
resolve_kernel() {
  if [ -n "${VIRTOPS_GUEST_KERNEL:-}" ]; then
    echo "$VIRTOPS_GUEST_KERNEL"
    return
  fi
  if [ -f "$STAMP" ] && [ -n "$(stamp_field kernel)" ] \
     && [ -z "$(find /var/lib/apt/lists -maxdepth 1 -newer "$STAMP" -name '*Packages*' -print -quit 2>/dev/null)" ]; then
    stamp_field kernel
    return
  fi
  local dep
  dep=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null \
        | awk '$1 == "Depends:" && $2 ~ /^linux-image-/ { print $2; exit }')
  if [ -z "$dep" ]; then
    apt-get update -q >/dev/null 2>&1 || die "apt-get update failed"
    dep=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null \
          | awk '$1 == "Depends:" && $2 ~ /^linux-image-/ { print $2; exit }')
  fi
  [ -n "$dep" ] || die "cannot resolve the kernel behind linux-image-cloud-amd64 (apt-cache depends)"
  echo "${dep#linux-image-}"
}

KVER=$(resolve_kernel)
want_stamp="kernel=$KVER
script=$script_sha"

is_cached() {
  [ "${VIRTOPS_GUEST_REBUILD:-0}" != 1 ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$want_stamp" ] && outputs_present
}

if is_cached; then
  # apt lists changed but still name the same kernel: remember that we checked
  if [ -z "${VIRTOPS_GUEST_KERNEL:-}" ]; then touch -c "$STAMP" 2>/dev/null || true; fi
  echo "$me: guest cached ($OUT, kernel $KVER)"
  exit 0
fi

[ "$(id -u)" -eq 0 ] || die "must run as root (apt-get download, device nodes in the initramfs)"
for cmd in apt-get dpkg depmod cpio gzip flock; do
  command -v "$cmd" >/dev/null 2>&1 || die "'$cmd' not found; run tests/testbed/install_system.sh first"
done

start=$(date +%s%N)
install -d -m 0755 "$OUT" "$CACHE"
# one builder at a time; a waiter finds the fresh build and stops there
exec 9>"$OUT/.lock"
flock 9
if is_cached; then
  echo "$me: guest cached ($OUT, kernel $KVER; built by a concurrent run)"
  exit 0
fi

work=$(mktemp -d /tmp/virtops-guest-build.XXXXXX)
trap 'rm -rf "$work"' EXIT

# --- 1. download (cached in $CACHE) --------------------------------------------
kpkg=linux-image-$KVER
download() {
  (cd "$CACHE" && apt-get download -q -o APT::Sandbox::User=root "$@") >"$work/download.log" 2>&1
}
have_deb() { compgen -G "$CACHE/${1}_*.deb" >/dev/null; }
need=()
have_deb "$kpkg" || need+=("$kpkg")
have_deb busybox-static || need+=(busybox-static)
if [ ${#need[@]} -gt 0 ]; then
  if ! download "${need[@]}"; then
    apt-get update -q >/dev/null 2>&1 || true
    download "${need[@]}" || { cat "$work/download.log" >&2; die "apt-get download ${need[*]} failed"; }
  fi
fi
# keep only the kernel in use (and one busybox) in the cache
for f in "$CACHE"/linux-image-*.deb; do
  case $f in "$CACHE/${kpkg}_"*) ;; *) rm -f "$f" ;; esac
done
kdeb=$(compgen -G "$CACHE/${kpkg}_*.deb" | head -n1)
bdeb=$(compgen -G "$CACHE/busybox-static_*.deb" | sort -V | tail -n1)
if [ -z "$kdeb" ] || [ -z "$bdeb" ]; then die "downloaded packages not found in $CACHE"; fi

# --- 2. unpack, learn module order ----------------------------------------------
dpkg -x "$kdeb" "$work/k"
dpkg -x "$bdeb" "$work/bb"
modroot=$work/k/lib/modules/$KVER
[ -d "$modroot" ] || modroot=$work/k/usr/lib/modules/$KVER
[ -d "$modroot" ] || die "no modules directory for $KVER in $kdeb"
[ -f "$work/k/boot/vmlinuz-$KVER" ] || die "no /boot/vmlinuz-$KVER in $kdeb"
depmod -b "${modroot%/lib/modules/"$KVER"}" "$KVER" 2>"$work/depmod.log" \
  || { cat "$work/depmod.log" >&2; die "depmod failed"; }
BUSYBOX=$work/bb/bin/busybox
[ -x "$BUSYBOX" ] || die "no static busybox in $bdeb"

declare -A modpath=() moddeps=() seen=()
while IFS= read -r line; do
  path=${line%%:*}
  base=${path##*/}
  name=${base%%.ko*}
  name=${name//-/_}
  modpath[$name]=$path
  deps=${line#*:}
  moddeps[$name]=$deps
done <"$modroot/modules.dep"

ordered=()
add_module() {  # depth-first: dependencies before the module itself
  local name=$1 dep depname
  [ -z "${seen[$name]:-}" ] || return 0
  seen[$name]=1
  [ -n "${modpath[$name]:-}" ] || die "module $name not found in modules.dep of $KVER (built in?)"
  for dep in ${moddeps[$name]}; do
    depname=${dep##*/}
    depname=${depname%%.ko*}
    add_module "${depname//-/_}"
  done
  ordered+=("$name")
}
for m in "${MODULES[@]}"; do
  if grep -q "/${m//_/[_-]}\.ko" "$modroot/modules.builtin" 2>/dev/null; then
    continue  # built into this kernel
  fi
  add_module "$m"
done

# --- 3. initramfs tree (shared by the variants) -----------------------------------
root=$work/root
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,run,tmp,var/log,etc/acpi,lib/modules/virtops,usr/share/udhcpc}
cp "$BUSYBOX" "$root/bin/busybox"
chmod 0755 "$root/bin/busybox"
"$BUSYBOX" --list-full | while IFS= read -r applet; do
  [ "$applet" = bin/busybox ] || [ -e "$root/$applet" ] || ln -s /bin/busybox "$root/$applet"
done
mknod -m 0600 "$root/dev/console" c 5 1
mknod -m 0666 "$root/dev/null" c 1 3
mknod -m 0660 "$root/dev/ttyS0" c 4 64

: >"$root/etc/modules.list"
for name in "${ordered[@]}"; do
  src=$modroot/${modpath[$name]}
  dst=$root/lib/modules/virtops/$name.ko
  case $src in  # busybox insmod may not read compressed modules: unpack now
    *.ko) cp "$src" "$dst" ;;
    *.ko.xz) xz -dc "$src" >"$dst" ;;
    *.ko.zst) zstd -q -dc "$src" >"$dst" ;;
    *.ko.gz) gzip -dc "$src" >"$dst" ;;
    *) die "unknown module format: $src" ;;
  esac
  echo "$name" >>"$root/etc/modules.list"
done

cat >"$root/init" <<'EOF'
#!/bin/sh
# virtops test guest init (PID 1): must never exit.
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
grep -q ' /dev ' /proc/mounts || mount -t devtmpfs devtmpfs /dev
mkdir -p /run /tmp /var/log
say() { echo "virtops-guest: $*" >/dev/ttyS0; }
VARIANT=$(cat /etc/virtops-variant)
CRASH_AFTER=$(virtops-arg crash_after)
for m in $(cat /etc/modules.list); do
  insmod "/lib/modules/virtops/$m.ko" 2>/dev/null || say "module $m failed"
done
hostname "virtops-$VARIANT"
ip link set lo up 2>/dev/null
say "booted variant=$VARIANT"

if [ -n "$CRASH_AFTER" ]; then
  # pvpanic (module pvpanic_mmio, ACPI QEMU0001) reports the panic to QEMU;
  # panic=0 on the command line keeps the kernel from rebooting itself.
  say "crash in $CRASH_AFTER s"
  (
    sleep "$CRASH_AFTER"
    say "crashing now"
    echo 1 >/proc/sys/kernel/sysrq
    echo c >/proc/sysrq-trigger
  ) &
fi

case $VARIANT in
  stubborn)
    say "acpid disabled"
    ;;
  *)
    acpid -d -c /etc/acpi -a /etc/acpid.conf -p /run/acpid.pid >/dev/ttyS0 2>&1 &
    # acpid writes its pid file once it holds the input devices
    n=0
    while [ ! -s /run/acpid.pid ] && [ $n -lt 100 ]; do usleep 50000; n=$((n + 1)); done
    if [ -s /run/acpid.pid ]; then say "acpid started"; else say "acpid failed"; fi
    ;;
esac

if [ "$VARIANT" = net ]; then
  ip link set eth0 up 2>/dev/null || say "no eth0"
  udhcpc -i eth0 -s /usr/share/udhcpc/default.script -b -t 10 -T 1 -A 3 -p /run/udhcpc.pid \
    >/dev/null 2>&1
  say "dhcp started"
fi

while :; do sleep 3600; done
EOF

cat >"$root/etc/acpid.conf" <<'EOF'
# busybox acpid action file: <event key> <handler under -c dir>
PWRF power
PWRB power
EOF
cat >"$root/etc/acpi/power" <<'EOF'
#!/bin/sh
# ACPI power button: power off after virtops.shutdown_delay seconds. acpid
# spawns a handler per event without waiting for it, and callers re-press the
# button while they wait, so only the first press counts (mkdir is atomic).
say() { echo "virtops-guest: $*" >/dev/ttyS0; }
delay=$(virtops-arg shutdown_delay 0)
if ! mkdir /run/virtops-poweroff 2>/dev/null; then
  say "power button pressed again, poweroff already under way"
  exit 0
fi
say "power button pressed, powering off in $delay s"
[ "$delay" = 0 ] || sleep "$delay"
poweroff -f
EOF

cat >"$root/bin/virtops-arg" <<'EOF'
#!/bin/sh
# virtops-arg NAME [DEFAULT]: the value of virtops.NAME=S on the kernel command
# line if S is a number of seconds (digits, optional fraction), else DEFAULT.
val=
for arg in $(cat /proc/cmdline); do
  case $arg in "virtops.$1="*) val=${arg#*=} ;; esac
done
case $val in
  '') ;;
  *[!0-9.]* | .* | *. | *.*.*)
    echo "virtops-guest: bad virtops.$1=$val (ignored)" >/dev/ttyS0
    val= ;;
esac
echo "${val:-${2:-}}"
EOF

cat >"$root/usr/share/udhcpc/default.script" <<'EOF'
#!/bin/sh
# udhcpc event script: configure $interface from the lease.
say() { echo "virtops-guest: $*" >/dev/ttyS0; }
case "$1" in
  deconfig)
    ip -4 addr flush dev "$interface"
    ip link set "$interface" up
    ;;
  bound|renew)
    ip -4 addr flush dev "$interface"
    ip addr add "$ip/${mask:-24}" ${broadcast:+broadcast "$broadcast"} dev "$interface"
    for r in $router; do ip route add default via "$r" dev "$interface" 2>/dev/null; break; done
    say "dhcp $1 $interface $ip"
    ;;
  leasefail|nak)
    say "dhcp $1 $interface"
    ;;
esac
exit 0
EOF
chmod 0755 "$root/init" "$root/etc/acpi/power" "$root/bin/virtops-arg" "$root/usr/share/udhcpc/default.script"

# --- 4. images ---------------------------------------------------------------------
for v in "${VARIANTS[@]}"; do
  echo "$v" >"$root/etc/virtops-variant"
  (cd "$root" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet | gzip -6n) \
    >"$work/initrd-$v.img"
done
install -m 0644 "$work/k/boot/vmlinuz-$KVER" "$OUT/vmlinuz"
for v in "${VARIANTS[@]}"; do
  install -m 0644 "$work/initrd-$v.img" "$OUT/initrd-$v.img"
done
# QEMU (user libvirt-qemu) writes the serial logs; libvirt chowns each log file
# (dynamic_ownership), but QEMU may have to create it, so the directory is the
# QEMU user's.
install -d -m 0755 "$OUT/logs"
if id libvirt-qemu >/dev/null 2>&1; then
  chown libvirt-qemu: "$OUT/logs"
fi
if id libvirt-qemu >/dev/null 2>&1 \
   && ! runuser -u libvirt-qemu -- test -r "$OUT/initrd-normal.img" 2>/dev/null; then
  die "$OUT is not readable by the libvirt-qemu user (check the modes of its parent directories)"
fi
printf '%s\n' "$want_stamp" >"$STAMP"

ms=$(( ($(date +%s%N) - start) / 1000000 ))
echo "$me: built guest in $OUT (kernel $KVER, modules: ${ordered[*]}) in ${ms} ms"
