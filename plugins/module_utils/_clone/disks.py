# Copyright: (c) 2026, virtops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The clone's disks: which of the source's disks are copied, overlaid or shared,
the volumes that makes, and the clone's ``<disk>`` elements pointing at them.

- A read-only or shareable disk (a cdrom, a floppy, an ISO, data meant to be shared)
  is referenced as it is: ``shared``.
- A writable disk that is a volume of a storage pool gets a volume of its own in
  ``pool`` (default: the source volume's pool): a full copy made by libvirt
  (``createXMLFrom``, a qcow2 overlay's chain flattened) with ``storage=copy``, a
  qcow2 overlay whose backing file is the source's image with ``storage=linked``.
- A writable disk that is no volume of a pool (a plain file, a network disk) is
  refused: it would be shared silently.

A volume of the clone's name that exists already (left by a run that stopped
between copying and defining) is reused when it is what this run would make
(format, size, backing file; its content is not compared) and no domain uses it;
anything else of that name is an error, never overwritten."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import Any

from ansible_collections.virtops.libvirt.plugins.module_utils._core.client import Connection
from ansible_collections.virtops.libvirt.plugins.module_utils._core.errors import VirtOpsError
from ansible_collections.virtops.libvirt.plugins.module_utils._definition import storage as dstorage
from ansible_collections.virtops.libvirt.plugins.module_utils._storage import names, pools, usage, volumes
from ansible_collections.virtops.libvirt.plugins.module_utils._storage.size import human

EXTENSIONS = {"qcow2": "qcow2", "raw": "img"}


@dataclass
class Disk:
    """One disk of the clone and how it is made."""

    target: str
    how: str  # copy, linked or shared
    source: str | None  # the source's image (None: a drive without a medium)
    clone: str | None  # the clone's image (in check mode, where the pool will put it)
    element: Any = None  # the clone's <disk>
    pool: str | None = None  # the clone's volume: its pool and name
    volume: str | None = None
    xml: str = ""  # the definition of the clone's volume
    origin: Any = None  # the source's volume (what a copy is made from)
    reused: Any = None  # the clone's volume, when it exists already
    file_pool: bool = True  # whether the clone's volume is a file (else a block device)
    line: str = ""  # what ``actions`` says

    def facts(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "how": self.how,
            "source": self.source,
            "clone": self.clone,
            "pool": self.pool,
            "volume": self.volume,
            "reused": self.reused is not None,
        }


@dataclass
class Choices:
    """What the options say of the clone's disks."""

    clone: str
    source: str
    storage: str = "copy"
    pool: str | None = None
    volume_names: dict[str, str] | None = None


def volume_name(clone: str, target: str, fmt: str) -> str:
    """The default name of a clone's volume: ``<clone>-<target dev>.<qcow2|img>``."""
    return f"{clone}-{target}.{EXTENSIONS.get(fmt, fmt)}"


def plan(conn: Connection, choices: Choices, root: Any) -> list[Disk]:
    """The clone's disks (``root`` is the clone's definition, still naming the source's images)."""
    found = [_disk(conn, choices, element) for element in root.iterfind("devices/disk")]
    _check_names(choices, found)
    return found


def target_of(element: Any) -> str:
    """A <disk>'s target dev ("?" when it has none)."""
    target = element.find("target")
    return target.get("dev", "?") if target is not None else "?"


def is_shared(element: Any) -> bool:
    """Whether a <disk> is referenced as it is: a cdrom or floppy, read-only or shareable."""
    return element.get("device") in ("cdrom", "floppy") or element.find("readonly") is not None or element.find("shareable") is not None


def image(conn: Connection, owner: str, source: Any) -> tuple[str | None, dstorage.Volume | None]:
    """The image a disk's <source> names (its path when it is a volume of a pool), and that volume."""
    volume = dstorage._volume(conn, owner, source)
    return (volume.path, volume) if volume is not None else (shown_source(source), None)


def _disk(conn: Connection, choices: Choices, element: Any) -> Disk:
    target = target_of(element)
    shown, origin = image(conn, choices.source, element.find("source"))
    if is_shared(element):
        return Disk(target, "shared", shown, shown, element, line=f"share {element.get('device', 'disk')} {target} ({shown or 'no medium'}) as it is")
    if shown is None:
        return Disk(target, "shared", None, None, element, line=f"keep {target} without a medium")
    if origin is None:
        raise VirtOpsError(
            f"Disk {target} of domain '{choices.source}' ({shown}) is writable and is not a volume of an active storage pool at "
            f"URI '{conn.shown_uri}', so it is not cloned (a clone sharing it would write into the source's disk). Put the "
            "directory that holds it in a storage pool (virtops.libvirt.virt_pool with path=...), or copy it into a pool "
            "with virtops.libvirt.virt_volume (clone_from.path=...) and point the source at the copy; a disk meant to be "
            "shared must be <readonly/> or <shareable/>. Nothing was made."
        )
    facts = volumes.volume_facts(conn, origin.handle, origin.pool)
    fmt = facts["format"] or "raw"
    pool_name = choices.pool or origin.pool
    name = (choices.volume_names or {}).get(target) or volume_name(choices.clone, target, "qcow2" if choices.storage == "linked" else fmt)
    option = f"volume_names.{target}" if target in (choices.volume_names or {}) else "name (the clone's volumes are named after it; or set volume_names)"
    names.check_name(name, option, "volume")
    disk = Disk(target, choices.storage, origin.path, None, element, pool_name, name, origin=origin.handle)
    capacity = facts["capacity"] or 0
    if choices.storage == "linked":
        disk.xml = volumes.new_volume_xml(name, capacity, "qcow2", {"path": origin.path, "format": fmt})
        disk.line = f"create {volumes.label(pool_name, name)}, a qcow2 overlay of {origin.path} ({fmt}, {human(capacity)})"
    else:
        disk.xml = volumes.new_volume_xml(name, capacity, fmt)
        disk.line = f"create {volumes.label(pool_name, name)}, a {fmt} copy of {origin.path} ({human(capacity)})"
    _place(conn, disk, fmt, capacity)
    return disk


def shown_source(source: Any) -> str | None:
    """The image a disk's <source> names: its path, or its pool and volume (None: no medium)."""
    if source is None:
        return None
    if source.get("file") or source.get("dev"):
        return usage.normal(source.get("file") or source.get("dev"))
    if source.get("pool") and source.get("volume"):
        return f"volume {source.get('volume')!r} of storage pool {source.get('pool')!r}"
    if source.get("protocol"):
        return f"{source.get('protocol')} {source.get('name', '')}".strip()
    return None


def _place(conn: Connection, disk: Disk, fmt: str, capacity: int) -> None:
    """Where the clone's volume goes, and whether one of its name is there already."""
    pool = pools.active_pool(conn, disk.pool or "", "pool" if disk.pool else "the source volume's pool")
    description = pools.description(conn, pool)
    directory = description.findtext("target/path")
    disk.file_pool = description.get("type") in pools.FILE_POOL_TYPES
    if disk.file_pool and directory:
        disk.clone = usage.normal(posixpath.join(directory, disk.volume or ""))
    found = volumes.find_volume(conn, pool, disk.volume or "")
    if found is None:
        return
    shown = volumes.label(disk.pool or "", disk.volume or "")
    have = volumes.volume_facts(conn, found, disk.pool or "")
    backing = have["backing"]["path"] if have["backing"] else None
    want = ("qcow2", capacity, disk.source) if disk.how == "linked" else (fmt, capacity, None)
    problem = ""
    if (have["format"], have["capacity"], backing) != want:
        problem = f"it is a {have['format']} volume of {human(have['capacity'] or 0)} with backing file {backing!r}, not the {disk.how} this run makes"
    else:
        users = usage.used_by_domains(conn, [volumes.Ref(have["path"] or "", disk.pool or "", disk.volume or "")])
        problem = next(iter(users.values()), "")
    if problem:
        raise VirtOpsError(
            f"{shown.capitalize()} exists already at URI '{conn.shown_uri}' and {problem}; it is never overwritten. Name the "
            f"clone's volume for disk {disk.target} otherwise (option volume_names), or remove that volume "
            "(virtops.libvirt.virt_volume state=absent) if nothing needs it. Nothing was made."
        )
    disk.reused = found
    disk.clone = have["path"]
    disk.line = f"reuse {shown} for disk {disk.target} (left by an earlier run: {disk.how}, same format, size and backing file)"


def _check_names(choices: Choices, found: list[Disk]) -> None:
    made = [disk for disk in found if disk.how != "shared"]
    unknown = sorted(set(choices.volume_names or {}) - {disk.target for disk in made})
    if unknown:
        have = ", ".join(disk.target for disk in made) or "none"
        raise VirtOpsError(f"Option volume_names names disks that are not copied or overlaid: {', '.join(unknown)} (those of '{choices.source}': {have}).")
    seen: dict[tuple[str, str], str] = {}
    for disk in made:
        key = (disk.pool or "", disk.volume or "")
        if key in seen:
            raise VirtOpsError(f"Disks {seen[key]} and {disk.target} would both get {volumes.label(*key)}; give each its own name in volume_names.")
        seen[key] = disk.target


def create(conn: Connection, disk: Disk) -> Any:
    """Make the clone's volume of ``disk`` (the caller keeps it, to remove it on a later failure); its handle."""
    pool = pools.active_pool(conn, disk.pool or "")
    shown = volumes.label(disk.pool or "", disk.volume or "")
    if disk.how == "copy":
        return conn.call(f"create {shown} as a copy of {disk.source}", pool.createXMLFrom, disk.xml, disk.origin, 0)
    return conn.call(f"create {shown}, an overlay of {disk.source}", pool.createXML, disk.xml, 0)


def point_at(disk: Disk, path: str | None) -> None:
    """Make the clone's <disk> name its own volume (``path`` where the pool put it)."""
    element = disk.element
    source = element.find("source")
    for chain in element.findall("backingStore"):
        element.remove(chain)
    if element.get("type") == "volume":
        source.set("pool", disk.pool or "")
        source.set("volume", disk.volume or "")
    else:
        for attribute in ("file", "dev", "pool", "volume"):
            source.attrib.pop(attribute, None)
        kind = "file" if disk.file_pool else "block"
        element.set("type", kind)
        source.set("file" if kind == "file" else "dev", path or f"(a path in storage pool {disk.pool!r})")
    driver = element.find("driver")
    if disk.how == "linked" and driver is not None:
        driver.set("type", "qcow2")
