"""Cloning a running domain from an external snapshot of it, on libvirt's test
driver: the snapshot is redefined as an external one (the driver takes none), with
the frozen image src.qcow2 in its <domain> while the domain now writes to an overlay."""

from __future__ import annotations

import libvirt
import pytest
from lxml import etree

from ansible_collections.virtops.libvirt.plugins.module_utils._clone.runner import CloneRequest, CloneRunner
from ansible_collections.virtops.libvirt.plugins.module_utils._core.errors import VirtOpsError

from .conftest import make_volume, redefine, source_xml, writes

OVERLAY_DISK = (
    "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='/default-pool/src.before'/><target dev='vda' bus='virtio'/></disk>"
    "<disk type='file' device='cdrom'><source file='/iso/install.iso'/><target dev='hdc' bus='ide'/><readonly/></disk>"
)


def take_external(domain, name: str = "before", vda: str = "external") -> None:
    """A snapshot as virt_snapshot kind=external leaves it: the disks of that moment in
    its <domain>, each writable one 'external' with its overlay file."""
    disks = f"<disk name='vda' snapshot='{vda}'>" + ("<source file='/default-pool/src.before'/>" if vda == "external" else "") + "</disk>"
    xml = (
        f"<domainsnapshot><name>{name}</name><state>running</state><creationTime>1700000000</creationTime>"
        f"<memory snapshot='no'/><disks>{disks}<disk name='hdc' snapshot='no'/></disks>{source_xml(uuid=domain.UUIDString())}</domainsnapshot>"
    )
    domain.snapshotCreateXML(xml, libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE)


@pytest.fixture
def snapshots(conn, source):
    """Domain 'src'; its snapshots' metadata is removed afterwards, so it can go."""
    yield source
    for domain in conn.listAllDomains(0):
        for snapshot in domain.listAllSnapshots(0):
            snapshot.delete(0)


@pytest.fixture
def running(conn, snapshots):
    """Domain 'src' running on an overlay above src.qcow2, with snapshot 'before'."""
    make_volume(conn, "src.before")
    redefine(conn, disks=OVERLAY_DISK)
    take_external(snapshots)
    snapshots.create()
    return snapshots


def clone(client, **options):
    return CloneRunner(client, CloneRequest(**{"name": "web2", "source": "src", "snapshot": "before", **options})).run()


def test_a_running_domain_is_cloned_from_the_image_its_snapshot_froze(conn, running, watched):
    predicted = CloneRunner(watched, CloneRequest(name="web2", source="src", snapshot="before", check_mode=True)).run()
    assert writes(watched) == []
    result = clone(watched)
    assert predicted["actions"] == result["actions"]
    assert result["disks"][0]["source"] == "/default-pool/src.qcow2" and result["disks"][0]["how"] == "copy"
    assert result["disks"][1]["how"] == "shared"
    sources = [element.get("file") for element in etree.fromstring(conn.lookupByName("web2").XMLDesc(0)).iterfind("devices/disk/source")]
    assert sources == ["/default-pool/web2-vda.qcow2", "/iso/install.iso"]
    assert running.isActive()
    again = clone(watched)
    assert not again["changed"]


def test_a_disk_left_out_of_the_snapshot_is_refused(conn, snapshots, client):
    make_volume(conn, "src.before")
    redefine(conn, disks=OVERLAY_DISK)
    take_external(snapshots, vda="internal")
    with pytest.raises(VirtOpsError, match="Disk vda of domain 'src' is in it as 'internal', not 'external'.*Nothing was made"):
        clone(client)
    assert "web2" not in [domain.name() for domain in conn.listAllDomains(0)]


def test_a_missing_snapshot_and_a_linked_clone_are_refused(client, running):
    with pytest.raises(VirtOpsError, match="has no snapshot named 'other'.*kind=external"):
        clone(client, snapshot="other")
    with pytest.raises(VirtOpsError, match="needs storage=copy"):
        clone(client, storage="linked")
