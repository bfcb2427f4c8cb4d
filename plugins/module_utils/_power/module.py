# Copyright: (c) 2026, virtops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""virt_power's options and its one path from parameters to the result."""

from __future__ import annotations

from collections.abc import Callable
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
from ansible_collections.virtops.libvirt.plugins.module_utils._info.addresses import IP_SOURCES
from ansible_collections.virtops.libvirt.plugins.module_utils._power.batch import (
    BatchRequest,
    failures_message,
    run_batch,
)
from ansible_collections.virtops.libvirt.plugins.module_utils._power.runner import (
    NOT_FOUND,
    PowerRequest,
    PowerRunner,
)
from ansible_collections.virtops.libvirt.plugins.module_utils._power.transitions import (
    DESIRED_STATES,
    STATE_ALIASES,
    canonical_state,
)
from ansible_collections.virtops.libvirt.plugins.module_utils._power.usable import (
    NOTHING_SEEN,
    USABLE_STATES,
    WAIT_FOR,
    UsableRequest,
    UsableWaiter,
)

ARGUMENT_SPEC: dict[str, Any] = {
    **CONNECTION_ARGUMENT_SPEC,
    **DOMAIN_IDENTITY_ARGUMENT_SPEC,
    "names": {"type": "list", "elements": "str"},
    "max_in_flight": {"type": "int", "default": 0},
    "state": {"type": "str", "required": True, "choices": [*DESIRED_STATES, *STATE_ALIASES]},
    "shutdown_mode": {"type": "list", "elements": "str", "choices": ["acpi", "agent"]},
    "timeout": {"type": "float", "default": 120},
    "retry_interval": {"type": "float", "default": 10},
    "on_timeout": {"type": "str", "choices": ["fail", "force"], "default": "fail"},
    "wait": {"type": "bool", "default": True},
    "wait_for": {"type": "str", "choices": list(WAIT_FOR)},
    "wait_for_timeout": {"type": "float", "default": 300},
    "ip_sources": {"type": "list", "elements": "str", "choices": list(IP_SOURCES), "default": ["lease", "agent"]},
}
ARGUMENT_RULES: dict[str, Any] = {
    "required_one_of": [(*DOMAIN_IDENTITY_RULES["required_one_of"][0], "names")],
    "mutually_exclusive": [(*DOMAIN_IDENTITY_RULES["mutually_exclusive"][0], "names")],
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


def usable_from_params(params: dict[str, Any], check_mode: bool) -> UsableRequest | None:
    """What wait_for asks for, or None; VirtOpsError for a combination that cannot be honoured."""
    wait_for = params["wait_for"]
    timeout = seconds(params, "wait_for_timeout")
    if wait_for is None:
        return None
    if canonical_state(params["state"]) not in USABLE_STATES:
        raise VirtOpsError(
            f"Option wait_for waits for a running guest, so it takes a state that ends running ({', '.join(USABLE_STATES)}), not state={params['state']}."
        )
    if not params["wait"]:
        raise VirtOpsError("Option wait_for waits until the guest is usable, which wait=false would not: leave wait at true, or drop wait_for.")
    sources = tuple(dict.fromkeys(params["ip_sources"] or ()))
    if not sources:
        raise VirtOpsError("Option ip_sources is empty: with wait_for, list where to read the addresses (lease, agent, arp).")
    return UsableRequest(wait_for=wait_for, ip_sources=sources, timeout=timeout, check_mode=check_mode)


def batch_from_params(params: dict[str, Any], check_mode: bool, warn: Callable[[str], None]) -> BatchRequest:
    """The request of a run over ``names``: each name once, in the order given."""
    names: list[str] = []
    for index, name in enumerate(params["names"]):
        check_name(name, f"names[{index}]")
        if name in names:
            warn(f"Domain '{name}' is listed more than once in names; it is acted on once.")
        else:
            names.append(name)
    if params["max_in_flight"] < 0:
        raise VirtOpsError(f"Option max_in_flight must be 0 (every domain at once) or a positive number of domains, not {params['max_in_flight']}.")
    return BatchRequest(
        names=names,
        power=request_from_params({**params, "name": None}, check_mode),
        max_in_flight=params["max_in_flight"],
        usable=usable_from_params(params, check_mode),
    )


def run(module) -> None:
    """Run virt_power for the module's parameters; never returns."""
    params = module.params
    if params["names"] is not None:
        run_names(module)
    holder: dict[str, Any] = {}

    def check() -> None:
        holder["request"] = request_from_params(params, module.check_mode)
        holder["usable"] = usable_from_params(params, module.check_mode)

    def body(conn: Connection) -> dict[str, Any]:
        try:
            domain = conn.lookup(params["name"], params["uuid"])
        except VirtOpsError as err:  # no domain: every documented field, none of them known
            unknown = {**NOT_FOUND, **NOTHING_SEEN} if params["wait_for"] is not None else NOT_FOUND
            err.result = {**unknown, "name": params["name"], "uuid": params["uuid"], **err.result}
            raise
        runner = PowerRunner(conn, domain, holder["request"])
        outcome = runner.run().as_result()
        if holder["usable"] is None:
            return outcome
        return UsableWaiter(conn, runner.domain, holder["usable"]).result(outcome)

    run_module(module, body, events=not module.check_mode, needs_lxml=params["wait_for"] is not None, check=check)


def run_names(module) -> None:
    """virt_power over the domains of ``names``; never returns."""
    holder: dict[str, BatchRequest] = {}

    def check() -> None:
        holder["request"] = batch_from_params(module.params, module.check_mode, module.warn)

    def body(conn: Connection) -> dict[str, Any]:
        result = run_batch(conn, holder["request"])
        failed = failures_message(result, conn.shown_uri)
        if failed is not None:
            for warning in result.pop("warnings"):
                module.warn(warning)
            raise VirtOpsError(failed, **result)
        return result

    run_module(module, body, events=not module.check_mode, needs_lxml=module.params["wait_for"] is not None, check=check)
