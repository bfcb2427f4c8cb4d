"""virt_snapshot on the real daemon (qemu:///system), through playbooks and ad-hoc
commands as users run it.

The cases here use the tiny busybox guest (tests/testbed/guest.py) given a qcow2 data
disk made with qemu-img in a folder of its own under /var/lib/virtops. The case on a
real Debian guest, where a file written, snapshotted with the memory, changed and
reverted must be back, runs in test_journey.py on the journey's VMs (a Debian boot
costs ~45 s of TCG CPU; they are booted anyway).
Every domain, snapshot and file made here is removed afterwards, whatever happens.
"""

from __future__ import annotations

import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
from test_storage import adhoc, four_times
from virt_harness import URI, Guests, domstate, guest_tool, playbook, virsh

WORK = Path("/var/lib/virtops")


def snapshot_task(domain: str, snapshot: str, **options) -> dict:
    return {"name": f"virt_snapshot {snapshot}", "virtops.libvirt.virt_snapshot": {"uri": URI, "name": domain, "snapshot": snapshot, **options}}


def snapshot_names(domain: str) -> list[str]:
    """virsh's list, oldest first (virsh sorts by name: the order is taken from creation times)."""
    lines = virsh("snapshot-list", domain, "--name", "--topological").splitlines()
    return [line for line in lines if line.strip()]


def settles(results: list[dict]) -> None:
    predicted, applied, check_again, again = results
    assert predicted["changed"] and applied["changed"], (predicted, applied)
    assert predicted["diff"] == applied["diff"]
    assert (check_again["changed"], again["changed"]) == (False, False), (check_again, again)


@pytest.fixture
def tiny(tmp_path):
    """Make tiny guests with a qcow2 data disk (vda) in a folder of their own; all go afterwards."""
    made = Guests()
    folder = WORK / f"snp-{uuid.uuid4().hex[:8]}"
    folder.mkdir(mode=0o755)

    def _make(disk_format: str = "qcow2") -> str:
        made.count += 1
        name = f"{made.prefix}{made.count}"
        disk = folder / f"{name}.{disk_format}"
        subprocess.run(["qemu-img", "create", "-q", "-f", disk_format, str(disk), "16M"], check=True)
        disk.chmod(0o666)
        xml = guest_tool("xml", name, "--variant", "normal", "--tb-cache-mib", "32")
        device = (
            f"<disk type='file' device='disk'><driver name='qemu' type='{disk_format}'/><source file='{disk}'/><target dev='vda' bus='virtio'/></disk>\n    "
        )
        path = tmp_path / f"{name}.xml"
        path.write_text(xml.replace("<controller type='usb'", device + "<controller type='usb'", 1))
        virsh("define", str(path))
        return name

    _make.folder = folder  # type: ignore[attr-defined]
    _make.guests = made  # type: ignore[attr-defined]
    yield _make
    made.cleanup()  # undefines with --snapshots-metadata
    shutil.rmtree(folder, ignore_errors=True)


def boot(tiny, name: str) -> None:
    virsh("start", name)
    tiny.guests.wait_ready(name)


def test_internal_snapshot_of_a_shut_off_domain(tiny, tmp_path):
    name = tiny()
    results = playbook(four_times(snapshot_task(name, "first", description="before <anything> & more")), tmp_path, diff=True)
    settles(results)
    taken = results[1]["snapshot"]
    assert (taken["state"], taken["kind"], taken["memory"], taken["description"], taken["current"]) == (
        "shutoff",
        "internal",
        False,
        "before <anything> & more",
        True,
    )
    assert results[0]["diff"] == {"before": {"snapshots": [], "current": None}, "after": {"snapshots": ["first"], "current": "first"}}
    assert snapshot_names(name) == ["first"]
    info = subprocess.run(["qemu-img", "snapshot", "-U", "-l", str(tiny.folder / f"{name}.qcow2")], capture_output=True, text=True, check=True)
    assert "first" in info.stdout  # inside the qcow2 image


def test_a_raw_disk_is_refused_naming_it(tiny):
    name = tiny("raw")
    refused, _output = adhoc("virt_snapshot", {"name": name, "snapshot": "s"})
    assert refused["failed"] and f"vda ({tiny.folder}/{name}.raw) is raw" in refused["msg"], refused["msg"]
    assert snapshot_names(name) == []


def test_running_domain_with_memory_reverts_running(tiny, tmp_path):
    name = tiny()
    boot(tiny, name)
    taken, _output = adhoc("virt_snapshot", {"name": name, "snapshot": "live"})
    assert (taken["snapshot"]["state"], taken["snapshot"]["memory"], taken["domain_state"]) == ("running", True, "running"), taken
    virsh("destroy", name)
    revert = snapshot_task(name, "live", state="reverted")
    predicted, reverted = playbook([{**revert, "check_mode": True}, revert], tmp_path, diff=True)
    assert predicted["changed"] and predicted["domain_state"] == "shutoff"
    assert reverted["changed"] and reverted["domain_state"] == "running"
    assert domstate(name) == "running"
    # Reverting the running domain discards its present state: the diff says so.
    again, output = adhoc("virt_snapshot", {"name": name, "snapshot": "live", "state": "reverted"}, "--diff")
    assert again["changed"] and "which the revert discards" in output and domstate(name) == "running"


