# Copyright: (c) 2026, virtops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""virt_clone's options, checked before anything is connected, and its one path
from parameters to exit_json/fail_json."""

from __future__ import annotations

from typing import Any

from ansible_collections.virtops.libvirt.plugins.module_utils._clone.runner import CloneRequest, CloneRunner
from ansible_collections.virtops.libvirt.plugins.module_utils._core.client import Connection
from ansible_collections.virtops.libvirt.plugins.module_utils._core.errors import VirtOpsError
from ansible_collections.virtops.libvirt.plugins.module_utils._core.module import CONNECTION_ARGUMENT_SPEC, check_name, run_module
from ansible_collections.virtops.libvirt.plugins.module_utils._snapshot.names import check_snapshot_name
from ansible_collections.virtops.libvirt.plugins.module_utils._storage import names

ARGUMENT_SPEC: dict[str, Any] = {
    **CONNECTION_ARGUMENT_SPEC,
    "name": {"type": "str", "required": True},
    "source": {"type": "str", "required": True},
    "storage": {"type": "str", "choices": ["copy", "linked"], "default": "copy"},
    "pool": {"type": "str"},
    "volume_names": {"type": "dict"},
    "snapshot": {"type": "str"},
}


def request_of(params: dict[str, Any], check_mode: bool = False, diff_mode: bool = False) -> CloneRequest:
    """The request the options make; VirtOpsError naming the option that cannot be used."""
    name = check_name(params["name"], "name") or ""
    source = check_name(params["source"], "source") or ""
    for option, value in (("name", name), ("source", source)):
        if value != value.strip():
            raise VirtOpsError(f"Option {option} {value!r} begins or ends with blanks; give the domain's name without them.")
    pool = names.check_name(params["pool"], "pool", "storage pool") if params.get("pool") is not None else None
    given = params.get("volume_names") or {}
    volume_names = {}
    for target, volume in given.items():
        if not isinstance(volume, str):
            raise VirtOpsError(f"Option volume_names.{target} must be a volume name, not {volume!r}.")
        volume_names[str(target)] = names.check_name(volume, f"volume_names.{target}", "volume")
    taken = check_snapshot_name(params["snapshot"]) if params.get("snapshot") is not None else None
    return CloneRequest(
        name=name,
        snapshot=taken,
        source=source,
        storage=params.get("storage") or "copy",
        pool=pool,
        volume_names=volume_names,
        check_mode=check_mode,
        diff_mode=diff_mode,
    )


def run(module) -> None:
    """Run virt_clone for the module's parameters; never returns."""
    holder: dict[str, CloneRequest] = {}

    def check() -> None:
        holder["request"] = request_of(module.params, module.check_mode, module._diff)

    def body(conn: Connection) -> dict[str, Any]:
        return CloneRunner(conn, holder["request"]).run()

    run_module(module, body, needs_lxml=True, check=check)
