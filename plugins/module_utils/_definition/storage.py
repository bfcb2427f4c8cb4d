# Copyright: (c) 2026, virtops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""remove_storage: which of a domain's disks are storage volumes that may go with it.

Only a volume of a storage pool libvirt manages is ever deleted, and only when
nothing else uses it:
- no other domain of the connection (active or not; its persistent definition and,
  while it runs, its live one) names it, by path or by pool and volume;
- no volume of an active pool has it as its backing file (unless that volume goes
  too);
- it is not a read-only or shareable disk (installation media, data shared with
  other domains or hosts).
Every volume kept is reported with the reason. Reads only; the caller deletes.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from typing import Any

from ansible_collections.virtops.libvirt.plugins.module_utils._core import xml as dxml
from ansible_collections.virtops.libvirt.plugins.module_utils._core.client import Connection, libvirt
from ansible_collections.virtops.libvirt.plugins.module_utils._core.errors import (
    DomainVanishedError,
    LibvirtCallError,
)

READ_ONLY_REASON = "a read-only or shareable disk (installation media or data other domains may use)"


@dataclass
class Volume:
    """A storage volume one of the domain's disks uses."""

    path: str
    pool: str
    name: str
    handle: Any


@dataclass
class StoragePlan:
    """The volumes to delete with the domain, and those kept, each with its reason."""

    remove: list[Volume] = field(default_factory=list)
    kept: list[dict[str, str]] = field(default_factory=list)


def plan(conn: Connection, name: str, uuid: str, root: Any) -> StoragePlan:
    """What remove_storage may delete of domain ``name`` (definition ``root``)."""
    result = StoragePlan()
    seen: set[str] = set()
    for disk in root.iterfind("devices/disk"):
        volume = _volume(conn, name, disk.find("source"))
        if volume is None or volume.path in seen:
            continue
        seen.add(volume.path)
        if disk.get("device") == "cdrom" or disk.find("readonly") is not None or disk.find("shareable") is not None:
            result.kept.append({"path": volume.path, "reason": READ_ONLY_REASON})
        else:
            result.remove.append(volume)
    if not result.remove:
        return result
    reasons = _used_by_domains(conn, uuid, result.remove)
    reasons.update(_backing_files(conn, result.remove, reasons))
    result.kept += [{"path": volume.path, "reason": reasons[volume.path]} for volume in result.remove if volume.path in reasons]
    result.remove = [volume for volume in result.remove if volume.path not in reasons]
    return result


def _volume(conn: Connection, name: str, source: Any) -> Volume | None:
    """The storage volume a disk source names, or None when it is not one libvirt manages."""
    if source is None:
        return None
    try:
        if source.get("pool") and source.get("volume"):
            pool = conn.call(f"find storage pool {source.get('pool')!r}", conn.raw.storagePoolLookupByName, source.get("pool"), domain=name)
            volume = conn.call(f"find volume {source.get('volume')!r}", pool.storageVolLookupByName, source.get("volume"), domain=name)
        elif source.get("file") or source.get("dev"):
            path = source.get("file") or source.get("dev")
            volume = conn.call(f"find the storage volume of {path}", conn.raw.storageVolLookupByPath, path, domain=name)
            pool = conn.call(f"find the storage pool of {path}", volume.storagePoolLookupByVolume, domain=name)
        else:
            return None
    except LibvirtCallError as err:
        if err.code in (libvirt.VIR_ERR_NO_STORAGE_VOL, libvirt.VIR_ERR_NO_STORAGE_POOL):
            return None  # not a volume libvirt manages: never touched
        raise
    path = conn.call("read the path of its storage volume", volume.path, domain=name)
    return Volume(_normal(path), pool.name(), volume.name(), volume)


