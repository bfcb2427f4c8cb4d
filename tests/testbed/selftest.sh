#!/usr/bin/env bash
# End-to-end check of the test bed: packages, daemons, guest images, then a
# normal guest that must power off on an ACPI shutdown and a stubborn guest
# that must ignore it, and the second hypervisor hv2 (answers, a host UUID of
# its own, network and pools active; no migration here). Prints one summary
# line with the timings (~15 s).
# Env: VIRTOPS_SELFTEST_STUBBORN_WAIT (default 5 s), VIRTOPS_SELFTEST_SKIP_INSTALL=1.
set -euo pipefail

me=selftest.sh
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
URI=qemu:///system
HV2_DIR=/var/lib/virtops/hv2
HV2_URI="qemu+unix:///system?socket=$HV2_DIR/sock/libvirt-sock"
PREFIX=tb-selftest-
N=${PREFIX}normal
S=${PREFIX}stubborn
STUBBORN_WAIT=${VIRTOPS_SELFTEST_STUBBORN_WAIT:-5}

die() { echo "$me: FAILED: $*" >&2; exit 1; }
guest() { python3 "$here/guest.py" --uri "$URI" "$@"; }
v() { virsh -q -c "$URI" "$@"; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
state() { v domstate "$1" 2>/dev/null | head -n1; }
wait_state() {  # NAME STATE TIMEOUT_S
  local deadline=$(( $(now_ms) + $3 * 1000 ))
  until [ "$(state "$1")" = "$2" ]; do
    [ "$(now_ms)" -lt "$deadline" ] || return 1
    sleep 0.05
  done
}

if [ "${VIRTOPS_SELFTEST_SKIP_INSTALL:-0}" != 1 ]; then
  "$here/install_system.sh" >/dev/null
fi
"$here/start_daemons.sh" >/dev/null
"$here/start_network.sh" >/dev/null
"$here/start_second_daemon.sh" >/dev/null
"$here/build_guest.sh" >/dev/null

trap 'guest cleanup --prefix "$PREFIX" >/dev/null 2>&1 || true' EXIT
guest cleanup --prefix "$PREFIX" >/dev/null
guest define "$N" >/dev/null
guest define "$S" --variant stubborn >/dev/null

t0=$(now_ms)
v start "$N" >/dev/null
guest wait-log "$N" "acpid started" --timeout 60 || die "normal guest did not boot"
boot_ms=$(( $(now_ms) - t0 ))
t0=$(now_ms)
v shutdown "$N" >/dev/null
wait_state "$N" "shut off" 20 || die "normal guest did not power off on ACPI shutdown"
off_ms=$(( $(now_ms) - t0 ))

v start "$S" >/dev/null
guest wait-log "$S" "acpid disabled" --timeout 60 || die "stubborn guest did not boot"
v shutdown "$S" >/dev/null
sleep "$STUBBORN_WAIT"
[ "$(state "$S")" = running ] || die "stubborn guest did not stay running after shutdown (state: $(state "$S"))"
t0=$(now_ms)
v destroy "$S" >/dev/null
destroy_ms=$(( $(now_ms) - t0 ))

# hv2: answers, is not hv1 (libvirt refuses to migrate to a host with the same
# UUID), and has what a migrated guest needs active
t0=$(now_ms)
host_uuid() { virsh -q -c "$1" capabilities | sed -n 's:.*<uuid>\(.*\)</uuid>.*:\1:p' | head -n1; }
u1=$(host_uuid "$URI")
u2=$(host_uuid "$HV2_URI") || die "hv2 does not answer on $HV2_URI"
if [ -z "$u2" ] || [ "$u2" = "$u1" ]; then
  die "hv2's host UUID '$u2' is empty or hv1's ($u1); see $HV2_DIR/host_uuid"
fi
active=$(virsh -q -c "$HV2_URI" 'net-list --name; pool-list --name')
for name in default virtops-images virtops-vms; do
  grep -qx "$name *" <<<"$active" || die "hv2 has no active network or pool '$name' (start_second_daemon.sh)"
done
virsh -q -c "$HV2_URI" net-dumpxml default | grep -q "<forward mode='bridge'" \
  || die "hv2's network 'default' is not forward mode='bridge'"
hv2_ms=$(( $(now_ms) - t0 ))

echo "$me: OK: boot to acpid ${boot_ms} ms, ACPI shutdown to shut off ${off_ms} ms," \
     "stubborn guest ignored shutdown for ${STUBBORN_WAIT} s, destroy ${destroy_ms} ms," \
     "hv2 checked in ${hv2_ms} ms"
