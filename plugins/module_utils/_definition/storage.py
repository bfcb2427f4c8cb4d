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
Who uses a volume is _storage/usage.py's answer, shared with virt_volume.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ansible_collections.virtops.libvirt.plugins.module_utils._core.client import Connection, libvirt
from ansible_collections.virtops.libvirt.plugins.module_utils._core.errors import LibvirtCallError
from ansible_collections.virtops.libvirt.plugins.module_utils._storage import usage

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
    reasons = usage.used_by_domains(conn, result.remove, skip_uuid=uuid)
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
    return Volume(usage.normal(path), pool.name(), volume.name(), volume)


def _backing_files(conn: Connection, volumes: list[Volume], reasons: dict[str, str]) -> dict[str, str]:
    """Why each volume that is the backing file of a volume staying (any volume of
    an active pool that is not deleted with the domain) stays, by volume path."""
    backed_by = usage.backing_map(conn)
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
