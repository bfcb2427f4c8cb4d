# Copyright: (c) 2026, virtops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The disks of a domain, as a snapshot sees them: which ones it covers, whether an
internal snapshot can hold them (only qcow2 can), and where the overlay files of an
external snapshot go when O(disks) says so."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ansible_collections.virtops.libvirt.plugins.module_utils._core.errors import VirtOpsError
from ansible_collections.virtops.libvirt.plugins.module_utils._storage.names import check_path


@dataclass(frozen=True)
class Disk:
    """One <disk> of the domain's definition."""

    target: str
    device: str
    format: str | None
    source: str | None
    readonly: bool

    @property
    def writable(self) -> bool:
        """Whether a snapshot covers it: libvirt leaves read-only disks and cdroms out."""
        return self.device in ("disk", "lun") and not self.readonly

    @property
    def shown(self) -> str:
        return f"{self.target} ({self.source})" if self.source else self.target


def disks_of(root: Any) -> list[Disk]:
    """The disks of a parsed domain definition, in its order."""
    return [_disk(element) for element in root.iterfind("devices/disk")]


def _disk(element: Any) -> Disk:
    source = element.find("source")
    path = None
    if source is not None:
        path = source.get("file") or source.get("dev") or source.get("name") or source.get("volume")
    target = element.find("target")
    driver = element.find("driver")
    return Disk(
        target=target.get("dev", "") if target is not None else "",
        device=element.get("device", "disk"),
        format=driver.get("type") if driver is not None else None,
        source=path,
        readonly=element.find("readonly") is not None,
    )


def refuse_internal(domain: str, disks: list[Disk]) -> None:
    """VirtOpsError naming every writable disk that is not qcow2: only qcow2 can hold an
    internal snapshot (a disk without a format is raw to QEMU)."""
    unfit = [f"{disk.shown} is {disk.format or 'raw (no format given)'}" for disk in disks if disk.writable and disk.format != "qcow2"]
    if unfit:
        raise VirtOpsError(
            f"Domain '{domain}': an internal snapshot needs every writable disk in qcow2 format, and {'; '.join(unfit)}. "
            "Nothing was done. Use kind=external (disk-only overlays, which any format can take), convert the disk to qcow2 "
            "(qemu-img convert while the domain is shut off), or mark the disk <readonly/> if the guest never writes it."
        )


def overlay_files(domain: str, disks: list[Disk], wanted: list[dict[str, Any]] | None) -> dict[str, str]:
    """The overlay file of each disk O(disks) names, by target; VirtOpsError for a disk the
    domain does not have (or that no snapshot covers) or a path that is not absolute."""
    files: dict[str, str] = {}
    covered = {disk.target: disk for disk in disks if disk.writable}
    for index, entry in enumerate(wanted or [], 1):
        target = entry.get("name")
        if target not in covered:
            known = ", ".join(sorted(covered)) or "none"
            raise VirtOpsError(f"Option disks[{index}]: domain '{domain}' has no writable disk {target!r} (its writable disks: {known}). Nothing was done.")
        if target in files:
            raise VirtOpsError(f"Option disks[{index}]: disk {target!r} is named twice. Nothing was done.")
        files[target] = check_path(entry.get("file"), f"disks[{index}].file")
    return files
