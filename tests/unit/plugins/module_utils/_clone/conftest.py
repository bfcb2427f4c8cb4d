"""Clone tests run on libvirt's test driver: its pool 'default-pool' (a dir pool at
/default-pool, nothing on disk; createXMLFrom and overlays work in memory) holds the
source's images, and a source domain 'src' has a qcow2 disk, a cdrom and a NIC.
Everything is removed after each test."""

from __future__ import annotations

import pytest

# The storage tests' Connection that records every libvirt function called (a fixture, used by name).
from _storage.conftest import watched  # noqa: F401  # pylint: disable=unused-import

POOL = "default-pool"
SOURCE_MAC = "52:54:00:11:22:33"
# libvirt calls that write; a check-mode or no-op run makes none of them.
WRITES = {"createXML", "createXMLFrom", "delete", "upload", "defineXML", "defineXMLFlags", "setMetadata", "create", "destroy", "undefine", "undefineFlags"}


def source_xml(name: str = "src", disks: str = "", os_extra: str = "", devices: str = "", uuid: str = "") -> str:
    disks = disks or (
        "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='/default-pool/src.qcow2'/><target dev='vda' bus='virtio'/></disk>"
        "<disk type='file' device='cdrom'><source file='/iso/install.iso'/><target dev='hdc' bus='ide'/><readonly/></disk>"
    )
    return (
        f"<domain type='test'><name>{name}</name>{f'<uuid>{uuid}</uuid>' if uuid else ''}<memory unit='MiB'>64</memory>"
        f"<os><type>hvm</type>{os_extra}</os><devices>{disks}"
        f"<interface type='network'><mac address='{SOURCE_MAC}'/><source network='default'/></interface>{devices}</devices></domain>"
    )


def make_volume(conn, name: str = "src.qcow2", fmt: str = "qcow2", capacity: int = 1024**2):
    pool = conn.storagePoolLookupByName(POOL)
    return pool.createXML(f"<volume><name>{name}</name><capacity>{capacity}</capacity><target><format type='{fmt}'/></target></volume>", 0)


def redefine(conn, **parts):
    """Define domain 'src' again, its UUID kept, with ``parts`` of source_xml()."""
    return conn.defineXML(source_xml(uuid=conn.lookupByName("src").UUIDString(), **parts))


def writes(connection) -> list[str]:
    return [name for name in connection.calls if name in WRITES]


@pytest.fixture
def source(conn):
    """Domain 'src' (shut off) with its disk volume src.qcow2; everything made is removed afterwards."""
    make_volume(conn)
    domain = conn.defineXML(source_xml())
    yield domain
    for other in conn.listAllDomains(0):
        if other.name() != "test":
            if other.isActive():
                other.destroy()
            other.undefine()
    pool = conn.storagePoolLookupByName(POOL)
    for volume in pool.listAllVolumes(0):
        volume.delete(0)
