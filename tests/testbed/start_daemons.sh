#!/usr/bin/env bash
# Start virtlogd and libvirtd for the virtops test bed on a machine without systemd.
#
# libvirtd runs inside the network namespace "virtops" (created here), so any
# libvirt network, bridge, dnsmasq or guest tap lives there and never in the
# root namespace. Clients reach the daemon through its unix socket as usual.
# virtlogd (a log daemon only) runs in the root namespace.
#
# libvirtd runs in the foreground under 'tini -s', a child subreaper: QEMU is
# daemonized by libvirtd, so its process is an orphan, and PID 1 on these
# machines reaps orphans only every ~1.5-2 s. libvirt waits for the QEMU pid to
# vanish before it reports a guest as shut off, which made every shutdown and
# destroy ~1.5 s slower. Without tini, libvirtd -d is used (correct, but slower).
#
# Idempotent: exits at once when qemu:///system already answers.
# Env: VIRTOPS_NETNS (default virtops), VIRTOPS_DAEMON_TIMEOUT (default 15 s),
#      VIRTOPS_ALLOW_ROOT_NETNS=1 to accept a libvirtd already running outside the netns,
#      VIRTOPS_FIX_KVM_PERMS=0 to leave /dev/kvm permissions alone (see fix_kvm_perms).
set -euo pipefail

NETNS=${VIRTOPS_NETNS:-virtops}
URI=qemu:///system
WAIT=${VIRTOPS_DAEMON_TIMEOUT:-30}
LIBVIRTD_PID=/run/libvirtd.pid
VIRTLOGD_PID=/run/virtlogd.pid
VIRTLOGD_SOCK=/run/libvirt/virtlogd-sock
LOG_DIR=/var/log/libvirt
LIBVIRTD_LOG=$LOG_DIR/libvirtd.log
VIRTLOGD_LOG=$LOG_DIR/virtlogd.log

