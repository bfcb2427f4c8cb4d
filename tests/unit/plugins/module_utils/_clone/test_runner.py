"""virt_clone's plan and its making on libvirt's test driver: copy, linked and shared
disks, refused sources and disks, check mode writing nothing and predicting the
real run, a second run reading only, and a failure that removes what it made."""

from __future__ import annotations

import pytest
from lxml import etree

from ansible_collections.virtops.libvirt.plugins.module_utils._clone import runner
from ansible_collections.virtops.libvirt.plugins.module_utils._clone.runner import CloneRequest, CloneRunner
from ansible_collections.virtops.libvirt.plugins.module_utils._core.errors import VirtOpsError

from .conftest import POOL, SOURCE_MAC, make_volume, redefine, source_xml, writes


def clone(client, **options):
    return CloneRunner(client, CloneRequest(**{"name": "web2", "source": "src", **options})).run()


def refused(client, **options) -> str:
    with pytest.raises(VirtOpsError) as raised:
        clone(client, **options)
    return raised.value.msg


def volumes(conn) -> list[str]:
    return sorted(volume.name() for volume in conn.storagePoolLookupByName(POOL).listAllVolumes(0))


def definition(conn, name: str):
    return etree.fromstring(conn.lookupByName(name).XMLDesc(0))


def test_a_copy_has_its_own_identity_and_disk_and_shares_the_cdrom(conn, source, client):
    before = source.XMLDesc(0)
    result = clone(client)
    assert result["changed"] and result["actions"] == [
        "create volume 'web2-vda.qcow2' of storage pool 'default-pool', a qcow2 copy of /default-pool/src.qcow2 (1 MiB (1048576 bytes))",
        "define domain 'web2' (libvirt gives it a new UUID and new MAC addresses)",
    ]
    assert result["disks"] == [
        {
            "target": "vda",
            "how": "copy",
            "source": "/default-pool/src.qcow2",
            "clone": "/default-pool/web2-vda.qcow2",
            "pool": POOL,
            "volume": "web2-vda.qcow2",
            "reused": False,
        },
        {"target": "hdc", "how": "shared", "source": "/iso/install.iso", "clone": "/iso/install.iso", "pool": None, "volume": None, "reused": False},
    ]
    made = definition(conn, "web2")
    assert result["domain"] == {"name": "web2", "uuid": made.findtext("uuid")}
    assert made.findtext("uuid") != source.UUIDString()
    assert made.find("devices/interface/mac").get("address") not in (SOURCE_MAC, None)
    assert [disk.find("source").get("file") for disk in made.iterfind("devices/disk")] == ["/default-pool/web2-vda.qcow2", "/iso/install.iso"]
    assert volumes(conn) == ["src.qcow2", "web2-vda.qcow2"]
    assert source.XMLDesc(0) == before and result["nvram"] is None


def test_a_linked_clone_is_a_qcow2_overlay_of_the_source_image(conn, client):
    make_volume(conn, "base.img", fmt="raw", capacity=2 * 1024**2)
    disk = "<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='/default-pool/base.img'/><target dev='vda' bus='virtio'/></disk>"
    conn.defineXML(source_xml(disks=disk))
    try:
        result = clone(client, storage="linked")
        overlay = conn.storagePoolLookupByName(POOL).storageVolLookupByName("web2-vda.qcow2")
        described = etree.fromstring(overlay.XMLDesc(0))
        assert (described.findtext("backingStore/path"), described.find("backingStore/format").get("type")) == ("/default-pool/base.img", "raw")
        assert described.find("target/format").get("type") == "qcow2" and described.findtext("capacity") == str(2 * 1024**2)
        assert result["disks"][0]["how"] == "linked"
        assert definition(conn, "web2").find("devices/disk/driver").get("type") == "qcow2"  # the overlay's format, not the base's
    finally:
        for name in ("web2", "src"):
            conn.lookupByName(name).undefine()
        for volume in conn.storagePoolLookupByName(POOL).listAllVolumes(0):
            volume.delete(0)


def test_check_mode_writes_nothing_and_predicts_the_real_run(conn, source, watched):
    predicted = clone(watched, check_mode=True, diff_mode=True)
    assert writes(watched) == [] and volumes(conn) == ["src.qcow2"]
    assert predicted["domain"]["uuid"] is None
    made = clone(watched, diff_mode=True)
    for key in ("changed", "actions", "disks", "nvram", "diff"):
        assert predicted[key] == made[key], key
    after = predicted["diff"][0]["after"]
    assert "<name>web2</name>" in after and "<uuid>" not in after and SOURCE_MAC not in after and "/default-pool/web2-vda.qcow2" in after
    assert predicted["diff"][1]["after"] == "vda: copy of /default-pool/src.qcow2 -> /default-pool/web2-vda.qcow2\nhdc: shared /iso/install.iso\n"


def test_a_second_run_and_its_check_mode_read_only(conn, source, watched):
    first = clone(watched)
    watched.calls.clear()
    for check_mode in (True, False):
        again = clone(watched, check_mode=check_mode)
        assert (again["changed"], again["actions"], again["differences"]) == (False, [], [])
        assert again["domain"] == first["domain"] and again["disks"] == first["disks"]
    assert writes(watched) == []


