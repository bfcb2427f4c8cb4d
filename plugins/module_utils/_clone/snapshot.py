# Copyright: (c) 2026, virtops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Cloning a domain that keeps running: from an external disk-only snapshot of it.

When virt_snapshot takes an external snapshot (``kind: external``), the domain goes
on writing to new overlay files, and the images it wrote to before no longer change
while the snapshot exists: they hold its disks as they were at that moment (with
``quiesce``, each file system on them is clean). The snapshot's XML names them (its
``<domain>`` is the definition of that moment). So the clone is the source's
current persistent definition with each writable disk pointed back at that frozen
image, and is then copied as usual.

- Every writable disk of the source must be in the snapshot as ``external``: a disk
  left out (``snapshot='no'``) or added since is being written, and is refused.
- Only ``storage=copy``: when the snapshot is deleted, libvirt merges the overlay
  back into the frozen image, which would corrupt an overlay backed by it.
- Internal snapshots live inside the qcow2 image the domain writes to; libvirt has
  no way to read one out: refused, saying what to take instead."""

from __future__ import annotations

from typing import Any

from ansible_collections.virtops.libvirt.plugins.module_utils._clone.disks import is_shared, target_of
from ansible_collections.virtops.libvirt.plugins.module_utils._core import xml as dxml
from ansible_collections.virtops.libvirt.plugins.module_utils._core.client import Connection, libvirt
from ansible_collections.virtops.libvirt.plugins.module_utils._core.errors import LibvirtCallError, VirtOpsError

TAKE_ONE = "take one with virtops.libvirt.virt_snapshot (kind=external, quiesce=required where the guest agent answers)"


def frozen(conn: Connection, domain: Any, source: str, snapshot: str, root: Any, storage: str) -> Any:
    """``root`` (a copy of the source's definition) with each writable disk on the
    image snapshot ``snapshot`` froze; VirtOpsError when it cannot be cloned from."""
    if storage != "copy":
        raise VirtOpsError(
            f"Option snapshot needs storage=copy: a linked clone would be an overlay of the image snapshot '{snapshot}' froze, and "
            "that image changes when the snapshot is deleted (libvirt merges the domain's overlay back into it). Nothing was made."
        )
    taken = _read(conn, domain, source, snapshot)
    kinds = {disk.get("name"): disk.get("snapshot", "no") for disk in taken.iterfind("disks/disk")}
    then = {target_of(disk): disk for disk in taken.iterfind("domain/devices/disk")}
    result = dxml.copy(root)
    for disk in result.iterfind("devices/disk"):
        if is_shared(disk):
            continue
        target = target_of(disk)
        if kinds.get(target) != "external" or target not in then:
            how = "is not in it" if target not in kinds else f"is in it as {kinds[target]!r}, not 'external'"
            raise VirtOpsError(
                f"Disk {target} of domain '{source}' {how}, so no frozen image of it exists: the running domain writes to the only "
                f"one. Snapshot '{snapshot}' can only be cloned from when every writable disk is an external snapshot in it; "
                f"{TAKE_ONE}. Nothing was made."
            )
        _point_back(disk, then[target])
    return result


def _read(conn: Connection, domain: Any, source: str, snapshot: str) -> Any:
    try:
        handle = conn.call(f"look up its snapshot {snapshot!r}", domain.snapshotLookupByName, snapshot, 0, domain=source)
    except LibvirtCallError as err:
        if err.code == libvirt.VIR_ERR_NO_DOMAIN_SNAPSHOT:
            raise VirtOpsError(f"Domain '{source}' has no snapshot named '{snapshot}' (option snapshot); {TAKE_ONE}. Nothing was made.") from None
        raise
    text = conn.call(f"read its snapshot {snapshot!r}", handle.getXMLDesc, 0, domain=source)
    taken = dxml.parse(text, f"libvirt's description of snapshot '{snapshot}' of domain '{source}'", "domainsnapshot")
    if taken.find("domain") is None:
        raise VirtOpsError(f"libvirt's description of snapshot '{snapshot}' of domain '{source}' holds no definition to clone from.")
    return taken


def _point_back(disk: Any, then: Any) -> None:
    """Point ``disk`` at the image ``then`` (the snapshot's own <disk> of it) names."""
    for element in disk.findall("source") + disk.findall("backingStore"):
        disk.remove(element)
    image = then.find("source")
    if image is None:
        return
    copied = dxml.copy(image)
    copied.attrib.pop("index", None)
    for child in copied.findall("*"):
        copied.remove(child)  # runtime detail of the snapshot's moment (security labels, ...)
    disk.set("type", then.get("type", disk.get("type", "file")))
    driver = disk.find("driver")
    disk.insert(list(disk).index(driver) + 1 if driver is not None else 0, copied)
    if driver is not None and then.find("driver") is not None and then.find("driver").get("type"):
        driver.set("type", then.find("driver").get("type"))
