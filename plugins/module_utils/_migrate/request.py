# Copyright: (c) 2026, virtops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a migration is asked to do: the checked options, and the one mapping from
them to libvirt's migration flags and typed parameters."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ansible_collections.virtops.libvirt.plugins.module_utils._core.client import libvirt
from ansible_collections.virtops.libvirt.plugins.module_utils._core.errors import VirtOpsError

PREFLIGHT_CHECKS = ("memory", "networks", "storage", "cpu")
TIMEOUT_ACTIONS = ("abort", "postcopy", "suspend")
COPY_STORAGE = ("none", "all", "incremental")
COMPRESSION_METHODS = ("xbzrle", "mt")
# A week: longer than any migration, short enough to be a real number of seconds.
MAX_SECONDS = 7 * 24 * 3600.0
MAX_BANDWIDTH_MIB = 1024 * 1024  # 1 TiB/s
MAX_PARALLEL = 255


@dataclass(frozen=True)
class MigrationRequest:
    """One domain to move from the source hypervisor to the destination."""

    name: str | None = None
    uuid: str | None = None
    dest_uri: str = ""
    peer_to_peer: bool = True
    peer_uri: str | None = None
    live: bool = True
    persistent: bool = True
    undefine_source: bool = True
    bandwidth: int | None = None
    migrate_uri: str | None = None
    auto_converge: bool = False
    compression: tuple[str, ...] = ()
    parallel_connections: int | None = None
    tls: bool = False
    copy_storage: str = "none"
    copy_disks: tuple[str, ...] = ()
    timeout: float = 600.0
    timeout_action: str = "abort"
    preflight: tuple[str, ...] = PREFLIGHT_CHECKS
    memory_headroom_mib: int = 0

    @property
    def label(self) -> str:
        return self.name if self.name is not None else str(self.uuid)