def test_an_existing_clone_that_differs_is_reported_and_left_alone(conn, source, client):
    clone(client)
    uuid = source.UUIDString()
    conn.defineXML(source_xml(uuid=uuid).replace("<memory unit='MiB'>64</memory>", "<memory unit='MiB'>128</memory>"))
    clone_before = conn.lookupByName("web2").XMLDesc(0)
    again = clone(client)
    assert not again["changed"] and again["differences"] == [
        "/domain/memory: want '131072', have '65536'",
        "/domain/currentMemory: want '131072', have '65536'",
    ]
    assert "is never changed" in again["warnings"][0]
    assert conn.lookupByName("web2").XMLDesc(0) == clone_before


def test_a_writable_file_outside_every_pool_is_refused_naming_it(conn, source, client):
    disk = "<disk type='file' device='disk'><source file='/srv/loose.img'/><target dev='vdb' bus='virtio'/></disk>"
    redefine(conn, disks=disk)
    message = refused(client)
    assert "Disk vdb of domain 'src' (/srv/loose.img) is writable and is not a volume of an active storage pool" in message
    assert "virtops.libvirt.virt_pool" in message and "Nothing was made" in message
    assert conn.listAllDomains(0) and volumes(conn) == ["src.qcow2"]


def test_a_shareable_file_outside_every_pool_is_shared(conn, source, client):
    disk = "<disk type='file' device='disk'><source file='/srv/shared.img'/><target dev='vdb' bus='virtio'/><shareable/></disk>"
    redefine(conn, disks=disk)
    result = clone(client)
    assert [(disk["target"], disk["how"], disk["clone"]) for disk in result["disks"]] == [("vdb", "shared", "/srv/shared.img")]


@pytest.mark.parametrize("state", ["running", "paused"])
def test_a_source_that_runs_is_refused_and_nothing_is_made(conn, source, client, watched, state):
    source.create()
    if state == "paused":
        source.suspend()
    message = refused(watched)
    assert f"Domain 'src' (option source) is {state}" in message and "virt_power state=shutdown" in message and "virt_snapshot" in message
    assert writes(watched) == [] and volumes(conn) == ["src.qcow2"] and client.find("web2") is None


def test_names_refused_before_anything_is_made(conn, source, client):
    assert "both name domain 'src'" in refused(client, name="src")
    assert "No domain named 'missing' (option source)" in refused(client, source="missing")
    message = refused(client, name="-web")
    assert "'-web-vda.qcow2' is refused as the name of a volume" in message and "volume_names" in message
    assert "'a/b-vda.qcow2' is refused" in refused(client, name="a/b")
    assert "not copied or overlaid: vdz" in refused(client, volume_names={"vdz": "x.qcow2"})
    assert volumes(conn) == ["src.qcow2"] and [domain.name() for domain in conn.listAllDomains(0) if domain.name() != "test"] == ["src"]


def test_xml_characters_in_the_name_are_kept_as_they_are(conn, source, client):
    name = "web<&'\">2"
    result = clone(client, name=name)
    assert result["disks"][0]["volume"] == f"{name}-vda.qcow2"
    assert conn.lookupByName(name).name() == name
    assert f"{name}-vda.qcow2" in volumes(conn)


def test_volume_names_and_pool_place_the_clone_volumes(conn, source, client):
    result = clone(client, volume_names={"vda": "root.qcow2"})
    assert result["disks"][0]["volume"] == "root.qcow2" and volumes(conn) == ["root.qcow2", "src.qcow2"]
    message = refused(client, name="web3", pool="no-such-pool")
    assert "Storage pool 'no-such-pool' (option pool) is not defined" in message and client.find("web3") is None


def test_a_matching_volume_left_by_an_interrupted_run_is_reused_and_another_refused(conn, source, client):
    make_volume(conn, "web2-vda.qcow2")
    result = clone(client)
    assert result["disks"][0]["reused"] and result["actions"][0].startswith("reuse volume 'web2-vda.qcow2'")
    make_volume(conn, "web3-vda.qcow2", fmt="raw")
    message = refused(client, name="web3")
    assert "exists already" in message and "never overwritten" in message and client.find("web3") is None
    message = refused(client, name="web4", volume_names={"vda": "web2-vda.qcow2"})  # the first clone's own volume
    assert "used by domain 'web2'" in message


def test_a_failed_define_removes_the_volumes_it_made(conn, source, client, monkeypatch):
    def fail(self, root):
        raise VirtOpsError("libvirt refused the definition (made to fail by the test).")

    monkeypatch.setattr(runner.CloneRunner, "define", fail)
    with pytest.raises(VirtOpsError) as raised:
        clone(client)
    assert "This run removed what it had made: volume 'web2-vda.qcow2' of storage pool 'default-pool'." in raised.value.msg
    assert raised.value.result["changed"] is False
    assert volumes(conn) == ["src.qcow2"] and client.find("web2") is None


def test_the_source_applied_record_is_not_copied(conn, source, client):
    from ansible_collections.virtops.libvirt.plugins.module_utils._definition.runner import DefinitionRequest, DomainDefinition

    DomainDefinition(client, DefinitionRequest(name="src", xml=source_xml())).run()
    assert "virtopsapplied" in source.XMLDesc(0)
    clone(client)
    assert "virtopsapplied" not in conn.lookupByName("web2").XMLDesc(0)
