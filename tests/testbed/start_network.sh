#!/usr/bin/env bash
# Make sure libvirt's network "default" (NAT, bridge virbr0, DHCP on
# 192.168.122.0/24, as Debian ships it) is defined and active, through the
# libvirtd that start_daemons.sh runs inside the network namespace "virtops".
# The bridge, dnsmasq and the guests' taps then live in that namespace only.
#
# Refuses to do anything unless every libvirt daemon that could serve the
# request runs inside the namespace: a libvirt network started from the root
# namespace would put a bridge and a DHCP server on the host. After starting
# the network it checks that virbr0 exists inside the namespace and not in the
# root namespace (and stops the network again if that ever fails).
#
# Idempotent: a second run only checks. Run after start_daemons.sh.
# Env: VIRTOPS_NETNS (default virtops).
set -euo pipefail

NETNS=${VIRTOPS_NETNS:-virtops}
URI=qemu:///system
NET=default
BRIDGE=virbr0
LIBVIRTD_PID=/run/libvirtd.pid
me=start_network.sh
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

die() { echo "$me: error: $*" >&2; exit 1; }
v() { virsh -q -c "$URI" "$@"; }

[ "$(id -u)" -eq 0 ] || die "must run as root"
for cmd in virsh ip; do
  command -v "$cmd" >/dev/null 2>&1 || die "'$cmd' not found; run tests/testbed/install_system.sh first"
done

# shellcheck source=tests/testbed/daemon_lib.sh
. "$here/daemon_lib.sh"

net_ns_of() { (readlink "/proc/$1/ns/net" 2>/dev/null || true) | tr -dc '0-9'; }

# Every libvirt daemon that could own networks (the monolithic libvirtd, or the
# modular virtnetworkd/virtqemud) must be inside the namespace, and the
# libvirtd of start_daemons.sh must be running.
check_daemons_in_netns() {
  local want pid dir comm have found=0
  want=$(stat -L -c %i "/run/netns/$NETNS" 2>/dev/null || true)
  [ -n "$want" ] || die "network namespace '$NETNS' does not exist; run tests/testbed/start_daemons.sh"
  pid=$(live_pid "$LIBVIRTD_PID" libvirtd)
  [ -n "$pid" ] || die "no libvirtd running from $LIBVIRTD_PID; run tests/testbed/start_daemons.sh"
  for dir in /proc/[0-9]*; do
    comm=$(cat "$dir/comm" 2>/dev/null || true)
    case $comm in
      libvirtd|virtnetworkd|virtqemud) ;;
      *) continue ;;
    esac
    have=$(net_ns_of "${dir#/proc/}")
    [ -n "$have" ] || continue  # exited meanwhile
    [ "$have" = "$want" ] \
      || die "$comm (pid ${dir#/proc/}) runs outside netns '$NETNS'; refusing to start a libvirt network (stop it, then run start_daemons.sh)"
    if [ "${dir#/proc/}" = "$pid" ]; then found=1; fi
  done
  [ "$found" = 1 ] || die "libvirtd pid $pid from $LIBVIRTD_PID has vanished; run tests/testbed/start_daemons.sh"
}

in_root_ns() { ip link show "$BRIDGE" >/dev/null 2>&1; }
in_netns() { ip netns exec "$NETNS" ip link show "$BRIDGE" >/dev/null 2>&1; }

check_bridge() {
  if in_root_ns; then
    v net-destroy "$NET" >/dev/null 2>&1 || true
    die "bridge $BRIDGE appeared in the root network namespace; network '$NET' stopped again"
  fi
  in_netns || die "network '$NET' is active but bridge $BRIDGE is not in netns '$NETNS'"
}

check_daemons_in_netns
v version >/dev/null 2>&1 || die "libvirtd does not answer on $URI; run tests/testbed/start_daemons.sh"
start=$(date +%s%N)

if ! v net-info "$NET" >/dev/null 2>&1; then
  xml=$(mktemp /tmp/virtops-net.XXXXXX.xml)
  trap 'rm -f "$xml"' EXIT
  cat >"$xml" <<EOF
<network>
  <name>$NET</name>
  <forward mode='nat'/>
  <bridge name='$BRIDGE' stp='off' delay='0'/>
  <ip address='192.168.122.1' netmask='255.255.255.0'>
    <dhcp>
      <range start='192.168.122.2' end='192.168.122.254'/>
    </dhcp>
  </ip>
</network>
EOF
  v net-define "$xml" >/dev/null || die "virsh net-define $NET failed"
  defined=" (defined it)"
fi

# Without STP a guest's new tap forwards at once. With it the kernel holds each new
# port in listening and learning for 2 s each (its minimum forward delay), so a
# guest migrated between the two daemons went unreachable for about 3 s. A network
# defined before with stp='on' cannot be redefined while active (libvirt 9.0 finds its
# own bridge name in use), so the running bridge is set here on every run.
stp_off() {
  ip netns exec "$NETNS" ip link set "$BRIDGE" type bridge stp_state 0 2>/dev/null \
    || echo "$me: warning: could not turn STP off on $BRIDGE; migrated guests are unreachable for ~3 s" >&2
}
active=$(v net-info "$NET" | awk '$1 == "Active:" { print $2 }')
if [ "$active" = yes ]; then
  check_bridge
  stp_off
  echo "$me: network '$NET' already active (bridge $BRIDGE in netns $NETNS only)"
  exit 0
fi

# last check right before the one call that creates a bridge
check_daemons_in_netns
v net-start "$NET" >/dev/null || die "virsh net-start $NET failed; see /var/log/libvirt/libvirtd.log"
check_bridge
stp_off
ms=$(( ($(date +%s%N) - start) / 1000000 ))
echo "$me: started network '$NET'${defined:-} in ${ms} ms (bridge $BRIDGE in netns $NETNS only)"
