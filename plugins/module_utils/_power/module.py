# Copyright: (c) 2026, virtops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""virt_power's options and its one path from parameters to the result."""

from __future__ import annotations

from typing import Any

from ansible_collections.virtops.libvirt.plugins.module_utils._core.client import Connection
from ansible_collections.virtops.libvirt.plugins.module_utils._core.errors import VirtOpsError
from ansible_collections.virtops.libvirt.plugins.module_utils._core.module import (
    CONNECTION_ARGUMENT_SPEC,
    DOMAIN_IDENTITY_ARGUMENT_SPEC,
    DOMAIN_IDENTITY_RULES,
    check_name,
    run_module,
    seconds,
)
from ansible_collections.virtops.libvirt.plugins.module_utils._power.runner import (
    PowerRequest,
    PowerRunner,
)
from ansible_collections.virtops.libvirt.plugins.module_utils._power.transitions import (
    DESIRED_STATES,
    STATE_ALIASES,
)

ARGUMENT_SPEC: dict[str, Any] = {
    **CONNECTION_ARGUMENT_SPEC,
    **DOMAIN_IDENTITY_ARGUMENT_SPEC,
    "state": {"type": "str", "required": True, "choices": [*DESIRED_STATES, *STATE_ALIASES]},
    "shutdown_mode": {"type": "list", "elements": "str", "choices": ["acpi", "agent"]},
    "timeout": {"type": "float", "default": 120},
    "retry_interval": {"type": "float", "default": 10},
    "on_timeout": {"type": "str", "choices": ["fail", "force"], "default": "fail"},
    "wait": {"type": "bool", "default": True},
}
ARGUMENT_RULES: dict[str, Any] = dict(DOMAIN_IDENTITY_RULES)

# What a run that found no domain returns besides its message.
NOT_FOUND: dict[str, Any] = {
    "state": None,
    "previous_state": None,
    "reason": None,
    "actions": [],
    "forced": False,
    "elapsed": 0.0,
    "id": None,
}

# A request sent more often than this only floods the guest (0 sends it once).
MIN_RETRY_INTERVAL = 1.0


def request_from_params(params: dict[str, Any], check_mode: bool) -> PowerRequest:
    check_name(params["name"])
    return PowerRequest(
        state=params["state"],
        shutdown_mode=params["shutdown_mode"] or None,
        timeout=seconds(params, "timeout"),
        retry_interval=seconds(params, "retry_interval", minimum=MIN_RETRY_INTERVAL, zero_ok=True),
        on_timeout=params["on_timeout"],
        wait=params["wait"],
        check_mode=check_mode,
    )


def run(module) -> None:
    """Run virt_power for the module's parameters; never returns."""
    params = module.params
    holder: dict[str, PowerRequest] = {}

    def check() -> None:
        holder["request"] = request_from_params(params, module.check_mode)

    def body(conn: Connection) -> dict[str, Any]:
        try:
            domain = conn.lookup(params["name"], params["uuid"])
        except VirtOpsError as err:  # no domain: every documented field, none of them known
            err.result = {**NOT_FOUND, "name": params["name"], "uuid": params["uuid"], **err.result}
            raise
        return PowerRunner(conn, domain, holder["request"]).run().as_result()

    run_module(module, body, events=not module.check_mode, check=check)
