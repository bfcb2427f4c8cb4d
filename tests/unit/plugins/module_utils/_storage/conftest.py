"""Storage tests run on libvirt's test driver: its pool 'default-pool' (a dir pool at
/default-pool, nothing on disk) is emptied after each test, and pools a test made go."""

from __future__ import annotations

import pytest

from ansible_collections.virtops.libvirt.plugins.module_utils._core.client import Connection

from .helpers import POOL


@pytest.fixture
def storage(conn):
    """The test driver's 'default-pool', left empty and alone afterwards."""
    pool = conn.storagePoolLookupByName(POOL)
    yield pool
    for domain in conn.listAllDomains(0):
        if domain.name() != "test":
            if domain.isActive():
                domain.destroy()
            domain.undefine()
    for volume in pool.listAllVolumes(0):
        volume.delete(0)
    for other in conn.listAllStoragePools(0):
        if other.name() != POOL:
            if other.isActive():
                other.destroy()
            other.undefine()


@pytest.fixture
def watched():
    """A Connection to test:///default that records the name of every libvirt function called."""
    connection = Connection("test:///default", timeout=None)
    connection.calls = []
    connection.observe = lambda func: connection.calls.append(func.__name__)
    yield connection
    connection.close()
