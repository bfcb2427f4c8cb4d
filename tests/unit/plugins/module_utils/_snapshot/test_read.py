"""Reading snapshots from the test driver: order, kind, the result shape, the cheap summary."""

from __future__ import annotations

from ansible_collections.virtops.libvirt.plugins.module_utils._snapshot import read


def test_oldest_first_by_creation_time_then_parents_first(client, domain, make_snapshot):
    make_snapshot("root", 200)
    make_snapshot("newest", 300, parent="root")
    make_snapshot("same-second-child", 200, parent="root")
    names = [snapshot.name for snapshot in read.read_all(client, domain, domain.name())]
    assert names == ["root", "same-second-child", "newest"]


def test_the_result_of_a_snapshot(client, domain, make_snapshot):
    make_snapshot("base", 1796095938)
    make_snapshot("ext", 1796095999, external=True, parent="base")
    base, ext = read.read_all(client, domain, domain.name())
    assert base.as_result() == {
        "name": "base",
        "parent": None,
        "creation_time": "2026-12-01T03:32:18+00:00",
        "creation_epoch": 1796095938,
        "state": "shutoff",
        "kind": "internal",
        "memory": False,
        "disks": [{"name": "vda", "snapshot": "internal"}, {"name": "hdc", "snapshot": "no"}],
        "description": None,
        "current": False,
    }
    assert (ext.kind, ext.parent, ext.current) == ("external", "base", True)


def test_summary_names_and_current_without_reading_each_snapshot(watched, domain, make_snapshot):
    assert read.summary(watched, domain, domain.name()) == []
    make_snapshot("a", 100)
    make_snapshot("b", 200, parent="a", current=False)
    watched.calls.clear()
    assert read.summary(watched, domain, domain.name()) == [{"name": "a", "current": True}, {"name": "b", "current": False}]
    assert "getXMLDesc" not in watched.calls


def test_no_current_snapshot_is_none(client, domain):
    assert read.current_name(client, domain, domain.name()) is None