def test_retain_prunes_oldest_first(tiny, tmp_path):
    name = tiny()
    playbook([snapshot_task(name, snapshot) for snapshot in ("s1", "s2", "s3")], tmp_path)
    results = playbook(four_times(snapshot_task(name, "s4", retain=2)), tmp_path, diff=True)
    settles(results)
    assert (results[0]["pruned"], results[1]["pruned"], results[3]["pruned"]) == (["s1", "s2"], ["s1", "s2"], [])
    assert [snapshot["name"] for snapshot in results[1]["snapshots"]] == ["s3", "s4"]
    assert snapshot_names(name) == ["s3", "s4"]


def test_absent_keeps_or_deletes_children(tiny, tmp_path):
    name = tiny()
    playbook([snapshot_task(name, snapshot) for snapshot in ("a", "b", "c")], tmp_path)
    keep = snapshot_task(name, "b", state="absent")
    results = playbook(four_times(keep), tmp_path, diff=True)
    settles(results)
    assert snapshot_names(name) == ["a", "c"] and virsh("snapshot-parent", name, "c") == "a"
    gone = playbook([snapshot_task(name, "a", state="absent", children="delete")], tmp_path)[0]
    assert gone["removed"] == ["a", "c"] and snapshot_names(name) == []


def test_external_disk_only_quiesce_and_the_refused_revert(tiny, tmp_path):
    name = tiny()
    boot(tiny, name)
    overlay = tiny.folder / f"{name}-ext.qcow2"
    external = {"name": name, "snapshot": "ext", "kind": "external", "disks": [{"name": "vda", "file": str(overlay)}]}
    required, _output = adhoc("virt_snapshot", {**external, "quiesce": "required"})
    assert required["failed"] and "QEMU guest agent does not answer" in required["msg"] and "quiesce=if_possible" in required["msg"], required["msg"]
    assert snapshot_names(name) == [] and not overlay.exists()
    taken, output = adhoc("virt_snapshot", {**external, "quiesce": "if_possible"})
    assert taken["changed"] and taken["quiesced"] is False and "without freezing" in output, output
    assert (taken["snapshot"]["kind"], taken["snapshot"]["state"]) == ("external", "disk-snapshot")
    assert overlay.exists() and str(overlay) in virsh("domblklist", name)
    refused, _output = adhoc("virt_snapshot", {"name": name, "snapshot": "ext", "state": "reverted"})
    assert refused["failed"] and "libvirt 9.0 cannot revert to an external snapshot" in refused["msg"], refused["msg"]
    assert domstate(name) == "running" and str(overlay) in virsh("domblklist", name)
    # The newest of its chain, with no parent: libvirt 9.0 merges the overlay into its backing file, then removes it.
    deleted, output = adhoc("virt_snapshot", {"name": name, "snapshot": "ext", "state": "absent"})
    assert deleted["changed"] and deleted["removed"] == ["ext"], output
    assert snapshot_names(name) == [] and str(overlay) not in virsh("domblklist", name)
    assert not overlay.exists()  # merged into vda's image first: libvirt removes an overlay it has committed


def test_an_external_snapshot_libvirt_cannot_delete_is_explained(tiny, tmp_path):
    name = tiny()
    playbook([snapshot_task(name, "base"), snapshot_task(name, "ext", kind="external")], tmp_path)
    refused, _output = adhoc("virt_snapshot", {"name": name, "snapshot": "ext", "state": "absent"})
    assert refused["failed"] and "libvirt cannot delete snapshot 'ext'" in refused["msg"] and "overlay files are as they were" in refused["msg"], refused
    assert snapshot_names(name) == ["base", "ext"]


def test_virt_domain_refuses_to_remove_a_domain_with_snapshots(tiny):
    name = tiny()
    adhoc("virt_snapshot", {"name": name, "snapshot": "keepme"})
    refused, _output = adhoc("virt_domain", {"name": name, "state": "absent"})
    assert refused["failed"] and "has 1 snapshot(s); it is not removed" in refused["msg"] and "remove_snapshots_metadata=true" in refused["msg"], refused
    assert snapshot_names(name) == ["keepme"]


def test_virt_domain_info_lists_the_snapshots(tiny):
    name = tiny()
    adhoc("virt_snapshot", {"name": name, "snapshot": "one"})
    info, _output = adhoc("virt_domain_info", {"name": name, "snapshots": True})
    assert info["domains"][0]["snapshots"] == [{"name": "one", "current": True}]
