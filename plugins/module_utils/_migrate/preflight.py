# Copyright: (c) 2026, virtops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Before anything moves (and in check mode): can the destination take the domain?
Room for its memory, its networks, its storage, its CPU. Every problem found is
reported at once; what libvirt gives no way to check is named, not guessed."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from ansible_collections.virtops.libvirt.plugins.module_utils._core import xml as core_xml
from ansible_collections.virtops.libvirt.plugins.module_utils._core.client import Connection, libvirt
from ansible_collections.virtops.libvirt.plugins.module_utils._core.errors import LibvirtCallError, VirtOpsError
from ansible_collections.virtops.libvirt.plugins.module_utils._definition.compare import scaled
from ansible_collections.virtops.libvirt.plugins.module_utils._migrate.request import MigrationRequest

MIB = 1024 * 1024


@dataclass
class Preflight:
    """What the checks found; ``problems`` stop the migration."""

    memory: dict[str, int] | None = None
    networks: list[str] = field(default_factory=list)
    storage: list[str] = field(default_factory=list)
    cpu: str | None = None
    unchecked: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def as_result(self) -> dict[str, Any]:
        return {
            "memory": self.memory,
            "networks": self.networks,
            "storage": self.storage,
            "cpu": self.cpu,
            "unchecked": self.unchecked,
            "problems": self.problems,
        }


def domain_memory_kib(root: Any) -> int:
    """The domain's maximum memory (``<memory>``) in KiB."""
    element = root.find("memory")
    if element is None:
        return 0
    return scaled((element.text or "").strip(), element.get("unit")) or 0


def free_memory_mib(conn: Connection) -> int:
    """The hypervisor's memory free for a guest, in MiB: the host's free memory plus its
    buffers and page cache (the kernel gives those back), as ``free`` counts "available".
    Where the driver has no node memory statistics, libvirt's free memory."""
    try:
        stats = conn.call("read the host's memory statistics", conn.raw.getMemoryStats, libvirt.VIR_NODE_MEMORY_STATS_ALL_CELLS, 0)
    except LibvirtCallError as err:
        if err.code not in (libvirt.VIR_ERR_NO_SUPPORT, libvirt.VIR_ERR_OPERATION_UNSUPPORTED):
            raise
        stats = {}
    if "free" in stats:
        return int(stats["free"] + stats.get("buffers", 0) + stats.get("cached", 0)) // 1024
    return int(conn.call("read the host's free memory", conn.raw.getFreeMemory)) // MIB


def run_preflight(source: Connection, dest: Connection, request: MigrationRequest, root: Any, offline: bool) -> Preflight:
    """Run the checks ``request.preflight`` names for the domain defined by ``root``."""
    report = Preflight()
    check_copy_disks(root, request)
    if "memory" in request.preflight and not offline:
        _memory(dest, request, root, report)
    if "networks" in request.preflight:
        _networks(dest, root, report)
    if "storage" in request.preflight:
        _storage(dest, request, root, report, offline)
    if "cpu" in request.preflight and not offline:
        _cpu(dest, root, report)
    return report


