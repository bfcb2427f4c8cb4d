# Copyright: (c) 2026, virtops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Storage volumes: finding one, reading what it is (its facts, its backing file as
libvirt describes it), the definition of a new one, and the two helpers other
modules use to put small content into a volume and read it back
(``upload_bytes``, ``download_bytes``).

A volume's format and its backing file's format are always libvirt's word, never
guessed from the file's content."""

from __future__ import annotations

import io
import posixpath
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from ansible_collections.virtops.libvirt.plugins.module_utils._core import streams
from ansible_collections.virtops.libvirt.plugins.module_utils._core import xml as dxml
from ansible_collections.virtops.libvirt.plugins.module_utils._core.client import Connection, libvirt
from ansible_collections.virtops.libvirt.plugins.module_utils._core.errors import LibvirtCallError, VirtOpsError
from ansible_collections.virtops.libvirt.plugins.module_utils._storage.names import check_name
from ansible_collections.virtops.libvirt.plugins.module_utils._storage.pools import active_pool
from ansible_collections.virtops.libvirt.plugins.module_utils._storage.usage import normal

VirStorageVol = Any  # libvirt.virStorageVol
VirStoragePool = Any  # libvirt.virStoragePool

# Every field of RV(volume).
FACTS = ("name", "pool", "path", "key", "format", "capacity", "allocation", "backing")


def label(pool: str, name: str) -> str:
    return f"volume {name!r} of storage pool {pool!r}"


def find_volume(conn: Connection, pool: VirStoragePool, name: str) -> VirStorageVol | None:
    """The volume ``name`` of ``pool``, or None. A volume not found is looked up again
    after the pool is refreshed, in case its file was made outside libvirt."""
    for attempt in range(2):
        try:
            return conn.call(f"look up {label(pool.name(), name)}", pool.storageVolLookupByName, name)
        except LibvirtCallError as err:
            if err.code != libvirt.VIR_ERR_NO_STORAGE_VOL:
                raise
        if attempt == 0:
            conn.call(f"refresh storage pool {pool.name()!r}", pool.refresh, 0)
    return None


def volume_facts(conn: Connection, vol: VirStorageVol, pool_name: str) -> dict[str, Any]:
    """What virt_volume returns of a volume: name, pool, path, key, format, capacity and
    allocation (bytes), backing (its path and format, or None)."""
    name = vol.name()
    text = conn.call(f"describe {label(pool_name, name)}", vol.XMLDesc, 0)
    root = dxml.parse(text, f"libvirt's description of {label(pool_name, name)}", "volume")
    path = root.findtext("target/path")
    backing = None
    backing_path = root.findtext("backingStore/path")
    if backing_path:
        if path:
            backing_path = posixpath.join(posixpath.dirname(path), backing_path)  # relative to the overlay
        backing = {"path": normal(backing_path), "format": _format(root.find("backingStore"))}
    return {
        "name": name,
        "pool": pool_name,
        "path": normal(path) if path else None,
        "key": root.findtext("key"),
        "format": _format(root.find("target")),
        "capacity": _bytes(root.find("capacity")),
        "allocation": _bytes(root.find("allocation")),
        "backing": backing,
    }


def _format(parent: Any) -> str | None:
    element = parent.find("format") if parent is not None else None
    return element.get("type") if element is not None else None


def _bytes(element: Any) -> int | None:
    """An amount of libvirt's volume XML, in bytes (libvirt writes bytes; the unit is honoured anyway)."""
    if element is None or not (element.text or "").strip():
        return None
    powers = {"b": 0, "bytes": 0, "k": 1, "kib": 1, "m": 2, "mib": 2, "g": 3, "gib": 3, "t": 4, "tib": 4, "p": 5, "pib": 5}
    return int(element.text) * 1024 ** powers.get((element.get("unit") or "bytes").lower(), 0)


def new_volume_xml(name: str, capacity: int, fmt: str, backing: dict[str, Any] | None = None) -> str:
    """The definition of a new volume: a sparse raw file, or a qcow2 (version 3) image,
    optionally an overlay of ``backing`` (its path and format)."""
    allocation = "<allocation>0</allocation>" if fmt == "raw" else ""
    compat = "<compat>1.1</compat>" if fmt == "qcow2" else ""
    store = ""
    if backing is not None:
        store = f"<backingStore><path>{escape(backing['path'])}</path><format type={quoteattr(backing['format'])}/></backingStore>"
    return (
        f"<volume><name>{escape(name)}</name><capacity unit='bytes'>{capacity}</capacity>{allocation}"
        f"<target><format type={quoteattr(fmt)}/>{compat}</target>{store}</volume>"
    )


@dataclass
class Source:
    """Another volume, named by pool and volume name or by path (``backing``, ``clone_from``)."""

    pool: str | None = None
    volume: str | None = None
    path: str | None = None

    def shown(self) -> str:
        return f"the volume at {self.path!r}" if self.path else label(self.pool or "", self.volume or "")


