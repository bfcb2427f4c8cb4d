#!/usr/bin/env bash
# Stop the libvirtd and virtlogd started by start_daemons.sh (for developers;
# the tests do not need it). Running guests are left alone: QEMU processes
# survive and libvirtd reconnects to them when started again.
# Options: --destroy-guests  destroy and undefine testbed guests first (guest.py cleanup)
#          --remove-netns    also delete the network namespace (only if no QEMU runs)
set -euo pipefail

NETNS=${VIRTOPS_NETNS:-virtops}
me=stop_daemons.sh
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
die() { echo "$me: error: $*" >&2; exit 1; }

destroy_guests=0
remove_netns=0
for arg in "$@"; do
  case $arg in
    --destroy-guests) destroy_guests=1 ;;
    --remove-netns) remove_netns=1 ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
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

if [ "$destroy_guests" = 1 ] && [ -n "$(live_pid /run/libvirtd.pid libvirtd)" ]; then
  python3 "$here/guest.py" cleanup || echo "$me: warning: guest cleanup failed" >&2
fi

stopped=()
stop_one /run/libvirtd.pid libvirtd && stopped+=(libvirtd)
stop_one /run/virtlogd.pid virtlogd && stopped+=(virtlogd)

if [ "$remove_netns" = 1 ] && [ -e "/run/netns/$NETNS" ]; then
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
