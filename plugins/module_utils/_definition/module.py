# Copyright: (c) 2026, virtops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""virt_domain's options and its one path from parameters to exit_json/fail_json."""

from __future__ import annotations

from typing import Any

from ansible_collections.virtops.libvirt.plugins.module_utils._core.client import Connection
from ansible_collections.virtops.libvirt.plugins.module_utils._core.module import (
    CONNECTION_ARGUMENT_SPEC,
    check_name,
    run_module,
    seconds,
)
from ansible_collections.virtops.libvirt.plugins.module_utils._definition.runner import (
    DefinitionRequest,
    DomainDefinition,
)

ARGUMENT_SPEC: dict[str, Any] = {
    **CONNECTION_ARGUMENT_SPEC,
    "name": {"type": "str", "required": True},
    "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
    # The XML may hold secrets in clear (graphics passwords, disk cookies): not echoed in the
    # module's invocation; what is returned of it (definition, diff) has them masked.
    "xml": {"type": "str", "no_log": True},
    "autostart": {"type": "bool"},
    "unowned": {"type": "str", "choices": ["keep", "remove"], "default": "keep"},
    # Deprecated: the three-way apply replaced both ways of comparing; exact meant what unowned=remove does.
    "match": {"type": "str", "choices": ["subset", "exact"], "removed_in_version": "2.0.0", "removed_from_collection": "virtops.libvirt"},
    "restart": {"type": "str", "choices": ["never", "if_pending"], "default": "never"},
    "restart_timeout": {"type": "float", "default": 120},
    "force": {"type": "bool", "default": False},
    "remove_nvram": {"type": "bool", "default": False},
    "remove_tpm": {"type": "bool", "default": False},
    "remove_storage": {"type": "bool", "default": False},
    "remove_managed_save": {"type": "bool", "default": False},
    "remove_snapshots_metadata": {"type": "bool", "default": False},
}
ARGUMENT_RULES: dict[str, Any] = {"required_if": [("state", "present", ("xml",))], "mutually_exclusive": [("match", "unowned")]}


def run(module) -> None:
    """Run virt_domain for the module's parameters; never returns."""
    params = module.params
    holder: dict[str, DefinitionRequest] = {}

    def check() -> None:
        check_name(params["name"])
        options = {key: params[key] for key in DefinitionRequest.__dataclass_fields__ if key in params}
        if params.get("match") == "exact":
            options["unowned"] = "remove"
        holder["request"] = DefinitionRequest(
            check_mode=module.check_mode,
            diff_mode=module._diff,
            **{**options, "restart_timeout": seconds(params, "restart_timeout")},
        )

    def body(conn: Connection) -> dict[str, Any]:
        return DomainDefinition(conn, holder["request"]).run()

    request_events = params["restart"] == "if_pending" and not module.check_mode
    run_module(module, body, events=request_events, needs_lxml=True, check=check)
