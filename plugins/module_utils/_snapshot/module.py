# Copyright: (c) 2026, virtops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""virt_snapshot's options and its one path from parameters to exit_json/fail_json."""

from __future__ import annotations

from typing import Any

from ansible_collections.virtops.libvirt.plugins.module_utils._core.client import Connection
from ansible_collections.virtops.libvirt.plugins.module_utils._core.errors import VirtOpsError
from ansible_collections.virtops.libvirt.plugins.module_utils._core.module import CONNECTION_ARGUMENT_SPEC, check_name, run_module
from ansible_collections.virtops.libvirt.plugins.module_utils._snapshot.names import check_description, check_snapshot_name
from ansible_collections.virtops.libvirt.plugins.module_utils._snapshot.plan import SnapshotRequest
from ansible_collections.virtops.libvirt.plugins.module_utils._snapshot.runner import SnapshotRunner

MAX_RETAIN = 10000

ARGUMENT_SPEC: dict[str, Any] = {
    **CONNECTION_ARGUMENT_SPEC,
    "name": {"type": "str", "required": True, "aliases": ["domain"]},
    "snapshot": {"type": "str", "required": True},
    "state": {"type": "str", "choices": ["present", "absent", "reverted"], "default": "present"},
    "description": {"type": "str"},
    "kind": {"type": "str", "choices": ["internal", "external"], "default": "internal"},
    "memory": {"type": "bool"},
    "quiesce": {"type": "str", "choices": ["never", "required", "if_possible"], "default": "never"},
    "disks": {
        "type": "list",
        "elements": "dict",
        "options": {"name": {"type": "str", "required": True}, "file": {"type": "path", "required": True}},
    },
    "retain": {"type": "int"},
    "current": {"type": "bool", "default": False},
    "children": {"type": "str", "choices": ["keep", "delete"], "default": "keep"},
}
ARGUMENT_RULES: dict[str, Any] = {}

# Options that only mean something for one state: given with another, the run is refused
# rather than silently ignoring them.
_ONLY_FOR = {"description": "present", "memory": "present", "disks": "present", "retain": "present"}


def request_of(params: dict[str, Any]) -> SnapshotRequest:
    """The checked request; VirtOpsError naming the option that is wrong."""
    check_name(params["name"])
    check_snapshot_name(params["snapshot"])
    for option, state in _ONLY_FOR.items():
        if params.get(option) is not None and params["state"] != state:
            raise VirtOpsError(f"Option {option} applies to state={state} only, not state={params['state']}. Nothing was done.")
    retain = params.get("retain")
    if retain is not None and not (isinstance(retain, int) and not isinstance(retain, bool) and 1 <= retain <= MAX_RETAIN):
        raise VirtOpsError(f"Option retain must be a whole number of snapshots from 1 to {MAX_RETAIN}, not {retain!r}. Nothing was done.")
    check_description(params["description"])
    return SnapshotRequest(
        domain=params["name"],
        snapshot=params["snapshot"],
        state=params["state"],
        description=params["description"],
        kind=params["kind"],
        memory=params["memory"],
        quiesce=params["quiesce"],
        disks=tuple(params["disks"] or ()),
        retain=retain,
        current=params["current"],
        children=params["children"],
    )


def run(module) -> None:
    """Run virt_snapshot for the module's parameters; never returns."""
    holder: dict[str, SnapshotRequest] = {}

    def check() -> None:
        holder["request"] = request_of(module.params)

    def body(conn: Connection) -> dict[str, Any]:
        return SnapshotRunner(conn, holder["request"], module.check_mode).run()

    run_module(module, body, needs_lxml=True, check=check)