def resolve(conn: Connection, source: Source, option: str) -> tuple[VirStorageVol, dict[str, Any]]:
    """The volume ``source`` names, and its facts; VirtOpsError naming it when it does not exist."""
    if source.path is not None:
        try:
            vol = conn.call(f"look up the volume at {source.path!r}", conn.raw.storageVolLookupByPath, source.path)
        except LibvirtCallError as err:
            if err.code != libvirt.VIR_ERR_NO_STORAGE_VOL:
                raise
            raise VirtOpsError(
                f"Option {option}: there is no volume at {source.path!r} in an active storage pool at URI '{conn.shown_uri}'. Check the path, "
                "or name the volume by pool and volume; a file outside every pool must be put in one first."
            ) from None
        pool = conn.call(f"find the storage pool of {source.path!r}", vol.storagePoolLookupByVolume)
        return vol, volume_facts(conn, vol, pool.name())
    pool_name = source.pool or ""
    pool = active_pool(conn, pool_name, f"{option}.pool")
    vol = find_volume(conn, pool, source.volume or "")
    if vol is None:
        raise VirtOpsError(f"Option {option}: {source.shown()} does not exist at URI '{conn.shown_uri}'. Check its names, or create it first.")
    return vol, volume_facts(conn, vol, pool_name)


# -- for other modules ----------------------------------------------------------------
def upload_bytes(conn: Connection, pool: VirStoragePool, name: str, data: bytes, fmt: str = "raw") -> VirStorageVol:
    """Create volume ``name`` in the active pool ``pool``, ``len(data)`` bytes large, in
    format ``fmt``, and write ``data`` into it through a libvirt stream; the new volume.

    For small content (a cloud-init seed): ``data`` is held in memory. The name is
    checked as virt_volume checks it; a volume of that name that exists already is a
    VirtOpsError (nothing is overwritten), and a volume whose upload fails is deleted
    again, so nothing half-made stays."""
    check_name(name, "name", "volume")
    if not isinstance(data, bytes) or not data:
        raise VirtOpsError(f"Cannot create {label(pool.name(), name)} from no content: data must be bytes, at least one.")
    if find_volume(conn, pool, name) is not None:
        raise VirtOpsError(f"{label(pool.name(), name).capitalize()} exists already at URI '{conn.shown_uri}'; it is not overwritten.")
    return create_and_upload(conn, pool, name, new_volume_xml(name, len(data), fmt), io.BytesIO(data), len(data))


def create_and_upload(conn: Connection, pool: VirStoragePool, name: str, xml: str, source: Any, length: int) -> VirStorageVol:
    """Create a volume from ``xml``, then upload ``length`` bytes of ``source`` into it;
    a volume whose upload failed is deleted again."""
    shown = label(pool.name(), name)
    vol = conn.call(f"create {shown}", pool.createXML, xml, 0)
    try:
        streams.upload(conn, vol, source, length, shown)
    except VirtOpsError as err:
        conn.call(f"delete {shown}, whose upload failed", vol.delete, 0)
        raise VirtOpsError(f"{err.msg} The volume made by this run was deleted again.") from None
    return vol


def create_raw(conn: Connection, pool: VirStoragePool, name: str, capacity: int) -> VirStorageVol:
    """Create an empty (sparse) raw volume ``name`` of ``capacity`` bytes in the active
    pool ``pool``; the new volume. The name is checked as virt_volume checks it."""
    check_name(name, "name", "volume")
    return conn.call(f"create {label(pool.name(), name)}", pool.createXML, new_volume_xml(name, capacity, "raw"), 0)


def delete_volume(conn: Connection, vol: VirStorageVol, shown: str) -> None:
    """Delete ``vol`` (``shown`` names it in messages). Who uses it is not asked: see usage.py."""
    conn.call(f"delete {shown}", vol.delete, 0)


def path_of(conn: Connection, vol: VirStorageVol, shown: str) -> str:
    """The path of ``vol``, normalised."""
    return normal(conn.call(f"read the path of {shown}", vol.path))


def capacity_of(conn: Connection, vol: VirStorageVol, shown: str) -> int:
    """The capacity of ``vol`` in bytes (libvirt's figure, read again from the volume)."""
    return int(conn.call(f"read the size of {shown}", vol.info)[1])


@dataclass
class Ref:
    """A volume as usage.used_by_domains() takes it: its normalised path, pool name and name."""

    path: str
    pool: str
    name: str


def ref(conn: Connection, vol: VirStorageVol, shown: str) -> Ref:
    """``vol`` named for usage.used_by_domains()."""
    pool = conn.call(f"find the storage pool of {shown}", vol.storagePoolLookupByVolume)
    return Ref(path_of(conn, vol, shown), pool.name(), vol.name())


def download_bytes(conn: Connection, vol: VirStorageVol, limit: int) -> bytes:
    """The content of ``vol`` from its start, at most ``limit`` bytes (the whole volume
    when it is smaller), read through a libvirt stream into memory: for small volumes."""
    return streams.download_upto(conn, vol, limit, f"volume {vol.name()!r}")
