# Copyright: (c) 2026, virtops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Storage pools as both storage modules see them: finding one (with a message
saying what to do when it is missing or stopped), reading what it is (its facts),
and the definition of a directory pool."""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import escape

from ansible_collections.virtops.libvirt.plugins.module_utils._core import xml as dxml
from ansible_collections.virtops.libvirt.plugins.module_utils._core.client import Connection, libvirt
from ansible_collections.virtops.libvirt.plugins.module_utils._core.errors import LibvirtCallError, VirtOpsError
from ansible_collections.virtops.libvirt.plugins.module_utils._storage.usage import normal

VirStoragePool = Any  # libvirt.virStoragePool

# Pool types whose volumes are files named after the volume, in the pool's directory.
FILE_POOL_TYPES = ("dir", "fs", "netfs")


def find_pool(conn: Connection, name: str) -> VirStoragePool | None:
    """The storage pool named ``name``, or None when there is none."""
    try:
        return conn.call(f"look up storage pool {name!r}", conn.raw.storagePoolLookupByName, name)
    except LibvirtCallError as err:
        if err.code == libvirt.VIR_ERR_NO_STORAGE_POOL:
            return None
        raise


def active_pool(conn: Connection, name: str, option: str = "pool") -> VirStoragePool:
    """The active storage pool named ``name``; VirtOpsError saying how to make or start it."""
    pool = find_pool(conn, name)
    if pool is None:
        raise VirtOpsError(
            f"Storage pool {name!r} (option {option}) is not defined at URI '{conn.shown_uri}'; create it with virtops.libvirt.virt_pool "
            f"(name={name}, path=...). List the pools with: virsh -c '{conn.shown_uri}' pool-list --all"
        )
    if not conn.call(f"read whether storage pool {name!r} is active", pool.isActive):
        raise VirtOpsError(
            f"Storage pool {name!r} (option {option}) at URI '{conn.shown_uri}' is defined but not active, so its volumes cannot be "
            f"read. Start it with virtops.libvirt.virt_pool (name={name}, state=present) or: virsh -c '{conn.shown_uri}' pool-start {name}"
        )
    return pool


def description(conn: Connection, pool: VirStoragePool) -> Any:
    """libvirt's description of ``pool``, parsed."""
    text = conn.call(f"describe storage pool {pool.name()!r}", pool.XMLDesc, 0)
    return dxml.parse(text, f"libvirt's description of storage pool {pool.name()!r}", "pool")


def pool_facts(conn: Connection, pool: VirStoragePool) -> dict[str, Any]:
    """What virt_pool returns of a pool: name, type, path, active, autostart and, while
    it is active, capacity, available (bytes) and its number of volumes (else None)."""
    name = pool.name()
    root = description(conn, pool)
    path = root.findtext("target/path")
    active = bool(conn.call(f"read whether storage pool {name!r} is active", pool.isActive))
    facts: dict[str, Any] = {
        "name": name,
        "type": root.get("type"),
        "path": normal(path) if path else None,
        "active": active,
        "autostart": bool(conn.call(f"read the autostart flag of storage pool {name!r}", pool.autostart)),
        "capacity": None,
        "available": None,
        "volumes": None,
    }
    if active:
        _state, capacity, _allocation, available = conn.call(f"read the size of storage pool {name!r}", pool.info)
        facts.update(capacity=capacity, available=available)
        facts["volumes"] = conn.call(f"count the volumes of storage pool {name!r}", pool.numOfVolumes)
    return facts


def dir_pool_xml(name: str, path: str) -> str:
    """The definition of a directory pool. No permissions: libvirt makes a missing
    directory with mode 0711 (so the QEMU user can reach the images in it) and
    leaves the mode of an existing one as it is."""
    return f"<pool type='dir'><name>{escape(name)}</name><target><path>{escape(path)}</path></target></pool>"
