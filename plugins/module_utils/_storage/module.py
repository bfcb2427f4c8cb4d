# Copyright: (c) 2026, virtops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""virt_pool's and virt_volume's options, checked before anything is connected, and
their one path from parameters to exit_json/fail_json."""

from __future__ import annotations

from typing import Any

from ansible_collections.virtops.libvirt.plugins.module_utils._core.client import Connection
from ansible_collections.virtops.libvirt.plugins.module_utils._core.errors import VirtOpsError
from ansible_collections.virtops.libvirt.plugins.module_utils._core.module import CONNECTION_ARGUMENT_SPEC, run_module
from ansible_collections.virtops.libvirt.plugins.module_utils._storage.names import check_name, check_path
from ansible_collections.virtops.libvirt.plugins.module_utils._storage.pool_runner import PoolRequest, PoolRunner
from ansible_collections.virtops.libvirt.plugins.module_utils._storage.size import parse_size
from ansible_collections.virtops.libvirt.plugins.module_utils._storage.volume_runner import VolumeRequest, VolumeRunner
from ansible_collections.virtops.libvirt.plugins.module_utils._storage.volumes import Source

POOL_ARGUMENT_SPEC: dict[str, Any] = {
    **CONNECTION_ARGUMENT_SPEC,
    "name": {"type": "str", "required": True},
    "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
    "type": {"type": "str", "choices": ["dir"], "default": "dir"},
    "path": {"type": "path"},
    "autostart": {"type": "bool", "default": True},
}

_SOURCE_OPTIONS: dict[str, Any] = {
    "type": "dict",
    "options": {"pool": {"type": "str"}, "volume": {"type": "str"}, "path": {"type": "path"}},
    "mutually_exclusive": [("volume", "path"), ("pool", "path")],
    "required_one_of": [("volume", "path")],
}

VOLUME_ARGUMENT_SPEC: dict[str, Any] = {
    **CONNECTION_ARGUMENT_SPEC,
    "pool": {"type": "str", "required": True},
    "name": {"type": "str", "required": True},
    "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
    "capacity": {"type": "raw"},
    "allow_shrink": {"type": "bool", "default": False},
    "format": {"type": "str", "choices": ["raw", "qcow2"], "default": "qcow2"},
    "backing": _SOURCE_OPTIONS,
    "clone_from": _SOURCE_OPTIONS,
    "src": {"type": "path"},
    "force_upload": {"type": "bool", "default": False},
    "force": {"type": "bool", "default": False},
}
VOLUME_ARGUMENT_RULES: dict[str, Any] = {"mutually_exclusive": [("backing", "clone_from", "src")]}


def run_pool(module) -> None:
    """Run virt_pool for the module's parameters; never returns."""
    params = module.params
    holder: dict[str, PoolRequest] = {}

    def check() -> None:
        path = check_path(params["path"], "path") if params["path"] is not None else None
        holder["request"] = PoolRequest(
            name=check_name(params["name"], "name", "storage pool"),
            state=params["state"],
            type=params["type"],
            path=path,
            autostart=params["autostart"],
            check_mode=module.check_mode,
            diff_mode=module._diff,
        )

    def body(conn: Connection) -> dict[str, Any]:
        return PoolRunner(conn, holder["request"]).run()

    run_module(module, body, needs_lxml=True, check=check)


def run_volume(module) -> None:
    """Run virt_volume for the module's parameters; never returns."""
    params = module.params
    holder: dict[str, VolumeRequest] = {}

    def check() -> None:
        pool = check_name(params["pool"], "pool", "storage pool")
        holder["request"] = VolumeRequest(
            pool=pool,
            name=check_name(params["name"], "name", "volume"),
            state=params["state"],
            capacity=parse_size(params["capacity"]) if params["capacity"] is not None else None,
            allow_shrink=params["allow_shrink"],
            format=params["format"],
            backing=source(params["backing"], pool, "backing"),
            clone_from=source(params["clone_from"], pool, "clone_from"),
            src=params["src"],
            force_upload=params["force_upload"],
            force=params["force"],
            check_mode=module.check_mode,
            diff_mode=module._diff,
        )
        if params["force_upload"] and params["src"] is None:
            raise VirtOpsError("Option force_upload needs option src: the file to upload over the volume's content.")

    def body(conn: Connection) -> dict[str, Any]:
        return VolumeRunner(conn, holder["request"]).run()

    run_module(module, body, needs_lxml=True, check=check)


def source(value: dict[str, Any] | None, pool: str, option: str) -> Source | None:
    """A ``backing`` or ``clone_from`` option, checked; its pool defaults to the volume's."""
    if value is None:
        return None
    if value.get("path") is not None:
        return Source(path=check_path(value["path"], f"{option}.path"))
    return Source(
        pool=check_name(value.get("pool") or pool, f"{option}.pool", "storage pool"), volume=check_name(value["volume"], f"{option}.volume", "volume")
    )