def _memory(dest: Connection, request: MigrationRequest, root: Any, report: Preflight) -> None:
    needed = -(-domain_memory_kib(root) // 1024)
    free = free_memory_mib(dest)
    report.memory = {"needed_mib": needed, "free_mib": free, "headroom_mib": request.memory_headroom_mib}
    if needed + request.memory_headroom_mib > free:
        headroom = f" plus memory_headroom_mib={request.memory_headroom_mib}" if request.memory_headroom_mib else ""
        report.problems.append(
            f"no room: the domain needs {needed} MiB{headroom}, the destination has {free} MiB free. Free memory there, or choose another destination."
        )


def _networks(dest: Connection, root: Any, report: Preflight) -> None:
    seen: set[str] = set()
    for interface in root.iterfind("devices/interface"):
        kind = interface.get("type")
        source = interface.find("source")
        # A running domain's live XML shows a NIC on a network of forward mode bridge
        # (or macvtap) as type='bridge' (or 'direct'), the network still named on <source>.
        network = source.get("network") if source is not None and kind in ("network", "bridge", "direct") else None
        if network:
            if network in seen:
                continue
            seen.add(network)
            try:
                handle = dest.call(f"look up network {network!r}", dest.raw.networkLookupByName, network)
            except LibvirtCallError as err:
                if err.code != libvirt.VIR_ERR_NO_NETWORK:
                    raise
                report.problems.append(f"network {network!r} does not exist on the destination. Define and start it there first.")
                continue
            if not dest.call(f"read whether network {network!r} is active", handle.isActive):
                report.problems.append(f"network {network!r} is not active on the destination. Start it there (virsh net-start {network}).")
                continue
            report.networks.append(network)
        elif kind in ("bridge", "direct") and source is not None:
            device = source.get("bridge") or source.get("dev") or "?"
            report.unchecked.append(f"{kind} interface on host device {device!r} (libvirt cannot tell whether the destination has it)")


def _disk_path(disk: Any) -> tuple[str | None, str | None, str | None]:
    """(path, pool, volume) of a disk's source."""
    source = disk.find("source")
    if source is None:
        return None, None, None
    if disk.get("type") == "volume":
        return None, source.get("pool"), source.get("volume")
    return source.get("file") or source.get("dev"), None, None


def check_copy_disks(root: Any, request: MigrationRequest) -> None:
    """Every disk copy_disks names is a writable disk of the domain."""
    writable = {
        disk.find("target").get("dev")
        for disk in root.iterfind("devices/disk")
        if disk.find("target") is not None and disk.find("readonly") is None and disk.get("device", "disk") in ("disk", "lun")
    }
    for wanted in request.copy_disks:
        if wanted not in writable:
            raise VirtOpsError(
                f"Option copy_disks names disk {wanted!r}, which is not a writable disk of domain {request.label} "
                f"(its writable disks: {', '.join(sorted(d for d in writable if d)) or 'none'}). Nothing was moved."
            )


def _storage(dest: Connection, request: MigrationRequest, root: Any, report: Preflight, offline: bool = False) -> None:
    pools = None
    for disk in root.iterfind("devices/disk"):
        target = disk.find("target")
        dev = target.get("dev") if target is not None else "?"
        if dev in request.copy_disks and not offline:  # an offline migration copies no disk (flags_and_params): check it like any other
            continue
        path, pool, volume = _disk_path(disk)
        if pool is not None:
            _check_volume(dest, pool, volume or "", dev, report)
            continue
        if path is None or disk.get("type") not in ("file", "block", None):
            continue
        if pools is None:
            pools = _pool_dirs(dest)
        _check_path(dest, pools, path, dev, report)


def _check_volume(dest: Connection, pool: str, volume: str, dev: str, report: Preflight) -> None:
    try:
        handle = dest.call(f"look up storage pool {pool!r}", dest.raw.storagePoolLookupByName, pool)
        dest.call(f"look up volume {volume!r} of pool {pool!r}", handle.storageVolLookupByName, volume)
    except LibvirtCallError as err:
        if err.code not in (libvirt.VIR_ERR_NO_STORAGE_POOL, libvirt.VIR_ERR_NO_STORAGE_VOL, libvirt.VIR_ERR_OPERATION_INVALID):
            raise
        report.problems.append(
            f"disk {dev}: volume {volume!r} of pool {pool!r} is not on the destination. Use shared storage, or copy_storage with copy_disks."
        )
        return
    report.storage.append(f"{pool}/{volume}")


def _pool_dirs(dest: Connection) -> dict[str, Any]:
    """The active pools of the destination by their target directory."""
    found: dict[str, Any] = {}
    for pool in dest.call("list the active storage pools", dest.raw.listAllStoragePools, libvirt.VIR_CONNECT_LIST_STORAGE_POOLS_ACTIVE):
        root = core_xml.parse(dest.call("read a storage pool's definition", pool.XMLDesc, 0), "a storage pool's definition")
        path = root.findtext("target/path")
        if path:
            found[os.path.normpath(path)] = pool
    return found


def _check_path(dest: Connection, pools: dict[str, Any], path: str, dev: str, report: Preflight) -> None:
    pool = pools.get(os.path.dirname(os.path.normpath(path)))
    if pool is None:
        report.unchecked.append(f"disk {dev}: {path} (no storage pool of the destination holds its folder, so libvirt cannot tell whether it is there)")
        return
    for attempt in range(2):
        try:
            dest.call(f"look up {path}", pool.storageVolLookupByName, os.path.basename(path))
        except LibvirtCallError as err:
            if err.code != libvirt.VIR_ERR_NO_STORAGE_VOL:
                raise
            if attempt == 0:  # a file made since the pool was last read: read it again
                dest.call("refresh a storage pool", pool.refresh, 0)
                continue
            report.problems.append(
                f"disk {dev}: {path} is not on the destination (its pool there holds that folder, without the file). "
                "Use shared storage, or copy_storage with copy_disks."
            )
            return
        report.storage.append(path)
        return


def _cpu(dest: Connection, root: Any, report: Preflight) -> None:
    cpu = root.find("cpu")
    mode = cpu.get("mode", "custom") if cpu is not None else None
    if cpu is None or cpu.find("model") is None:
        report.cpu = "unchecked: the domain names no CPU model"
        return
    if mode in ("host-passthrough", "maximum"):
        report.cpu = f"unchecked: mode {mode} needs identical hosts"
        return
    os_type = root.find("os/type")
    args = (
        root.findtext("devices/emulator"),
        os_type.get("arch") if os_type is not None else None,
        os_type.get("machine") if os_type is not None else None,
        root.get("type"),
        core_xml.to_libvirt(cpu),
    )
    try:
        verdict = dest.call("compare the domain's CPU with the destination's", dest.raw.compareHypervisorCPU, *args, 0)
    except LibvirtCallError as err:
        report.cpu = f"unchecked: {err.text or err.msg}"
        return
    if verdict == libvirt.VIR_CPU_COMPARE_INCOMPATIBLE:
        try:
            dest.call(
                "compare the domain's CPU with the destination's", dest.raw.compareHypervisorCPU, *args, libvirt.VIR_CONNECT_COMPARE_CPU_FAIL_INCOMPATIBLE
            )
            why = ""
        except LibvirtCallError as err:
            why = f" ({err.text})"
        report.cpu = "incompatible"
        report.problems.append(f"the destination's CPU cannot run the domain's CPU model{why}. Migrate to a host with a compatible CPU.")
        return
    report.cpu = {libvirt.VIR_CPU_COMPARE_IDENTICAL: "identical", libvirt.VIR_CPU_COMPARE_SUPERSET: "superset"}.get(verdict, "unchecked")
