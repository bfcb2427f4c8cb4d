"""virt_volume's plan on libvirt's test driver: what is created, grown or refused,
that check mode writes nothing and predicts what the real run does, and that a
second run reads only."""

from __future__ import annotations

import pytest

from ansible_collections.virtops.libvirt.plugins.module_utils._core.errors import VirtOpsError
from ansible_collections.virtops.libvirt.plugins.module_utils._storage.volume_runner import VolumeRequest, VolumeRunner
from ansible_collections.virtops.libvirt.plugins.module_utils._storage.volumes import Source

from .helpers import POOL, writes

MiB = 1024**2


def run(client, **options):
    return VolumeRunner(client, VolumeRequest(**{"pool": POOL, "name": "disk.qcow2", **options})).run()


def refused(client, **options) -> str:
    with pytest.raises(VirtOpsError) as raised:
        run(client, **options)
    return raised.value.msg


def make(conn, name, capacity=MiB, fmt="qcow2", backing=""):
    pool = conn.storagePoolLookupByName(POOL)
    return pool.createXML(f"<volume><name>{name}</name><capacity>{capacity}</capacity><target><format type='{fmt}'/></target>{backing}</volume>", 0)


def test_check_mode_predicts_the_create_and_writes_nothing(storage, watched):
    predicted = run(watched, capacity=10 * MiB, check_mode=True, diff_mode=True)
    assert writes(watched) == [] and storage.listAllVolumes(0) == []
    created = run(watched, capacity=10 * MiB, diff_mode=True)
    assert predicted["changed"] and created["changed"]
    assert predicted["actions"] == created["actions"] == ["create a qcow2 volume of 10 MiB (10485760 bytes)"]
    assert predicted["diff"] == created["diff"]
    assert predicted["diff"]["before"] == {"state": "absent"}
    assert predicted["diff"]["after"] == {
        "state": "present",
        "path": "/default-pool/disk.qcow2",
        "format": "qcow2",
        "capacity": "10 MiB (10485760 bytes)",
        "backing": None,
    }
    for key in ("name", "pool", "path", "key", "format", "capacity", "backing"):
        assert predicted["volume"][key] == created["volume"][key], key
    assert created["volume"]["allocation"] is not None and predicted["volume"]["allocation"] is None


def test_a_second_run_and_its_check_mode_read_only(storage, watched):
    run(watched, capacity=10 * MiB)
    watched.calls.clear()
    for check_mode in (True, False):
        again = run(watched, capacity=10 * MiB, check_mode=check_mode, diff_mode=True)
        assert (again["changed"], again["actions"], again["diff"]["before"] == again["diff"]["after"]) == (False, [], True)
    assert writes(watched) == []


def test_capacity_is_required_to_create_an_empty_volume(storage, client):
    assert "option capacity is required" in refused(client)


def test_grow_is_planned_and_shown(storage, client, conn):
    make(conn, "disk.qcow2", MiB)
    grown = run(client, capacity=2 * MiB, check_mode=True, diff_mode=True)  # the test driver cannot resize: check mode only
    assert grown["changed"] and grown["actions"] == ["grow from 1 MiB (1048576 bytes) to 2 MiB (2097152 bytes)"]
    assert (grown["diff"]["before"]["capacity"], grown["diff"]["after"]["capacity"]) == ("1 MiB (1048576 bytes)", "2 MiB (2097152 bytes)")
    assert grown["volume"]["capacity"] == 2 * MiB


def test_a_smaller_capacity_is_refused_naming_both_sizes(storage, client, conn):
    make(conn, "disk.qcow2", 2 * MiB)
    msg = refused(client, capacity=MiB)
    assert "is 2 MiB (2097152 bytes); capacity=1 MiB (1048576 bytes) is smaller" in msg and "allow_shrink=true" in msg
    assert "only raw volumes are shrunk" in refused(client, capacity=MiB, allow_shrink=True)


def test_a_raw_volume_may_shrink_when_allowed(storage, client, conn):
    make(conn, "disk.qcow2", 2 * MiB, "raw")
    plan = run(client, format="raw", capacity=MiB, allow_shrink=True, check_mode=True)
    assert plan["actions"] == ["shrink from 2 MiB (2097152 bytes) to 1 MiB (1048576 bytes)"]


def test_another_format_is_an_error_never_a_conversion(storage, watched, conn):
    make(conn, "disk.qcow2", MiB, "raw")
    msg = refused(watched, capacity=MiB)
    assert "exists in format 'raw', not 'qcow2' (option format, qcow2 by default)" in msg and "never converted" in msg
    assert writes(watched) == []


