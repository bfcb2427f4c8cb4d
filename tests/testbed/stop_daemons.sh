#!/usr/bin/env bash
# Stop the libvirtd and virtlogd started by start_daemons.sh, and first those of
# the second hypervisor hv2 (start_second_daemon.sh), for developers; the tests
# do not need it. Running guests are left alone: QEMU processes survive and
# libvirtd reconnects to them when started again.
# Options: --destroy-guests  destroy and undefine testbed guests first (guest.py cleanup)
#          --hv2-only        stop only hv2's libvirtd and virtlogd
#          --remove-netns    also delete the network namespace (only if no QEMU runs)
set -euo pipefail

NETNS=${VIRTOPS_NETNS:-virtops}
HV2=/var/lib/virtops/hv2
HV2_URI="qemu+unix:///system?socket=$HV2/sock/libvirt-sock"
me=stop_daemons.sh
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
die() { echo "$me: error: $*" >&2; exit 1; }

destroy_guests=0
remove_netns=0
hv2_only=0
for arg in "$@"; do
  case $arg in
    --destroy-guests) destroy_guests=1 ;;
    --remove-netns) remove_netns=1 ;;
    --hv2-only) hv2_only=1 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) die "unknown option '$arg'" ;;
  esac
done

[ "$(id -u)" -eq 0 ] || die "must run as root"

# shellcheck source=tests/testbed/daemon_lib.sh
. "$(dirname "$0")/daemon_lib.sh"

stop_one() {
  local file=$1 name=$2 pid
  pid=$(live_pid "$file" "$name")
  if [ -z "$pid" ]; then
    rm -f "$file"
    return 1
  fi
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do
    [ -n "$(live_pid "$file" "$name")" ] || break
    sleep 0.1
  done
  if [ -n "$(live_pid "$file" "$name")" ]; then
    echo "$me: $name (pid $pid) ignored SIGTERM for 10 s; sending SIGKILL" >&2
    kill -KILL "$pid" 2>/dev/null || true
    sleep 0.2
  fi
  rm -f "$file"
  return 0
}

if [ "$destroy_guests" = 1 ] && [ -n "$(live_pid "$HV2/libvirtd.pid" libvirtd)" ]; then
  python3 "$here/guest.py" --uri "$HV2_URI" cleanup || echo "$me: warning: guest cleanup on hv2 failed" >&2
fi
if [ "$destroy_guests" = 1 ] && [ "$hv2_only" = 0 ] && [ -n "$(live_pid /run/libvirtd.pid libvirtd)" ]; then
  python3 "$here/guest.py" cleanup || echo "$me: warning: guest cleanup failed" >&2
fi

# hv2 first (its mount namespace goes when its daemons and QEMUs are gone;
# its folders under $HV2 stay for the next start)
stopped=()
stop_one "$HV2/libvirtd.pid" libvirtd && stopped+=("hv2 libvirtd")
stop_one "$HV2/virtlogd.pid" virtlogd && stopped+=("hv2 virtlogd")
if [ "$hv2_only" = 0 ]; then
  stop_one /run/libvirtd.pid libvirtd && stopped+=(libvirtd)
  stop_one /run/virtlogd.pid virtlogd && stopped+=(virtlogd)
fi

if [ "$remove_netns" = 1 ] && [ "$hv2_only" = 0 ] && [ -e "/run/netns/$NETNS" ]; then
  if [ -n "$(ip netns pids "$NETNS" 2>/dev/null)" ]; then
    echo "$me: warning: processes still run in netns '$NETNS' (guests?); not removing it" >&2
  else
    ip netns del "$NETNS"
    stopped+=("netns $NETNS")
  fi
fi

if [ ${#stopped[@]} -eq 0 ]; then
  echo "$me: nothing was running"
else
  echo "$me: stopped ${stopped[*]}"
fi
