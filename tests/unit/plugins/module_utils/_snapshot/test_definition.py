"""The snapshot XML handed to libvirt: escaped, disk-only when external, changed only where asked."""

from __future__ import annotations

from lxml import etree

from ansible_collections.virtops.libvirt.plugins.module_utils._snapshot import definition
from ansible_collections.virtops.libvirt.plugins.module_utils._snapshot.disks import Disk

VDA = Disk("vda", "disk", "qcow2", "/g/a.qcow2", False)
CDROM = Disk("hdc", "cdrom", "raw", "/g/seed.iso", True)


def test_hostile_text_is_escaped_and_round_trips():
    name, description = "x</name><name>y&amp;'\"", "<description>&entity;</description>"
    root = etree.fromstring(definition.new_snapshot(name, description, False, [VDA], {}))
    assert (root.findtext("name"), root.findtext("description"), len(root)) == (name, description, 2)


def test_an_external_snapshot_is_disk_only_and_leaves_read_only_disks_out():
    root = etree.fromstring(definition.new_snapshot("n", None, True, [VDA, CDROM], {"vda": "/o/vda.qcow2"}))
    assert root.find("memory").get("snapshot") == "no"
    disks = [(disk.get("name"), disk.get("snapshot"), disk.findtext("source") or disk.find("source")) for disk in root.iterfind("disks/disk")]
    assert [(name, where) for name, where, _source in disks] == [("vda", "external"), ("hdc", "no")]
    assert root.find("disks/disk/source").get("file") == "/o/vda.qcow2"


def test_a_redefinition_changes_only_the_description():
    text = "<domainsnapshot><name>n</name><state>running</state><creationTime>5</creationTime></domainsnapshot>"
    root = etree.fromstring(definition.redefined(text, "new <one>"))
    assert [child.tag for child in root] == ["name", "description", "state", "creationTime"]
    assert root.findtext("description") == "new <one>"
    assert definition.redefined(text, None) == text
