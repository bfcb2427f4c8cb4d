# Copyright: (c) 2026, virtops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""virt_power's options and its one path from parameters to exit_json/fail_json."""

from __future__ import annotations

from typing import Any

from ansible_collections.virtops.libvirt.plugins.module_utils._errors import VirtOpsError
from ansible_collections.virtops.libvirt.plugins.module_utils._libvirt_connection import (
    DOMAIN_IDENTITY_ARGUMENT_SPEC,
    DOMAIN_IDENTITY_RULES,
    URI_ARGUMENT_SPEC,
    lookup_domain,
    open_connection,
    require_libvirt,
)
from ansible_collections.virtops.libvirt.plugins.module_utils._power_runner import (
    PowerRequest,
    PowerRunner,
)
from ansible_collections.virtops.libvirt.plugins.module_utils._power_transitions import (
    DESIRED_STATES,
    STATE_ALIASES,
)

ARGUMENT_SPEC: dict[str, Any] = {
    **URI_ARGUMENT_SPEC,
    **DOMAIN_IDENTITY_ARGUMENT_SPEC,
    "state": {"type": "str", "required": True, "choices": [*DESIRED_STATES, *STATE_ALIASES]},
    "shutdown_mode": {"type": "list", "elements": "str", "choices": ["acpi", "agent"]},
    "timeout": {"type": "float", "default": 120},
    "retry_interval": {"type": "float", "default": 10},
    "on_timeout": {"type": "str", "choices": ["fail", "force"], "default": "fail"},
    "wait": {"type": "bool", "default": True},
}
ARGUMENT_RULES: dict[str, Any] = dict(DOMAIN_IDENTITY_RULES)


def request_from_params(params: dict[str, Any], check_mode: bool) -> PowerRequest:
    for option in ("timeout", "retry_interval"):
        if params[option] < 0:
            raise VirtOpsError(f"{option} must be 0 or more, got {params[option]:g}.")
    return PowerRequest(
        state=params["state"],
        shutdown_mode=params["shutdown_mode"] or None,
        timeout=params["timeout"],
        retry_interval=params["retry_interval"],
        on_timeout=params["on_timeout"],
        wait=params["wait"],
        check_mode=check_mode,
    )


def run(module) -> None:
    """Run virt_power for the module's parameters; never returns."""
    require_libvirt(module)
    params = module.params
    try:
        request = request_from_params(params, module.check_mode)
        conn = open_connection(params["uri"], events=not module.check_mode)
        try:
            domain = lookup_domain(conn, params["uri"], params["name"], params["uuid"])
            outcome = PowerRunner(conn, domain, request).run()
        finally:
            conn.close()
    except VirtOpsError as err:
        module.fail_json(msg=err.msg, changed=bool(err.result.get("actions")), **err.result)
    module.exit_json(**outcome.as_result())
