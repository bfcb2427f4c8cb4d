"""The plan alone (no libvirt): what present, absent and reverted decide, retain's
order and what it spares, and every refusal before anything is written."""

from __future__ import annotations

import pytest

from ansible_collections.virtops.libvirt.plugins.module_utils._core.errors import VirtOpsError
from ansible_collections.virtops.libvirt.plugins.module_utils._core.states import DomainStatus
from ansible_collections.virtops.libvirt.plugins.module_utils._snapshot.disks import Disk
from ansible_collections.virtops.libvirt.plugins.module_utils._snapshot.plan import Observed, SnapshotRequest, decide, descendants, diff
from ansible_collections.virtops.libvirt.plugins.module_utils._snapshot.read import Snapshot

VDA = Disk("vda", "disk", "qcow2", "/g/a.qcow2", False)
RAW = Disk("vdb", "disk", "raw", "/g/data.img", False)
NOFORMAT = Disk("vdc", "disk", None, "/g/other.img", False)
CDROM = Disk("hdc", "cdrom", "raw", "/g/seed.iso", True)
RUNNING = DomainStatus("running", "booted")
SHUTOFF = DomainStatus("shutoff", "shutdown")


def snap(name, epoch, parent=None, current=False, external=False):
    where = "external" if external else "internal"
    return Snapshot(name, parent=parent, creation_epoch=epoch, state="shutoff", disks=[{"name": "vda", "snapshot": where}], current=current)


def seen(*snapshots, status=SHUTOFF, disks=(VDA, CDROM), agent=None):
    return Observed(
        status=status, disks=list(disks), snapshots=list(snapshots), agent=agent, agent_error="QEMU guest agent is not configured" if agent is False else ""
    )


def request(**options):
    return SnapshotRequest(domain="web1", snapshot=options.pop("snapshot", "new"), **options)


def test_a_snapshot_of_a_running_domain_holds_its_memory():
    plan = decide(request(), seen(snap("old", 1, current=True), status=RUNNING))
    assert plan.changed and not plan.external
    assert plan.take.as_result() | {"creation_time": None} == {
        "name": "new",
        "parent": "old",
        "creation_time": None,
        "creation_epoch": None,
        "state": "running",
        "kind": "internal",
        "memory": True,
        "disks": [{"name": "vda", "snapshot": "internal"}, {"name": "hdc", "snapshot": "no"}],
        "description": None,
        "current": True,
    }


def test_an_existing_snapshot_is_no_change_whatever_its_kind():
    plan = decide(request(kind="external", snapshot="old"), seen(snap("old", 1, current=True)))
    assert not plan.changed


def test_a_different_description_or_current_redefines_it():
    old = snap("old", 1)
    old.description = "was"
    plan = decide(request(snapshot="old", description="now", current=True), seen(old, snap("other", 2, current=True)))
    assert (plan.changed, plan.update, plan.description, plan.make_current, plan.take) == (True, old, "now", True, None)
    assert decide(request(snapshot="old", description="was"), seen(old)).changed is False


def test_retain_prunes_oldest_first_and_spares_current_and_asked():
    snapshots = [snap("a", 1), snap("b", 2, current=True), snap("c", 3), snap("d", 4)]
    plan = decide(request(retain=2), seen(*snapshots))
    assert [snapshot.name for snapshot in plan.prune] == ["a", "b", "c"]  # the one taken is current then: d and it stay
    plan = decide(request(snapshot="c", retain=1), seen(*snapshots))
    assert [snapshot.name for snapshot in plan.prune] == ["a"]  # b current, c asked for, d the newest


def test_retain_never_prunes_external_snapshots_and_says_so():
    plan = decide(request(retain=1), seen(snap("ext", 1, external=True), snap("int", 2, current=True)))
    assert [snapshot.name for snapshot in plan.prune] == ["int"]
    assert "keeps the external snapshot(s) ext" in plan.warnings[0]


def test_retain_with_nothing_to_prune_is_no_change():
    plan = decide(request(snapshot="b", retain=5), seen(snap("a", 1), snap("b", 2, current=True)))
    assert (plan.changed, plan.prune) == (False, [])


def test_absent_with_children_removes_the_whole_subtree():
    snapshots = [snap("a", 1), snap("b", 2, parent="a"), snap("c", 3, parent="b"), snap("x", 4)]
    assert descendants(snapshots, "a") == ["b", "c"]
    plan = decide(request(state="absent", snapshot="a", children="delete"), seen(*snapshots))
    assert (plan.removed, plan.delete_children) == (["a", "b", "c"], True)
    assert decide(request(state="absent", snapshot="a"), seen(*snapshots)).removed == ["a"]
    assert not decide(request(state="absent", snapshot="gone"), seen(*snapshots)).changed


def test_revert_always_changes_and_shows_what_it_discards():
    target = snap("a", 1796095938)
    shown = diff(request(state="reverted", snapshot="a"), seen(target, status=RUNNING), plan := decide(request(state="reverted", snapshot="a"), seen(target)))
    assert plan.changed and plan.revert is target
    assert "discards" in shown["before"]["domain"] and "2026-12-01T03:32:18+00:00" in shown["after"]["domain"]


@pytest.mark.parametrize(
    ("options", "observed", "words"),
    [
        ({}, seen(disks=(VDA, RAW)), "vdb (/g/data.img) is raw"),
        ({}, seen(disks=(NOFORMAT,)), "vdc (/g/other.img) is raw (no format given)"),
        ({"memory": False}, seen(status=RUNNING), "only with its memory"),
        ({"quiesce": "required"}, seen(status=RUNNING), "only with kind=external"),
        ({"kind": "external", "memory": True}, seen(status=RUNNING), "disk-only"),
        ({"disks": ({"name": "vda", "file": "/o/x"},)}, seen(), "set kind=external"),
        ({"kind": "external", "disks": ({"name": "hdc", "file": "/o/x"},)}, seen(), "no writable disk 'hdc'"),
        ({"kind": "external", "disks": ({"name": "vda", "file": "rel/x"},)}, seen(), "absolute path"),
        (
            {"kind": "external", "quiesce": "required"},
            seen(status=RUNNING, agent=False),
            "QEMU guest agent does not answer (QEMU guest agent is not configured)",
        ),
        ({"state": "reverted", "snapshot": "gone"}, seen(snap("a", 1)), "no snapshot 'gone' to revert to (its snapshots: 'a')"),
        ({"state": "reverted", "snapshot": "e"}, seen(snap("e", 1, external=True)), "cannot revert to an external snapshot"),
    ],
)
def test_refusals_come_before_anything(options, observed, words):
    with pytest.raises(VirtOpsError) as refused:
        decide(request(**options), observed)
    assert words in refused.value.msg


def test_quiesce_where_the_agent_answers_and_go_on_without_when_allowed():
    answered = decide(request(kind="external", quiesce="required"), seen(status=RUNNING, agent=True))
    assert answered.quiesce and answered.external
    without = decide(request(kind="external", quiesce="if_possible"), seen(status=RUNNING, agent=False))
    assert not without.quiesce and "without freezing" in without.warnings[0]
    shut_off = decide(request(kind="external", quiesce="required"), seen())
    assert not shut_off.quiesce and shut_off.take.state == "shutoff"
    assert decide(request(kind="external"), seen(status=RUNNING)).take.state == "disk-snapshot"


def test_raw_disks_can_take_an_external_snapshot():
    plan = decide(request(kind="external"), seen(disks=(VDA, RAW, CDROM)))
    assert [disk["snapshot"] for disk in plan.take.disks] == ["external", "external", "no"]
