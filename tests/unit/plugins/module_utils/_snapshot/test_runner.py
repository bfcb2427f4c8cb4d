"""SnapshotRunner on the test driver: check mode writes nothing, a second run writes
nothing, retain deletes oldest first, absent keeps or deletes children, revert brings
back the captured state, and hostile names reach libvirt intact."""

from __future__ import annotations

import pytest

from ansible_collections.virtops.libvirt.plugins.module_utils._core.errors import VirtOpsError
from ansible_collections.virtops.libvirt.plugins.module_utils._snapshot.plan import SnapshotRequest
from ansible_collections.virtops.libvirt.plugins.module_utils._snapshot.runner import SnapshotRunner

from .conftest import DOMAIN, writes


def run(connection, check_mode=False, **options):
    options.setdefault("snapshot", "s1")
    return SnapshotRunner(connection, SnapshotRequest(domain=DOMAIN, **options), check_mode).run()


def names(domain):
    return sorted(snapshot.getName() for snapshot in domain.listAllSnapshots(0))


def test_check_mode_apply_check_mode_apply(watched, domain):
    predicted = run(watched, check_mode=True, description="first")
    assert (predicted["changed"], predicted["snapshot"]["name"], predicted["snapshot"]["creation_time"], writes(watched)) == (True, "s1", None, [])
    assert names(domain) == []
    taken = run(watched, description="first")
    assert taken["changed"] and taken["snapshot"]["description"] == "first" and taken["snapshot"]["creation_time"]
    assert [snapshot["name"] for snapshot in taken["snapshots"]] == ["s1"]
    watched.calls.clear()
    assert run(watched, check_mode=True, description="first")["changed"] is False
    again = run(watched, description="first")
    assert (again["changed"], writes(watched)) == (False, [])
    assert again["snapshot"] == taken["snapshot"]


def test_running_domain_snapshot_holds_memory_and_revert_brings_it_back(client, domain):
    domain.create()
    taken = run(client)
    assert (taken["snapshot"]["state"], taken["snapshot"]["memory"]) == ("running", True)
    domain.destroy()
    reverted = run(client, state="reverted")
    assert reverted["changed"] and reverted["domain_state"] == "running" and domain.isActive()
    assert run(client, state="reverted")["changed"] is True  # always: nothing proves the disks unchanged


def test_revert_of_a_shut_off_snapshot_stops_a_running_domain(client, domain):
    run(client)
    domain.create()
    reverted = run(client, state="reverted")
    assert reverted["domain_state"] == "shutoff" and not domain.isActive()


def test_retain_deletes_oldest_first_and_check_mode_lists_them(watched, domain, make_snapshot):
    for index, name in enumerate(["a", "b", "c"], 1):
        make_snapshot(name, index * 100, parent=None if name == "a" else chr(ord(name) - 1))
    predicted = run(watched, check_mode=True, snapshot="d", retain=2)
    assert (predicted["pruned"], writes(watched), names(domain)) == (["a", "b"], [], ["a", "b", "c"])
    pruned = run(watched, snapshot="d", retain=2)
    assert pruned["pruned"] == ["a", "b"] and [snapshot["name"] for snapshot in pruned["snapshots"]] == ["c", "d"]
    assert pruned["diff"]["after"]["snapshots"] == ["c", "d"]
    watched.calls.clear()
    assert (run(watched, snapshot="d", retain=2)["changed"], writes(watched)) == (False, [])


def test_absent_keeps_or_deletes_children(client, domain, make_snapshot):
    make_snapshot("a", 100)
    make_snapshot("b", 200, parent="a")
    make_snapshot("c", 300, parent="b")
    kept = run(client, state="absent", snapshot="b")
    assert (kept["removed"], names(domain), kept["snapshot"]) == (["b"], ["a", "c"], None)
    assert next(snapshot for snapshot in kept["snapshots"] if snapshot["name"] == "c")["parent"] == "a"
    gone = run(client, state="absent", snapshot="a", children="delete")
    assert (gone["removed"], names(domain)) == (["a", "c"], [])
    assert run(client, state="absent", snapshot="a")["changed"] is False


def test_description_is_updated_in_place_and_current_is_moved(client, domain, make_snapshot):
    make_snapshot("a", 100)
    make_snapshot("b", 200, parent="a")
    predicted = run(client, check_mode=True, snapshot="a", description="new <text> & more", current=True)
    assert (predicted["snapshot"]["description"], predicted["snapshot"]["current"]) == ("new <text> & more", True)
    assert client.call("read", domain.snapshotCurrent, 0).getName() == "b"
    updated = run(client, snapshot="a", description="new <text> & more", current=True)
    assert updated["changed"] and updated["diff"]["after"]["description"] == "new <text> & more"
    assert (updated["snapshot"]["description"], updated["snapshot"]["current"], updated["snapshot"]["creation_epoch"]) == ("new <text> & more", True, 100)
    assert names(domain) == ["a", "b"]


@pytest.mark.parametrize("name", ["x</name><name>y", "a&b 'c' \"d\"", " blanks ", "ünï ✓"])
def test_hostile_names_reach_libvirt_intact(client, domain, name):
    taken = run(client, snapshot=name, description="<b>&amp;</b>")
    assert taken["snapshot"]["name"] == name and names(domain) == [name]
    assert taken["snapshot"]["description"] == "<b>&amp;</b>"
    assert run(client, snapshot=name, state="absent")["changed"] is True


def test_an_external_snapshot_is_not_reverted(watched, domain, make_snapshot):
    make_snapshot("ext", 100, external=True)
    with pytest.raises(VirtOpsError, match="libvirt 9.0 cannot revert to an external snapshot"):
        run(watched, snapshot="ext", state="reverted")
    assert writes(watched) == []


def test_a_raw_disk_refuses_an_internal_snapshot(conn, client, domain):
    conn.defineXML(domain.XMLDesc(0).replace("type='qcow2'", "type='raw'"))
    with pytest.raises(VirtOpsError, match="vda \\(/guest/snapdom.qcow2\\) is raw"):
        run(client)
    assert domain.snapshotNum(0) == 0


def test_a_missing_domain(client):
    with pytest.raises(VirtOpsError, match="No domain named 'snapdom'"):
        run(client)


def test_the_test_driver_has_no_guest_agent_so_quiesce_required_fails_and_if_possible_warns(client, domain):
    domain.create()
    with pytest.raises(VirtOpsError, match="does not answer"):
        run(client, kind="external", quiesce="required", check_mode=True)
    predicted = run(client, kind="external", quiesce="if_possible", check_mode=True)
    assert predicted["quiesced"] is False and "without freezing" in predicted["warnings"][0]
    assert domain.snapshotNum(0) == 0


def test_virt_domain_state_absent_refuses_a_domain_with_snapshots(client, domain):
    from ansible_collections.virtops.libvirt.plugins.module_utils._definition.runner import DefinitionRequest, DomainDefinition

    run(client)
    with pytest.raises(VirtOpsError, match="has 1 snapshot"):
        DomainDefinition(client, DefinitionRequest(name=DOMAIN, state="absent")).run()
    assert domain.snapshotNum(0) == 1