me=start_daemons.sh
die() { echo "$me: error: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root"
for cmd in virsh libvirtd virtlogd ip timeout; do
  command -v "$cmd" >/dev/null 2>&1 || die "'$cmd' not found; run tests/testbed/install_system.sh first"
done

answers() { timeout "${1:-5}" virsh -q -c "$URI" version >/dev/null 2>&1; }

# Without udev, /dev/kvm stays root:root 0600. libvirtd (root) then probes QEMU
# with KVM enabled, but judges KVM unusable for the 'libvirt-qemu' user, declares
# its capabilities cache stale and re-probes QEMU (~4 s) on EVERY capabilities
# lookup: each define/start/version call. Apply what Debian's udev rule would
# (root:kvm 0660). Guests still use TCG (type='qemu') unless asked otherwise.
fix_kvm_perms() {
  [ "${VIRTOPS_FIX_KVM_PERMS:-1}" = 1 ] || return 0
  [ -c /dev/kvm ] || return 0
  getent group kvm >/dev/null 2>&1 || return 0
  if [ "$(stat -c '%G %a' /dev/kvm)" != "kvm 660" ]; then
    chgrp kvm /dev/kvm && chmod 0660 /dev/kvm \
      || echo "$me: warning: could not set /dev/kvm to root:kvm 0660; libvirt calls will be slow" >&2
  fi
}

# shellcheck source=tests/testbed/daemon_lib.sh
. "$(dirname "$0")/daemon_lib.sh"

netns_inode() { stat -L -c %i "/run/netns/$NETNS" 2>/dev/null || true; }

# Refuse a libvirtd that serves us from the root network namespace: a libvirt
# network started there would put a bridge and DHCP server on the host.
check_netns() {
  local pid=$1 want have
  want=$(netns_inode)
  have=$( (readlink "/proc/$pid/ns/net" 2>/dev/null || true) | tr -dc '0-9')
  if [ -z "$want" ] || [ "$have" != "$want" ]; then
    if [ "${VIRTOPS_ALLOW_ROOT_NETNS:-0}" = 1 ]; then
      echo "$me: warning: libvirtd (pid $pid) is not in netns '$NETNS'; never start a libvirt network with it" >&2
    else
      die "libvirtd (pid $pid) runs outside netns '$NETNS'; stop it (tests/testbed/stop_daemons.sh) and rerun, or set VIRTOPS_ALLOW_ROOT_NETNS=1 if you know no libvirt network will be started"
    fi
  fi
}

fix_kvm_perms

if answers; then
  pid=$(live_pid "$LIBVIRTD_PID" libvirtd)
  if [ -n "$pid" ]; then check_netns "$pid"; fi
  echo "$me: libvirtd already answering"
  exit 0
fi

start=$(date +%s%N)
started=()

# 1. network namespace with loopback up
if [ ! -e "/run/netns/$NETNS" ]; then
  ip netns add "$NETNS" || die "cannot create network namespace '$NETNS'"
fi
ip netns exec "$NETNS" ip link set lo up || die "cannot bring up lo in netns '$NETNS'"

mkdir -p "$LOG_DIR" /run/libvirt

# 2. virtlogd (QEMU's stdout/stderr go through it; without it 'start' fails)
pid=$(live_pid "$VIRTLOGD_PID" virtlogd)
if [ -z "$pid" ]; then
  rm -f "$VIRTLOGD_PID" "$VIRTLOGD_SOCK" "$VIRTLOGD_SOCK.lock" /run/libvirt/virtlogd-admin-sock
  LIBVIRT_LOG_OUTPUTS="3:file:$VIRTLOGD_LOG" virtlogd -d \
    || die "virtlogd -d failed; see $VIRTLOGD_LOG"
  for _ in $(seq 1 50); do
    [ -S "$VIRTLOGD_SOCK" ] && break
    sleep 0.1
  done
  [ -S "$VIRTLOGD_SOCK" ] || die "virtlogd did not create $VIRTLOGD_SOCK within 5 s; see $VIRTLOGD_LOG"
  started+=(virtlogd)
fi

# 3. libvirtd inside the namespace
pid=$(live_pid "$LIBVIRTD_PID" libvirtd)
if [ -n "$pid" ]; then
  check_netns "$pid"
  echo "$me: libvirtd (pid $pid) is running but not answering yet; waiting" >&2
else
  rm -f "$LIBVIRTD_PID" /run/libvirt/libvirt-sock /run/libvirt/libvirt-sock-ro \
        /run/libvirt/libvirt-admin-sock
  if command -v tini >/dev/null 2>&1; then
    # setsid -f: detach at once; libvirtd stays in the foreground as tini's child
    LIBVIRT_LOG_OUTPUTS="3:file:$LIBVIRTD_LOG" ip netns exec "$NETNS" \
      setsid -f tini -s -- libvirtd </dev/null >>"$LIBVIRTD_LOG" 2>&1 \
      || die "could not launch libvirtd in netns '$NETNS'; see $LIBVIRTD_LOG"
    started+=("libvirtd (under tini -s)")
  else
    echo "$me: warning: tini not found; guest stops will be ~1.5 s slower (run install_system.sh)" >&2
    LIBVIRT_LOG_OUTPUTS="3:file:$LIBVIRTD_LOG" ip netns exec "$NETNS" libvirtd -d \
      || die "libvirtd -d failed in netns '$NETNS'; see $LIBVIRTD_LOG"
    started+=(libvirtd)
  fi
fi

# The first call after a cold start waits for QEMU capability probing (several
# seconds), so give each attempt the remaining time instead of killing it.
deadline=$(( $(date +%s) + WAIT ))
while :; do
  left=$(( deadline - $(date +%s) ))
  if [ "$left" -gt 0 ] && answers "$left"; then
    break
  fi
  if [ "$(date +%s)" -ge "$deadline" ]; then
    echo "--- last lines of $LIBVIRTD_LOG:" >&2
    tail -n 20 "$LIBVIRTD_LOG" >&2 2>/dev/null || true
    die "libvirtd did not answer on $URI within ${WAIT} s"
  fi
  # died during start-up? (it writes its pid file within a fraction of a second)
  if [ $(( $(date +%s) - deadline + WAIT )) -ge 3 ] && [ -z "$(live_pid "$LIBVIRTD_PID" libvirtd)" ]; then
    echo "--- last lines of $LIBVIRTD_LOG:" >&2
    tail -n 20 "$LIBVIRTD_LOG" >&2 2>/dev/null || true
    die "libvirtd exited during start-up"
  fi
  sleep 0.2
done

pid=$(live_pid "$LIBVIRTD_PID" libvirtd)
if [ -n "$pid" ]; then check_netns "$pid"; fi
ms=$(( ($(date +%s%N) - start) / 1000000 ))
echo "$me: started ${started[*]:-nothing} (libvirtd pid ${pid:-?} in netns $NETNS); answering after ${ms} ms"