def _used_by_domains(conn: Connection, uuid: str, volumes: list[Volume]) -> dict[str, str]:
    """Why each volume another domain names stays, by volume path."""
    users: dict[str, list[str]] = {}
    keys = {volume.path: {("path", volume.path), ("volume", volume.pool, volume.name)} for volume in volumes}
    active = {domain.UUIDString() for domain in conn.call("list the active domains", conn.raw.listAllDomains, libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE)}
    for other in conn.call("list the domains", conn.raw.listAllDomains, 0):
        if other.UUIDString() == uuid:
            continue
        named = _references(conn, other, other.UUIDString() in active)
        for volume in volumes:
            if keys[volume.path] & named and other.name() not in users.get(volume.path, []):
                users.setdefault(volume.path, []).append(other.name())
    return {path: f"used by domain{'s' if len(names) > 1 else ''} {', '.join(repr(n) for n in sorted(names))}" for path, names in users.items()}


def _references(conn: Connection, domain: Any, active: bool) -> set[tuple[str, ...]]:
    """Every path (any attribute or text that is an absolute path) and every pool and
    volume pair the definitions of ``domain`` name."""
    name = domain.name()
    found: set[tuple[str, ...]] = set()
    flags = [libvirt.VIR_DOMAIN_XML_INACTIVE] + ([0] if active else [])
    for flag in flags:
        try:
            text = conn.call("read its definition", domain.XMLDesc, flag, domain=name)
        except DomainVanishedError:
            break  # gone meanwhile: it uses nothing any more
        root = dxml.parse_domain(text, f"libvirt's definition of domain '{name}'")
        for element in root.iter():
            if not isinstance(element.tag, str):
                continue
            for value in [*element.attrib.values(), (element.text or "").strip()]:
                if value.startswith("/"):
                    found.add(("path", _normal(value)))
            if element.tag == "source" and element.get("pool") and element.get("volume"):
                found.add(("volume", element.get("pool"), element.get("volume")))
    return found


def _backing_files(conn: Connection, volumes: list[Volume], reasons: dict[str, str]) -> dict[str, str]:
    """Why each volume that is the backing file of a volume staying (any volume of
    an active pool that is not deleted with the domain) stays, by volume path."""
    backed_by = _backing_map(conn)
    kept = dict(reasons)
    going = {volume.path for volume in volumes}
    changed = True
    while changed:  # a kept overlay keeps its backing file, and that one its own
        changed = False
        for volume in volumes:
            if volume.path in kept:
                continue
            staying = sorted(user for user in backed_by.get(volume.path, ()) if user not in going or user in kept)
            if staying:
                kept[volume.path] = f"the backing file of volume{'s' if len(staying) > 1 else ''} " + ", ".join(repr(user) for user in staying)
                changed = True
    return {path: reason for path, reason in kept.items() if path not in reasons}


def _backing_map(conn: Connection) -> dict[str, set[str]]:
    """For every backing file of a volume of an active pool, the volumes it backs."""
    backed_by: dict[str, set[str]] = {}
    pools = conn.call("list the active storage pools", conn.raw.listAllStoragePools, libvirt.VIR_CONNECT_LIST_STORAGE_POOLS_ACTIVE)
    for pool in pools:
        for volume in conn.call(f"list the volumes of storage pool {pool.name()!r}", pool.listAllVolumes, 0):
            try:
                text = conn.call(f"describe volume {volume.name()!r} of storage pool {pool.name()!r}", volume.XMLDesc, 0)
            except LibvirtCallError as err:
                if err.code == libvirt.VIR_ERR_NO_STORAGE_VOL:
                    continue  # deleted meanwhile
                raise
            root = dxml.parse(text, f"libvirt's description of volume {volume.name()!r}", "volume")
            path, backing = root.findtext("target/path"), root.findtext("backingStore/path")
            if path and backing:
                backing = posixpath.join(posixpath.dirname(path), backing)  # relative to the overlay
                backed_by.setdefault(_normal(backing), set()).add(_normal(path))
    return backed_by


def _normal(path: str) -> str:
    return posixpath.normpath(path)
