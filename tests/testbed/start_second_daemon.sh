#!/usr/bin/env bash
# Start a second libvirt hypervisor, "hv2", beside the libvirtd of
# start_daemons.sh ("hv1"), for migration tests on one machine.
#
# hv2 runs in the SAME network namespace "virtops" (so guests on either daemon
# share bridge virbr0 and hv1's DHCP, and migration streams go over that
# namespace's loopback) but in a mount namespace of its own, where private
# folders under /var/lib/virtops/hv2 hide hv1's /run/libvirt, /var/lib/libvirt,
# /etc/libvirt (a copy without domains, networks or pools), /var/cache/libvirt
# and /var/log/libvirt. Before hiding it, hv1's /run/libvirt is bind-mounted at
# /var/lib/virtops/hv2/hv1-run, so hv2 can reach hv1 (migrations back).
# hv2's own sockets live in /var/lib/virtops/hv2/sock, which everyone sees.
#
#   host, hv1 -> hv2   qemu+unix:///system?socket=/var/lib/virtops/hv2/sock/libvirt-sock
#   hv2 -> hv1         qemu+unix:///system?socket=/var/lib/virtops/hv2/hv1-run/libvirt-sock
#
# hv2 has a host UUID of its own (libvirt refuses to migrate a guest to a host
# with the same UUID), no cgroup controllers, and after it answers: a network
# "default" that only points at hv1's bridge (forward mode 'bridge': no bridge,
# no dnsmasq, no firewall rules of its own) and the dir pools of hv1 (and of
# pools.yml) under /var/lib/virtops, same names and paths.
#
# Idempotent: when hv2 already answers it only checks (one virsh call; it
# repairs the network and pools.yml's pools if they are not active).
# --sync: also mirror pools hv1 gained since hv2 started.
# Stop it with: tests/testbed/stop_daemons.sh --hv2-only
# Needs hv1 and its network: run start_daemons.sh and start_network.sh first.
# Env: VIRTOPS_NETNS (default virtops), VIRTOPS_DAEMON_TIMEOUT (default 30 s).
set -euo pipefail

NETNS=${VIRTOPS_NETNS:-virtops}
HV1_URI=qemu:///system
HV1_RUN=/run/libvirt
H=/var/lib/virtops/hv2
URI="qemu+unix:///system?socket=$H/sock/libvirt-sock"
HV1_FROM_HV2="qemu+unix:///system?socket=$H/hv1-run/libvirt-sock"
WAIT=${VIRTOPS_DAEMON_TIMEOUT:-30}
LIBVIRTD_PID=$H/libvirtd.pid
VIRTLOGD_PID=$H/virtlogd.pid
LIBVIRTD_LOG=$H/log/libvirtd.log
VIRTLOGD_LOG=$H/log/virtlogd.log
UUID_FILE=$H/host_uuid
NET=default
# hv1 hands out 49152-49215 for incoming migrations; hv2 takes the next 64
MIGRATION_PORTS="49216 49279"
# throwaway pools of tests/integration (one per test case): not mirrored
SKIP_POOLS_UNDER=/var/lib/virtops/test-pools/

me=start_second_daemon.sh
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
die() { echo "$me: error: $*" >&2; exit 1; }
v2() { virsh -q -c "$URI" "$@"; }
v1() { virsh -q -c "$HV1_URI" "$@"; }

sync=0
for arg in "$@"; do
  case $arg in
    --sync) sync=1 ;;
    -h|--help) sed -n '2,28p' "$0"; exit 0 ;;
    *) die "unknown option '$arg' (only --sync)" ;;
  esac
done

[ "$(id -u)" -eq 0 ] || die "must run as root"
for cmd in virsh libvirtd virtlogd ip unshare nsenter setsid timeout flock; do
  command -v "$cmd" >/dev/null 2>&1 || die "'$cmd' not found; run tests/testbed/install_system.sh first"
done

# shellcheck source=tests/testbed/daemon_lib.sh
. "$here/daemon_lib.sh"

