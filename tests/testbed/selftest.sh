#!/usr/bin/env bash
# End-to-end check of the test bed: packages, daemons, guest images, then a
# normal guest that must power off on an ACPI shutdown and a stubborn guest
# that must ignore it. Prints one summary line with the timings (~15 s).
# Env: VIRTOPS_SELFTEST_STUBBORN_WAIT (default 5 s), VIRTOPS_SELFTEST_SKIP_INSTALL=1.
set -euo pipefail

me=selftest.sh
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
URI=qemu:///system
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

echo "$me: OK: boot to acpid ${boot_ms} ms, ACPI shutdown to shut off ${off_ms} ms," \
     "stubborn guest ignored shutdown for ${STUBBORN_WAIT} s, destroy ${destroy_ms} ms"
