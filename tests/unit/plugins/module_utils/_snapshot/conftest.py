"""Snapshot tests run on libvirt's test driver, which takes, lists, reverts and
deletes internal snapshots in memory (it refuses disk-only ones; an external
snapshot's metadata can still be made there by redefining it, see ``external``)."""

from __future__ import annotations

import libvirt
import pytest

from ansible_collections.virtops.libvirt.plugins.module_utils._core.client import Connection

DOMAIN = "snapdom"
QCOW2_XML = """<domain type='test'>
  <name>{name}</name>
  <memory unit='MiB'>64</memory>
  <os><type>hvm</type></os>
  <devices>
    <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='/guest/{name}.qcow2'/><target dev='vda'/></disk>
    {extra}
  </devices>
</domain>"""
CDROM = "<disk type='file' device='cdrom'><driver name='qemu' type='raw'/><source file='/guest/seed.iso'/><target dev='hdc'/><readonly/></disk>"
RAW = "<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='/guest/data.img'/><target dev='vdb'/></disk>"


@pytest.fixture
def domain(conn):
    """A shut-off domain with a qcow2 disk and a read-only cdrom; every domain but the
    driver's own 'test' goes afterwards, with its snapshots."""
    made = conn.defineXML(QCOW2_XML.format(name=DOMAIN, extra=CDROM))
    yield made
    for other in conn.listAllDomains(0):
        for snapshot in other.listAllSnapshots(libvirt.VIR_DOMAIN_SNAPSHOT_LIST_ROOTS):
            snapshot.delete(libvirt.VIR_DOMAIN_SNAPSHOT_DELETE_CHILDREN)
        if other.name() != "test":
            if other.isActive():
                other.destroy()
            other.undefine()


@pytest.fixture
def make_snapshot(domain):
    """Take a snapshot of ``domain`` with libvirt itself, at a chosen creation time
    (redefined, so that the order of snapshots is known), internal or external."""

    def _make(name: str, epoch: int, external: bool = False, parent: str | None = None, current: bool = True):
        where = "external" if external else "internal"
        source = f"<source file='/guest/{name}.ovl'/>" if external else ""
        parent_xml = f"<parent><name>{parent}</name></parent>" if parent else ""
        xml = (
            f"<domainsnapshot><name>{name}</name><state>shutoff</state>{parent_xml}<creationTime>{epoch}</creationTime>"
            f"<memory snapshot='no'/><disks><disk name='vda' snapshot='{where}'>{source}</disk><disk name='hdc' snapshot='no'/></disks>"
            f"{domain.XMLDesc(0)}</domainsnapshot>"
        )
        flags = libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE | (libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_CURRENT if current else 0)
        return domain.snapshotCreateXML(xml, flags)

    return _make


@pytest.fixture
def watched(conn):
    """A Connection to test:///default that records the name of every libvirt function called."""
    connection = Connection("test:///default", timeout=None)
    connection.calls = []
    connection.observe = lambda func: connection.calls.append(func.__name__)
    yield connection
    connection.close()


WRITES = {"snapshotCreateXML", "delete", "revertToSnapshot"}


def writes(connection) -> list[str]:
    """The writing libvirt calls a Connection made."""
    return [name for name in connection.calls if name in WRITES]