answers() { timeout "${1:-5}" virsh -q -c "$URI" version >/dev/null 2>&1; }
# "; defined network default, started network default" or nothing
done_list() { [ ${#did[@]} -eq 0 ] || { printf '; %s' "${did[0]}"; printf ', %s' "${did[@]:1}"; }; }
show_log() {
  echo "--- last lines of $LIBVIRTD_LOG:" >&2
  tail -n 20 "$LIBVIRTD_LOG" >&2 2>/dev/null || true
}
# the <uuid> of `virsh capabilities` (the host's, first in the document)
host_uuid_of() { virsh -q -c "$1" capabilities 2>/dev/null | sed -n 's:.*<uuid>\(.*\)</uuid>.*:\1:p' | head -n1; }
same_file() { [ "$(stat -L -c %d:%i "$1" 2>/dev/null)" = "$(stat -L -c %d:%i "$2" 2>/dev/null || echo none)" ]; }

# A live hv2 daemon must be in netns $NETNS and see the private folders (its
# mount namespace, through /proc/PID/root): never let a daemon that shares
# hv1's folders or the root network namespace pass as hv2.
check_daemon() {
  local pid=$1 name=$2 want have
  want=$(stat -L -c %i "/run/netns/$NETNS" 2>/dev/null || true)
  have=$( (readlink "/proc/$pid/ns/net" 2>/dev/null || true) | tr -dc '0-9')
  if [ -z "$want" ] || [ "$have" != "$want" ]; then
    die "$name (pid $pid, from $H) runs outside netns '$NETNS'; stop it (tests/testbed/stop_daemons.sh --hv2-only) and rerun"
  fi
  same_file "/proc/$pid/root/run/libvirt" "$H/run" \
    || die "$name (pid $pid, from $H) does not see $H/run as /run/libvirt; stop it (tests/testbed/stop_daemons.sh --hv2-only) and rerun"
}

# hv2's pid of a daemon that holds its mount namespace, else empty
ns_holder() {
  local pid
  for pid in $(live_pid "$LIBVIRTD_PID" libvirtd) $(live_pid "$VIRTLOGD_PID" virtlogd); do
    echo "$pid"
    return 0
  done
}

# hv1: answering, with its network up (hv2's network only points at its bridge)
hv1_bridge() {
  v1 version >/dev/null 2>&1 || die "the first libvirtd does not answer on $HV1_URI; run tests/testbed/start_daemons.sh"
  local xml bridge
  xml=$(v1 net-dumpxml "$NET" 2>/dev/null) \
    || die "hv1 has no network '$NET'; run tests/testbed/start_network.sh"
  bridge=$(sed -n "s:.*<bridge name='\([^']*\)'.*:\1:p" <<<"$xml" | head -n1)
  [ -n "$bridge" ] || die "hv1's network '$NET' names no bridge; hv2 cannot share it"
  [ "$(v1 net-info "$NET" | awk '$1 == "Active:" { print $2 }')" = yes ] \
    || die "hv1's network '$NET' is not active; run tests/testbed/start_network.sh"
  ip netns exec "$NETNS" ip link show "$bridge" >/dev/null 2>&1 \
    || die "bridge $bridge of hv1's network '$NET' is not in netns '$NETNS'"
  echo "$bridge"
}

# ---------------------------------------------------------------- after start
# Network "default" on hv2: forward mode 'bridge' onto hv1's bridge. Starting
# it creates nothing (no bridge, dnsmasq or firewall rule); a guest's tap joins
# hv1's bridge, so its lease and address stay hv1's dnsmasq's.
ensure_network() {
  local bridge=$1 xml file
  if ! xml=$(v2 net-dumpxml --inactive "$NET" 2>/dev/null); then
    file=$(mktemp /tmp/virtops-hv2-net.XXXXXX.xml)
    printf "<network>\n  <name>%s</name>\n  <forward mode='bridge'/>\n  <bridge name='%s'/>\n</network>\n" \
      "$NET" "$bridge" >"$file"
    v2 net-define "$file" >/dev/null || { rm -f "$file"; die "virsh -c '$URI' net-define $NET failed"; }
    rm -f "$file"
    did+=("defined network $NET")
    xml=$(v2 net-dumpxml --inactive "$NET")
  fi
  # refuse anything that would make a bridge, DHCP or NAT of hv2's own
  if ! grep -q "<forward mode='bridge'" <<<"$xml" || grep -q '<ip' <<<"$xml"; then
    die "hv2's network '$NET' is not a plain forward mode='bridge' network; refusing to start it (virsh -c '$URI' net-undefine $NET, then rerun)"
  fi
  grep -q "<bridge name='$bridge'" <<<"$xml" \
    || die "hv2's network '$NET' does not use hv1's bridge $bridge (virsh -c '$URI' net-undefine $NET, then rerun)"
  if [ "$(v2 net-info "$NET" | awk '$1 == "Active:" { print $2 }')" != yes ]; then
    v2 net-start "$NET" >/dev/null || die "virsh -c '$URI' net-start $NET failed; see $LIBVIRTD_LOG"
    did+=("started network $NET")
  fi
  if [ "$(v2 net-info "$NET" | awk '$1 == "Autostart:" { print $2 }')" != yes ]; then
    v2 net-autostart "$NET" >/dev/null || die "virsh -c '$URI' net-autostart $NET failed"
  fi
  ip link show "$bridge" >/dev/null 2>&1 && die "bridge $bridge exists in the root network namespace; stop and investigate"
  return 0
}

# "NAME PATH" lines: the dir pools of pools.yml and of hv1 under /var/lib/virtops
wanted_pools() {
  sed -n 's/.*{name: *\([^,}]*\), *path: *\([^,}]*\)}.*/\1 \2/p' "$here/pools.yml"
  local name xml type path
  for name in $(v1 pool-list --all --name 2>/dev/null); do
    xml=$(v1 pool-dumpxml "$name" 2>/dev/null) || continue
    type=$(sed -n "s:^<pool type='\([^']*\)'.*:\1:p" <<<"$xml")
    path=$(sed -n 's:.*<path>\(.*\)</path>.*:\1:p' <<<"$xml" | head -n1)
    [ "$type" = dir ] || continue
    case $path in
      "$SKIP_POOLS_UNDER"*) ;;
      /var/lib/virtops/*) echo "$name $path" ;;
    esac
  done
}

ensure_pools() {
  local name path have info
  while read -r name path; do
    [ -n "$name" ] || continue
    if have=$(v2 pool-dumpxml "$name" 2>/dev/null); then
      grep -q "<path>$path</path>" <<<"$have" \
        || die "hv2's pool '$name' does not point at $path as hv1's does (virsh -c '$URI' pool-undefine $name, then rerun)"
    else
      v2 pool-define-as "$name" dir --target "$path" >/dev/null \
        || die "virsh -c '$URI' pool-define-as $name dir --target $path failed"
      did+=("defined pool $name")
    fi
    info=$(v2 pool-info "$name")
    if [ "$(awk '$1 == "State:" { print $2 }' <<<"$info")" != running ]; then
      [ -d "$path" ] || v2 pool-build "$name" >/dev/null || die "virsh -c '$URI' pool-build $name ($path) failed"
      v2 pool-start "$name" >/dev/null || die "virsh -c '$URI' pool-start $name failed; see $LIBVIRTD_LOG"
      did+=("started pool $name")
    fi
    if [ "$(awk '$1 == "Autostart:" { print $2 }' <<<"$info")" != yes ]; then
      v2 pool-autostart "$name" >/dev/null || die "virsh -c '$URI' pool-autostart $name failed"
    fi
  done < <(wanted_pools | sort -u)
}

# checks the daemon, then network and pools; sets pid
finish() {  # BRIDGE
  pid=$(live_pid "$LIBVIRTD_PID" libvirtd)
  [ -n "$pid" ] || die "hv2 answers on $URI but $LIBVIRTD_PID names no live libvirtd; is another daemon using $H/sock?"
  check_daemon "$pid" libvirtd
  [ -S "/proc/$pid/root$H/hv1-run/libvirt-sock" ] \
    || echo "$me: warning: hv2 does not see hv1's socket at $H/hv1-run/libvirt-sock (hv1's /run/libvirt was replaced?); migrations back need a restart of hv2 (stop_daemons.sh --hv2-only, then rerun)" >&2
  ensure_network "$1"
  ensure_pools
}

# ---------------------------------------------------------------- quick path
# One call lists what is active on hv2; when the daemon checks out and network
# and pools.yml's pools are active, that is all (pools hv1 gained since hv2
# started are mirrored on the next start, or now with --sync).
did=()
t0=$(date +%s%N)
# (without its virtlogd hv2 cannot start a guest: then take the long way)
if [ -n "$(live_pid "$VIRTLOGD_PID" virtlogd)" ] \
   && active=$(timeout 5 virsh -q -c "$URI" 'net-list --name; pool-list --name' 2>/dev/null); then
  pid=$(live_pid "$LIBVIRTD_PID" libvirtd)
  [ -n "$pid" ] || die "hv2 answers on $URI but $LIBVIRTD_PID names no live libvirtd; is another daemon using $H/sock?"
  check_daemon "$pid" libvirtd
  missing=$(for name in "$NET" $(sed -n 's/.*{name: *\([^,}]*\),.*/\1/p' "$here/pools.yml"); do
              grep -qx "$name *" <<<"$active" || echo "$name"
            done)
  if [ "$sync" = 1 ] || [ -n "$missing" ]; then
    bridge=$(hv1_bridge)
    finish "$bridge"
  fi
  ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  echo "$me: hv2 already answering (libvirtd pid $pid in netns $NETNS)$(done_list); checked in ${ms} ms"
  exit 0
fi

start=$(date +%s%N)
bridge=$(hv1_bridge)
[ -e "/run/netns/$NETNS" ] || die "network namespace '$NETNS' does not exist; run tests/testbed/start_daemons.sh"

mkdir -p "$H"
chmod 0755 "$H"
# two runs at once (e.g. two `make setup`): the second waits, then finds hv2 up
exec 9>"$H/.lock"
flock -w "$WAIT" 9 || die "another $me holds $H/.lock for ${WAIT} s"
if [ -n "$(live_pid "$VIRTLOGD_PID" virtlogd)" ] && answers; then
  exec 9>&-
  finish "$bridge"
  echo "$me: hv2 was started meanwhile by another run (libvirtd pid $pid)"
  exit 0
fi

# 1. private folders (the host sees them; hv2 sees them at the usual paths)
mkdir -p "$H/run" "$H/lib" "$H/cache" "$H/log" "$H/sock" "$H/hv1-run" \
         /run/libvirt /var/lib/libvirt /var/cache/libvirt /var/log/libvirt
chmod 0755 "$H/run" "$H/lib" "$H/sock"
chmod 0700 "$H/log"
if [ ! -d "$H/etc" ]; then
  # a copy of hv1's configuration without its domains, networks and pools
  tmp=$H/etc.new.$$
  rm -rf "$tmp"
  cp -a /etc/libvirt "$tmp"
  find "$tmp/qemu" -maxdepth 1 -name '*.xml' -delete 2>/dev/null || true
  rm -rf "$tmp/qemu/autostart" "$tmp/qemu/networks" "$tmp/storage"
  mkdir -p "$tmp/qemu/autostart" "$tmp/qemu/networks/autostart" "$tmp/storage/autostart"
  mv "$tmp" "$H/etc"
  # hv1's probed QEMU capabilities are valid for hv2 (same binaries): no re-probe
  if [ -d /var/cache/libvirt/qemu/capabilities ] && [ ! -d "$H/cache/qemu/capabilities" ]; then
    mkdir -p "$H/cache/qemu"
    cp -a /var/cache/libvirt/qemu/capabilities "$H/cache/qemu/" 2>/dev/null || true
  fi
fi

# 2. host UUID of its own, kept; never hv1's
hv1_uuid=$(host_uuid_of "$HV1_URI")
uuid=$(tr -dc '0-9a-f-' 2>/dev/null <"$UUID_FILE" || true)
if [ "${#uuid}" -ne 36 ] || [ "$uuid" = "$hv1_uuid" ]; then
  uuid=$(cat /proc/sys/kernel/random/uuid)
  echo "$uuid" >"$UUID_FILE"
fi

# 3. hv2's settings, as a block at the end of the copied files (rewritten on
# every start; earlier active lines for the same keys are commented out)
set_block() {  # FILE KEYS_REGEX LINES...
  local file=$1 keys=$2
  shift 2
  [ -f "$file" ] || : >"$file"
  sed -i -E -e '/^# virtops hv2 begin/,/^# virtops hv2 end/d' \
            -e "s/^[[:space:]]*($keys)[[:space:]]*=/#&/" "$file"
  {
    echo "# virtops hv2 begin (written by tests/testbed/start_second_daemon.sh on every start)"
    printf '%s\n' "$@"
    echo "# virtops hv2 end"
  } >>"$file"
}
set_block "$H/etc/libvirtd.conf" 'unix_sock_dir|host_uuid|host_uuid_source' \
  "unix_sock_dir = \"$H/sock\"" \
  "host_uuid = \"$uuid\""
read -r port_min port_max <<<"$MIGRATION_PORTS"
set_block "$H/etc/qemu.conf" 'cgroup_controllers|migration_port_min|migration_port_max' \
  'cgroup_controllers = [ ]' \
  "migration_port_min = $port_min" \
  "migration_port_max = $port_max"

# 4. the daemons, in hv2's mount namespace (new, or the one a surviving daemon
# holds). The namespace lives as long as a daemon or a QEMU of hv2 runs in it.
# shellcheck disable=SC2016  # expanded by the inner shell
inner='
set -eu
H=$1 new_ns=$2 tini=$3 hv1_run=$4
if [ "$new_ns" = 1 ]; then
  mount --bind "$hv1_run" "$H/hv1-run"      # hv1 first, before hiding it
  mount --bind "$H/run" /run/libvirt
  mount --bind "$H/lib" /var/lib/libvirt
  mount --bind "$H/etc" /etc/libvirt
  mount --bind "$H/cache" /var/cache/libvirt
  mount --bind "$H/log" /var/log/libvirt
fi
if [ "$5" = 1 ]; then
  rm -f /run/libvirt/virtlogd-sock /run/libvirt/virtlogd-sock.lock /run/libvirt/virtlogd-admin-sock
  LIBVIRT_LOG_OUTPUTS="3:file:$H/log/virtlogd.log" virtlogd -d -p "$H/virtlogd.pid"
  i=0
  until [ -S /run/libvirt/virtlogd-sock ]; do
    i=$((i + 1)); [ "$i" -le 50 ] || { echo "virtlogd made no socket within 5 s" >&2; exit 3; }
    sleep 0.1
  done
fi
if [ "$6" = 1 ]; then
  rm -f "$H/sock/libvirt-sock" "$H/sock/libvirt-sock-ro" "$H/sock/libvirt-admin-sock"
  if [ "$tini" = 1 ]; then
    LIBVIRT_LOG_OUTPUTS="3:file:$H/log/libvirtd.log" \
      setsid -f tini -s -- libvirtd -p "$H/libvirtd.pid" </dev/null >>"$H/log/libvirtd.log" 2>&1
  else
    LIBVIRT_LOG_OUTPUTS="3:file:$H/log/libvirtd.log" libvirtd -d -p "$H/libvirtd.pid"
  fi
fi
'
started=()
lpid=$(live_pid "$LIBVIRTD_PID" libvirtd)
vpid=$(live_pid "$VIRTLOGD_PID" virtlogd)
need_vl=0; need_ld=0
[ -n "$vpid" ] || { need_vl=1; rm -f "$VIRTLOGD_PID"; started+=(virtlogd); }
if [ -z "$lpid" ]; then
  need_ld=1
  rm -f "$LIBVIRTD_PID"
else
  answers || echo "$me: hv2's libvirtd (pid $lpid) is running but not answering yet; waiting" >&2
fi
use_tini=0
if command -v tini >/dev/null 2>&1; then
  use_tini=1
  [ "$need_ld" = 0 ] || started+=("libvirtd (under tini -s)")
else
  echo "$me: warning: tini not found; guest stops on hv2 will be ~1.5 s slower (run install_system.sh)" >&2
  [ "$need_ld" = 0 ] || started+=(libvirtd)
fi
if [ "$need_vl$need_ld" != 00 ]; then
  holder=$(ns_holder)
  if [ -n "$holder" ]; then
    check_daemon "$holder" "hv2 daemon"
    nsenter -t "$holder" -m -n sh -c "$inner" sh "$H" 0 "$use_tini" "$HV1_RUN" "$need_vl" "$need_ld" 9>&- \
      || die "could not start hv2's daemons in the namespaces of pid $holder; see $VIRTLOGD_LOG and $LIBVIRTD_LOG"
  else
    ip netns exec "$NETNS" unshare -m --propagation private \
      sh -c "$inner" sh "$H" 1 "$use_tini" "$HV1_RUN" "$need_vl" "$need_ld" 9>&- \
      || die "could not start hv2's daemons in a new mount namespace in netns '$NETNS'; see $VIRTLOGD_LOG and $LIBVIRTD_LOG"
  fi
fi

# 5. answering within the deadline (the first call may wait for QEMU probing)
t_launch=$(date +%s)
deadline=$(( t_launch + WAIT ))
while :; do
  left=$(( deadline - $(date +%s) ))
  if [ "$left" -gt 0 ] && answers "$left"; then
    break
  fi
  if [ "$(date +%s)" -ge "$deadline" ]; then
    show_log
    die "hv2's libvirtd did not answer on $URI within ${WAIT} s"
  fi
  if [ $(( $(date +%s) - t_launch )) -ge 3 ] && [ -z "$(live_pid "$LIBVIRTD_PID" libvirtd)" ]; then
    show_log
    die "hv2's libvirtd exited during start-up"
  fi
  sleep 0.2
done
exec 9>&-

got=$(host_uuid_of "$URI")
[ "$got" = "$uuid" ] || die "hv2 reports host UUID '$got', not '$uuid' from $UUID_FILE; check $H/etc/libvirtd.conf"
[ "$got" != "$hv1_uuid" ] || die "hv2 has hv1's host UUID $got; libvirt would refuse migrations between them"

finish "$bridge"
ms=$(( ($(date +%s%N) - start) / 1000000 ))
echo "$me: started ${started[*]:-nothing} (libvirtd pid $pid in netns $NETNS, own mount namespace)$(done_list); answering after ${ms} ms"
echo "$me: URIs: host and hv1 -> hv2: $URI ; hv2 -> hv1: $HV1_FROM_HV2"
