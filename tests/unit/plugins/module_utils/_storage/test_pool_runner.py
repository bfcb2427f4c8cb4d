"""virt_pool's plan on libvirt's test driver: a pool is defined, built, started and
set to autostart once; its target is never changed; absent only undefines."""

from __future__ import annotations

import pytest

from ansible_collections.virtops.libvirt.plugins.module_utils._core.errors import VirtOpsError
from ansible_collections.virtops.libvirt.plugins.module_utils._storage.pool_runner import PoolRequest, PoolRunner

from .helpers import writes


def run(client, **options):
    return PoolRunner(client, PoolRequest(**{"name": "images", "path": "/images", **options})).run()


def test_create_in_check_mode_then_for_real_then_nothing_to_do(storage, watched, conn):
    predicted = run(watched, check_mode=True, diff_mode=True)
    assert writes(watched) == [] and "images" not in [pool.name() for pool in conn.listAllStoragePools(0)]
    made = run(watched, diff_mode=True)
    assert predicted["actions"] == made["actions"] == ["define", "build and start", "set autostart"]
    assert predicted["diff"] == made["diff"]
    assert made["diff"]["after"] == {"state": "present", "type": "dir", "path": "/images", "active": True, "autostart": True}
    pool = made["pool"]
    assert (pool["name"], pool["type"], pool["path"], pool["active"], pool["autostart"], pool["volumes"]) == ("images", "dir", "/images", True, True, 0)
    assert pool["capacity"] > 0 and predicted["pool"]["capacity"] is None
    watched.calls.clear()
    for check_mode in (True, False):
        again = run(watched, check_mode=check_mode)
        assert (again["changed"], again["actions"]) == (False, [])
    assert writes(watched) == []
    assert run(watched, path=None)["changed"] is False  # an existing pool needs no path


def test_a_stopped_pool_is_started_and_autostart_follows_the_option(storage, client, conn):
    run(client)
    conn.storagePoolLookupByName("images").destroy()
    started = run(client, autostart=False)
    assert started["actions"] == ["build and start", "unset autostart"]
    assert (started["pool"]["active"], started["pool"]["autostart"]) == (True, False)


def test_a_pool_is_never_moved(storage, client):
    run(client)
    with pytest.raises(VirtOpsError) as raised:
        run(client, path="/elsewhere")
    assert "its path is '/images', not '/elsewhere'" in raised.value.msg and "not changed in place" in raised.value.msg


def test_path_is_required_to_create(storage, client):
    with pytest.raises(VirtOpsError) as raised:
        run(client, path=None)
    assert "option path is required to create it" in raised.value.msg


def test_absent_stops_and_undefines_and_deletes_nothing(storage, watched, conn):
    run(watched)
    watched.calls.clear()
    removed = run(watched, state="absent", diff_mode=True)
    assert removed["actions"] == ["stop", "undefine"] and removed["pool"]["path"] == "/images"
    assert removed["diff"]["after"] == {"state": "absent"}
    assert "delete" not in watched.calls and "images" not in [pool.name() for pool in conn.listAllStoragePools(0)]
    assert run(watched, state="absent")["changed"] is False
