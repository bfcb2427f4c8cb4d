# Copyright: (c) 2026, virtops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""virt_power for many domains of one hypervisor in one run (option ``names``).

One connection; the states of all domains are read in a few calls (read_all); a
domain already in the desired state gets its outcome from that reading alone,
every other one is driven by its own PowerRunner, all of them at once (at most
``max_in_flight`` at a time), each waiting on lifecycle events with its own
timeout. A domain that fails never stops the others: its outcome says why.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from ansible_collections.virtops.libvirt.plugins.module_utils._core.client import Connection
from ansible_collections.virtops.libvirt.plugins.module_utils._core.errors import VirtOpsError
from ansible_collections.virtops.libvirt.plugins.module_utils._core.states import Listed, read_all
from ansible_collections.virtops.libvirt.plugins.module_utils._power.runner import (
    NOT_FOUND,
    OFF_STATES,
    PowerOutcome,
    PowerRequest,
    PowerRunner,
)
from ansible_collections.virtops.libvirt.plugins.module_utils._power.transitions import (
    ALWAYS_CHANGED,
    canonical_state,
    plan,
)
from ansible_collections.virtops.libvirt.plugins.module_utils._power.usable import NOTHING_SEEN, UsableRequest, UsableWaiter

# The fields of a domain's outcome that nothing could find out.
UNKNOWN_OUTCOME: dict[str, Any] = {**NOT_FOUND, "uuid": None, "changed": False}


@dataclass
class BatchRequest:
    """What the user asked for: the same request for each named domain."""

    names: list[str]
    power: PowerRequest
    max_in_flight: int = 0
    usable: UsableRequest | None = None  # wait_for: each domain waited for once running


def settled(desired: str, listed: Listed) -> bool:
    """Whether the listing alone proves there is nothing to do (else a runner decides)."""
    status = listed.status
    if status is None or status.transient or desired in ALWAYS_CHANGED:
        return False
    return plan(desired, status.state) == ()


def unchanged(listed: Listed, elapsed: float) -> dict[str, Any]:
    status = listed.status
    if status is None:
        raise RuntimeError("only a settled domain is unchanged")  # a programming error, never a user's
    domain_id = listed.domain.ID() if status.state not in OFF_STATES else None
    return PowerOutcome(
        state=status.state,
        previous_state=status.state,
        reason=status.reason,
        changed=False,
        elapsed=elapsed,
        name=listed.domain.name(),
        uuid=listed.domain.UUIDString(),
        id=domain_id if domain_id is not None and domain_id >= 0 else None,
    ).as_result()


def failure(name: str, err: VirtOpsError, usable: bool = False) -> dict[str, Any]:
    unknown = {**UNKNOWN_OUTCOME, **NOTHING_SEEN} if usable else UNKNOWN_OUTCOME
    return {**unknown, "name": name, **err.result, "failed": True, "msg": err.msg}


def run_batch(
    conn: Connection, request: BatchRequest, clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] | None = None
) -> dict[str, Any]:
    """Every named domain brought to the state (and, with ``usable``, waited for until
    usable); the module's result (``domains``, ``totals``, ``changed``, ``warnings``).
    Outcomes come in the order of ``names``."""
    started = clock()
    desired = canonical_state(request.power.state)
    generation = conn.generation
    listed = read_all(conn, set(request.names))
    outcomes: dict[str, dict[str, Any]] = {}
    pending: list[str] = []
    for name in request.names:
        found = listed.get(name)
        if found is None:
            err = VirtOpsError(f"No domain named '{name}' at URI '{conn.shown_uri}'. List the defined domains with: virsh -c '{conn.shown_uri}' list --all")
            outcomes[name] = failure(name, err, request.usable is not None)
        elif settled(desired, found) and request.usable is None:
            outcomes[name] = {**unchanged(found, round(clock() - started, 3)), "failed": False}
        else:
            pending.append(name)

    def drive(name: str) -> dict[str, Any]:
        found = listed[name]
        try:
            if settled(desired, found):  # only waited for until usable
                domain, outcome = found.domain, unchanged(found, round(clock() - started, 3))
            else:
                runner = PowerRunner(conn, found.domain, request.power, clock, sleep, generation)
                outcome = runner.run().as_result()
                domain = runner.domain
            if request.usable is not None:
                outcome = UsableWaiter(conn, domain, request.usable, clock, sleep or time.sleep).result(outcome)
            return {**outcome, "failed": False}
        except VirtOpsError as err:
            return failure(name, err, request.usable is not None)

    if pending:
        workers = min(len(pending), request.max_in_flight or len(pending))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="virt_power") as pool:
            outcomes.update(zip(pending, pool.map(drive, pending)))
    domains = [outcomes[name] for name in request.names]
    warnings = [warning for outcome in domains for warning in outcome.pop("warnings", ())]
    return {
        "changed": any(outcome["changed"] for outcome in domains),
        "domains": domains,
        "totals": totals(domains, round(clock() - started, 3)),
        "warnings": warnings,
    }


def totals(domains: list[dict[str, Any]], elapsed: float) -> dict[str, Any]:
    slowest = max(domains, key=lambda outcome: outcome["elapsed"] or 0.0, default=None)
    return {
        "domains": len(domains),
        "changed": sum(1 for outcome in domains if outcome["changed"]),
        "failed": sum(1 for outcome in domains if outcome["failed"]),
        "forced": sum(1 for outcome in domains if outcome["forced"]),
        "slowest": {"name": slowest["name"], "elapsed": slowest["elapsed"]} if slowest is not None else None,
        "elapsed": elapsed,
    }


def failures_message(result: dict[str, Any], uri: str) -> str | None:
    """The module's message when domains failed (each named with why), else None."""
    failed = [outcome for outcome in result["domains"] if outcome["failed"]]
    if not failed:
        return None
    reasons = " ".join(f"[{outcome['name']}] {outcome['msg']}" for outcome in failed)
    done = result["totals"]["domains"] - len(failed)
    return f"{len(failed)} of {result['totals']['domains']} domain(s) at URI '{uri}' failed ({done} reached the state): {reasons}"