def test_an_overlay_takes_the_format_and_size_of_its_base_from_libvirt(storage, client, conn):
    make(conn, "base.img", 3 * MiB, "raw")
    overlay = run(client, backing=Source(pool=POOL, volume="base.img"))
    assert overlay["volume"]["backing"] == {"path": "/default-pool/base.img", "format": "raw"}
    assert (overlay["volume"]["capacity"], overlay["volume"]["format"]) == (3 * MiB, "qcow2")
    assert run(client, backing=Source(path="/default-pool/base.img"))["changed"] is False
    assert "smaller than its backing volume" in refused(client, name="small.qcow2", backing=Source(pool=POOL, volume="base.img"), capacity=MiB)
    assert "format=raw cannot have a backing file" in refused(client, name="r.img", format="raw", backing=Source(pool=POOL, volume="base.img"))


def test_another_backing_file_is_an_error_never_a_rebase(storage, client, conn):
    make(conn, "base.img", MiB, "raw")
    make(conn, "other.img", MiB, "raw")
    make(conn, "disk.qcow2", MiB, backing="<backingStore><path>/default-pool/base.img</path><format type='raw'/></backingStore>")
    msg = refused(client, backing=Source(pool=POOL, volume="other.img"))
    assert "backing file '/default-pool/base.img', not '/default-pool/other.img'" in msg and "never re-based" in msg
    make(conn, "plain.qcow2", MiB)
    assert "backing file None" in refused(client, name="plain.qcow2", backing=Source(pool=POOL, volume="base.img"))


def test_a_missing_source_is_named(storage, client):
    assert "volume 'nope.img' of storage pool 'default-pool' does not exist" in refused(client, backing=Source(pool=POOL, volume="nope.img"))
    assert "there is no volume at '/nowhere/x.img'" in refused(client, clone_from=Source(path="/nowhere/x.img"))
    assert "Storage pool 'gone' (option backing.pool) is not defined" in refused(client, backing=Source(pool="gone", volume="x"))


def test_a_full_copy(storage, client, conn):
    make(conn, "base.img", 2 * MiB, "raw")
    copied = run(client, clone_from=Source(pool=POOL, volume="base.img"))
    assert copied["actions"] == ["create a qcow2 copy of /default-pool/base.img (2 MiB (2097152 bytes))"]
    assert (copied["volume"]["capacity"], copied["volume"]["backing"]) == (2 * MiB, None)
    assert run(client, clone_from=Source(pool=POOL, volume="base.img"))["changed"] is False
    assert "smaller than the volume it copies" in refused(client, name="c2.qcow2", clone_from=Source(pool=POOL, volume="base.img"), capacity=MiB)


def test_missing_and_inactive_pools_say_what_to_do(storage, client, conn):
    msg = refused(client, pool="nope", capacity=MiB)
    assert "Storage pool 'nope' (option pool) is not defined at URI 'test:///default'; create it with virtops.libvirt.virt_pool" in msg
    conn.storagePoolDefineXML("<pool type='dir'><name>idle</name><target><path>/idle</path></target></pool>", 0)
    msg = refused(client, pool="idle", capacity=MiB)
    assert "is defined but not active" in msg and "pool-start idle" in msg


def test_absent_deletes_and_a_missing_volume_is_no_change(storage, watched, conn):
    make(conn, "disk.qcow2")
    predicted = run(watched, state="absent", check_mode=True, diff_mode=True)
    assert writes(watched) == [] and predicted["diff"]["after"] == {"state": "absent"}
    removed = run(watched, state="absent")
    assert predicted["changed"] and removed["changed"] and removed["volume"]["path"] == "/default-pool/disk.qcow2"
    watched.calls.clear()
    again = run(watched, state="absent")
    assert (again["changed"], again["volume"], writes(watched)) == (False, None, [])
    gone = run(watched, pool="no-such-pool", state="absent")
    assert gone["changed"] is False and "not defined" in gone["warnings"][0]


def test_absent_refuses_a_backing_file_and_a_domain_disk_unless_forced(storage, watched, conn):
    make(conn, "base.img", MiB, "raw")
    make(conn, "overlay.qcow2", MiB, backing="<backingStore><path>/default-pool/base.img</path><format type='raw'/></backingStore>")
    make(conn, "disk.qcow2")
    conn.defineXML(
        "<domain type='test'><name>web1</name><memory unit='MiB'>64</memory><os><type>hvm</type></os><devices>"
        "<disk type='volume' device='disk'><source pool='default-pool' volume='disk.qcow2'/><target dev='vda'/></disk></devices></domain>"
    )
    msg = refused(watched, name="base.img", state="absent", check_mode=True)
    assert "is not deleted: it is the backing file of volume '/default-pool/overlay.qcow2'" in msg and "force=true" in msg
    assert "is not deleted: used by domain 'web1'" in refused(watched, state="absent")
    assert writes(watched) == []
    assert run(watched, state="absent", force=True)["changed"] is True
    assert "disk.qcow2" not in [volume.name() for volume in storage.listAllVolumes(0)]