def _whole(value: Any, option: str, lowest: int, highest: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not lowest <= value <= highest:
        raise VirtOpsError(f"Option {option} must be a whole number from {lowest} to {highest}, not {value!r}. Nothing was done.")
    return value


def check_seconds(value: Any, option: str) -> float:
    number = float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else math.nan
    if not (math.isfinite(number) and 0 <= number <= MAX_SECONDS):
        raise VirtOpsError(f"Option {option} must be a number of seconds from 0 (no limit) to {MAX_SECONDS:g}, not {value!r}. Nothing was done.")
    return number


def _uri(value: Any, option: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or "\x00" in value or any(ch.isspace() for ch in value):
        raise VirtOpsError(f"Option {option} must be a URI without spaces or NUL characters, not {value!r}. Nothing was done.")
    return value


def request_of(params: dict[str, Any]) -> MigrationRequest:
    """The checked request; VirtOpsError naming the option that is wrong."""
    copy_storage = params.get("copy_storage") or "none"
    if copy_storage not in COPY_STORAGE:  # any other value would be taken as incremental
        raise VirtOpsError(f"Option copy_storage must be one of {', '.join(COPY_STORAGE)}, not {copy_storage!r}. Nothing was done.")
    copy_disks = tuple(params.get("copy_disks") or ())
    if copy_storage != "none" and not copy_disks:
        raise VirtOpsError(
            f"Option copy_storage={copy_storage} needs copy_disks: name each disk to copy by its target (for example [vda]). "
            "An empty list would let libvirt copy every disk, attached volumes included, which can corrupt shared ones. Nothing was done."
        )
    if copy_storage == "none" and copy_disks:
        raise VirtOpsError("Option copy_disks applies with copy_storage=all or copy_storage=incremental only. Nothing was done.")
    for disk in copy_disks:
        if not isinstance(disk, str) or not disk or not disk.isprintable() or "/" in disk:
            raise VirtOpsError(f"Option copy_disks holds {disk!r}, which is not a disk target name (vda, sdb, ...). Nothing was done.")
    if len(set(copy_disks)) != len(copy_disks):
        raise VirtOpsError("Option copy_disks names a disk twice. Nothing was done.")
    peer_to_peer = bool(params.get("peer_to_peer", True))
    peer_uri = _uri(params.get("peer_uri"), "peer_uri")
    if peer_uri is not None and not peer_to_peer:
        raise VirtOpsError(
            "Option peer_uri is the destination as the source daemon reaches it, for peer_to_peer=true only; "
            "without peer-to-peer this controller connects to dest_uri itself. Nothing was done."
        )
    dest_uri = _uri(params.get("dest_uri"), "dest_uri")
    if dest_uri is None:
        raise VirtOpsError("Option dest_uri is required: the URI of the hypervisor to move the domain to. Nothing was done.")
    compression = tuple(params.get("compression") or ())
    for method in compression:
        if method not in COMPRESSION_METHODS:
            raise VirtOpsError(f"Option compression holds {method!r}; choose from {', '.join(COMPRESSION_METHODS)}. Nothing was done.")
    preflight = tuple(params["preflight"]) if params.get("preflight") is not None else PREFLIGHT_CHECKS
    for check in preflight:
        if check not in PREFLIGHT_CHECKS:
            raise VirtOpsError(f"Option preflight holds {check!r}; choose from {', '.join(PREFLIGHT_CHECKS)}. Nothing was done.")
    timeout_action = params.get("timeout_action") or "abort"
    if timeout_action not in TIMEOUT_ACTIONS:
        raise VirtOpsError(f"Option timeout_action must be one of {', '.join(TIMEOUT_ACTIONS)}, not {timeout_action!r}. Nothing was done.")
    return MigrationRequest(
        name=params.get("name"),
        uuid=params.get("uuid"),
        dest_uri=dest_uri,
        peer_to_peer=peer_to_peer,
        peer_uri=peer_uri,
        live=bool(params.get("live", True)),
        persistent=bool(params.get("persistent", True)),
        undefine_source=bool(params.get("undefine_source", True)),
        bandwidth=_whole(params.get("bandwidth"), "bandwidth", 1, MAX_BANDWIDTH_MIB),
        migrate_uri=_uri(params.get("migrate_uri"), "migrate_uri"),
        auto_converge=bool(params.get("auto_converge")),
        compression=compression,
        parallel_connections=_whole(params.get("parallel_connections"), "parallel_connections", 1, MAX_PARALLEL),
        tls=bool(params.get("tls")),
        copy_storage=copy_storage,
        copy_disks=copy_disks,
        timeout=check_seconds(params.get("timeout", 600), "timeout"),
        timeout_action=timeout_action,
        preflight=preflight,
        memory_headroom_mib=_whole(params.get("memory_headroom_mib", 0) or 0, "memory_headroom_mib", 0, 1024 * 1024 * 1024) or 0,
    )


def flags_and_params(request: MigrationRequest, offline: bool) -> tuple[int, dict[str, Any]]:
    """libvirt's migration flags and typed parameters for ``request``; ``offline`` moves
    a shut-off domain's definition (no guest to copy)."""
    flags = libvirt.VIR_MIGRATE_ABORT_ON_ERROR
    params: dict[str, Any] = {}
    if request.peer_to_peer:
        flags |= libvirt.VIR_MIGRATE_PEER2PEER
    if request.persistent or offline:
        flags |= libvirt.VIR_MIGRATE_PERSIST_DEST
    if request.undefine_source:
        flags |= libvirt.VIR_MIGRATE_UNDEFINE_SOURCE
    if offline:
        return flags | libvirt.VIR_MIGRATE_OFFLINE, params
    if request.live:
        flags |= libvirt.VIR_MIGRATE_LIVE
    if request.bandwidth is not None:
        params[libvirt.VIR_MIGRATE_PARAM_BANDWIDTH] = request.bandwidth
    if request.migrate_uri is not None:
        params[libvirt.VIR_MIGRATE_PARAM_URI] = request.migrate_uri
    if request.auto_converge:
        flags |= libvirt.VIR_MIGRATE_AUTO_CONVERGE
    if request.compression:
        flags |= libvirt.VIR_MIGRATE_COMPRESSED
        params[libvirt.VIR_MIGRATE_PARAM_COMPRESSION] = list(request.compression)
    if request.parallel_connections is not None:
        flags |= libvirt.VIR_MIGRATE_PARALLEL
        params[libvirt.VIR_MIGRATE_PARAM_PARALLEL_CONNECTIONS] = request.parallel_connections
    if request.tls:
        flags |= libvirt.VIR_MIGRATE_TLS
    if request.copy_storage != "none":
        flags |= libvirt.VIR_MIGRATE_NON_SHARED_DISK if request.copy_storage == "all" else libvirt.VIR_MIGRATE_NON_SHARED_INC
        params[libvirt.VIR_MIGRATE_PARAM_MIGRATE_DISKS] = list(request.copy_disks)
    if request.timeout_action == "postcopy" and request.timeout > 0:
        flags |= libvirt.VIR_MIGRATE_POSTCOPY
    return flags, params
