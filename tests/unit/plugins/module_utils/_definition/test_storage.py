"""remove_storage on libvirt's test driver (its pool 'default-pool' at /default-pool):
a volume goes only when no other domain, definition or volume uses it."""

from __future__ import annotations

import libvirt
import pytest

from ansible_collections.virtops.libvirt.plugins.module_utils._core import xml as dxml
from ansible_collections.virtops.libvirt.plugins.module_utils._definition import storage
from ansible_collections.virtops.libvirt.plugins.module_utils._definition.runner import (
    DefinitionRequest,
    DomainDefinition,
)

POOL = "/default-pool"
VOLUMES = ["own.img", "shared-path.img", "shared-pool.img", "live.img", "media.iso", "base.img", "overlay.qcow2", "base2.img", "overlay2.qcow2"]
BACKED = {"overlay.qcow2": "base.img", "overlay2.qcow2": "base2.img"}


def disk(source: str, target: str, extra: str = "", kind: str = "file", device: str = "disk") -> str:
    return f"<disk type='{kind}' device='{device}'>{source}<target dev='{target}'/>{extra}</disk>"


def domain_xml(name: str, *disks: str) -> str:
    return f"<domain type='test'><name>{name}</name><memory unit='MiB'>64</memory><os><type>hvm</type></os><devices>{''.join(disks)}</devices></domain>"


WEB1 = domain_xml(
    "web1",
    disk(f"<source file='{POOL}/own.img'/>", "vda"),
    disk(f"<source file='{POOL}/shared-path.img'/>", "vdb"),
    disk(f"<source file='{POOL}/shared-pool.img'/>", "vdc"),
    disk(f"<source file='{POOL}/live.img'/>", "vdd"),
    disk(f"<source file='{POOL}/media.iso'/>", "hdc", "<readonly/>", device="cdrom"),
    disk(f"<source file='{POOL}/base.img'/>", "vde"),
    disk(f"<source file='{POOL}/base2.img'/>", "vdf"),
    disk(f"<source file='{POOL}/overlay2.qcow2'/>", "vdg"),
    disk("<source file='/not/in/a/pool.img'/>", "vdh"),
)


@pytest.fixture
def shared(conn):
    """The volumes, web1, 'other' (inactive) naming two of web1's volumes (by a
    path written differently, and by pool and volume), and 'runner' (running)
    whose live definition alone names a third; overlay.qcow2 (nobody's) is backed
    by web1's base.img, overlay2.qcow2 (web1's) by web1's base2.img."""
    pool = conn.storagePoolLookupByName("default-pool")
    try:
        for name in VOLUMES:
            backing = f"<backingStore><path>{POOL}/{BACKED[name]}</path><format type='raw'/></backingStore>" if name in BACKED else ""
            pool.createXML(f"<volume><name>{name}</name><capacity unit='MiB'>1</capacity>{backing}</volume>", 0)
        conn.defineXML(WEB1)
        conn.defineXML(
            domain_xml(
                "other",
                disk(f"<source file='{POOL}/../default-pool//shared-path.img'/>", "vda"),
                disk("<source pool='default-pool' volume='shared-pool.img'/>", "vdb", kind="volume"),
            )
        )
        runner = conn.defineXML(domain_xml("runner", disk(f"<source file='{POOL}/live.img'/>", "vda")))
        runner.create()
        # the persistent definition no longer has it
        conn.defineXML(domain_xml("runner").replace("</name>", f"</name><uuid>{runner.UUIDString()}</uuid>"))
        yield pool
    finally:
        _clean(conn, pool)


def _clean(conn, pool):
    for domain in conn.listAllDomains(0):
        if domain.name() in ("web1", "other", "runner"):
            if domain.isActive():
                domain.destroy()
            domain.undefine()
    for volume in pool.listAllVolumes(0):
        if volume.name() in VOLUMES:
            volume.delete(0)


KEPT = [
    {"path": f"{POOL}/media.iso", "reason": storage.READ_ONLY_REASON},
    {"path": f"{POOL}/shared-path.img", "reason": "used by domain 'other'"},
    {"path": f"{POOL}/shared-pool.img", "reason": "used by domain 'other'"},
    {"path": f"{POOL}/live.img", "reason": "used by domain 'runner'"},
    {"path": f"{POOL}/base.img", "reason": f"the backing file of volume '{POOL}/overlay.qcow2'"},
]


def test_only_volumes_nothing_else_uses_are_planned(client, shared):
    domain = client.find("web1")
    root = dxml.parse_domain(domain.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
    plan = storage.plan(client, "web1", domain.UUIDString(), root)
    assert [volume.path for volume in plan.remove] == [f"{POOL}/own.img", f"{POOL}/base2.img", f"{POOL}/overlay2.qcow2"]
    assert plan.kept == KEPT


def test_a_kept_overlay_keeps_its_backing_file(client, shared, conn):
    conn.lookupByName("other").undefine()
    conn.defineXML(domain_xml("other", disk(f"<source file='{POOL}/overlay2.qcow2'/>", "vda")))
    domain = client.find("web1")
    plan = storage.plan(client, "web1", domain.UUIDString(), dxml.parse_domain(domain.XMLDesc(0)))
    assert [volume.path for volume in plan.remove] == [f"{POOL}/own.img", f"{POOL}/shared-path.img", f"{POOL}/shared-pool.img"]
    assert {entry["path"]: entry["reason"] for entry in plan.kept}[f"{POOL}/base2.img"] == f"the backing file of volume '{POOL}/overlay2.qcow2'"


def test_absent_deletes_only_what_it_may_and_says_why_in_check_mode_too(conn, shared):
    request = {"name": "web1", "state": "absent", "remove_storage": True}
    results = []
    for check_mode in (True, False):
        from ansible_collections.virtops.libvirt.plugins.module_utils._core.client import Connection

        with Connection("test:///default", timeout=None) as client:
            results.append(DomainDefinition(client, DefinitionRequest(**request, check_mode=check_mode)).run())
    predicted, removed = results
    gone = [f"{POOL}/own.img", f"{POOL}/base2.img", f"{POOL}/overlay2.qcow2"]
    assert predicted["removed_volumes"] == removed["removed_volumes"] == gone
    assert predicted["kept_volumes"] == removed["kept_volumes"] == KEPT
    left = sorted(volume.name() for volume in shared.listAllVolumes(0) if volume.name() in VOLUMES)
    assert left == sorted(set(VOLUMES) - {"own.img", "base2.img", "overlay2.qcow2"})
