# Copyright: (c) 2026, virtops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Waiting until a running guest is usable (virt_power's ``wait_for``): its QEMU
guest agent answers (``agent``), or it has a usable address from ``ip_sources``
(``ip``). Then the addresses it has, each with the network of its NIC.

Only reads: the wait never changes the domain and never makes a run changed. It
polls every POLL_INTERVAL seconds until the deadline of its own
(``wait_for_timeout``); a guest that stops meanwhile ends it at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ansible_collections.virtops.libvirt.plugins.module_utils._core.agent import agent_ping
from ansible_collections.virtops.libvirt.plugins.module_utils._core.client import Connection
from ansible_collections.virtops.libvirt.plugins.module_utils._core.errors import LibvirtCallError, VirtOpsError
from ansible_collections.virtops.libvirt.plugins.module_utils._core.states import read_status
from ansible_collections.virtops.libvirt.plugins.module_utils._info.addresses import (
    Address,
    lease_expiries,
    on_networks,
    pick,
    read_addresses,
    read_nics,
)
from ansible_collections.virtops.libvirt.plugins.module_utils._power.transitions import TARGET_STATES

WAIT_FOR = ("agent", "ip")
# The desired states a wait_for makes sense for: those that end with the domain running.
USABLE_STATES = tuple(desired for desired, ends in TARGET_STATES.items() if ends == ("running",))
POLL_INTERVAL = 1.0
# The longest wait for one guest-ping answer (a hung agent must not eat the whole timeout).
PING_SECONDS = 5.0
WHAT = {"agent": "its QEMU guest agent to answer", "ip": "a usable IP address"}
# The fields of a result with wait_for, when nothing could find them out.
NOTHING_SEEN: dict[str, Any] = {"addresses": [], "ip": None, "wait_for_seconds": 0.0, "waited": False}


@dataclass(frozen=True)
class UsableRequest:
    """What to wait for (the module's wait_for, ip_sources, wait_for_timeout)."""

    wait_for: str
    ip_sources: tuple[str, ...] = ("lease", "agent")
    timeout: float = 300
    check_mode: bool = False


class UsableWaiter:
    """Waits for one running domain to be usable; ``result()`` gives the fields a run adds.

    ``clock`` and ``sleep`` pace the wait (tests pass a fake clock's)."""

    def __init__(
        self,
        conn: Connection,
        domain: Any,
        request: UsableRequest,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.conn = conn
        self.domain = domain
        self.name = domain.name()
        self.request = request
        self.clock = clock
        self.sleep = sleep
        self.last = "nothing read yet"
        self.stale: dict[tuple[str, str], int] | None = None

    def result(self, outcome: dict[str, Any]) -> dict[str, Any]:
        """``outcome`` (a power run's result, the domain now running) with the addresses,
        ``ip``, ``wait_for_seconds`` and ``waited``. In check mode, the addresses it has
        now, without waiting. VirtOpsError carrying all of it when the time is up."""
        started = self.clock()
        if self.request.check_mode:
            present = self._addresses() if outcome.get("state") == "running" else []
            return self._with(outcome, self._on_networks(present), 0.0, waited=False)
        deadline = started + self.request.timeout
        try:
            if self._started_by_this_run(outcome) and "lease" in self.request.ip_sources:
                self.stale = lease_expiries(self.conn, self.domain, self.name)
            while True:
                found = self._usable()
                if found is not None:
                    return self._with(outcome, self._on_networks(found), self.clock() - started)
                now = self.clock()
                if now >= deadline:
                    raise VirtOpsError(self._timed_out(outcome, now - started))
                self.sleep(min(POLL_INTERVAL, deadline - now))
        except VirtOpsError as err:  # whatever ended the wait, the run's result goes with it
            err.result = {**self._with(outcome, [], self.clock() - started), **err.result}
            raise

    def _on_networks(self, found: list[Address]) -> list[Address]:
        return on_networks(found, read_nics(self.conn, self.domain, self.name)) if found else found

    @staticmethod
    def _with(outcome: dict[str, Any], found: list[Address], seconds: float, waited: bool = True) -> dict[str, Any]:
        """The outcome with the fields of the wait (its time counted in ``elapsed`` too)."""
        chosen = pick(found)
        return {
            **outcome,
            "elapsed": round((outcome.get("elapsed") or 0.0) + seconds, 3),
            "addresses": [address.as_dict() for address in found],
            "ip": chosen.address if chosen else None,
            "wait_for_seconds": round(seconds, 3),
            "waited": waited,
        }

    def _usable(self) -> list[Address] | None:
        """The addresses once the guest is usable, else None (``last`` says what was seen)."""
        status = read_status(self.conn, self.domain, self.name)
        if status.state != "running":
            raise VirtOpsError(
                f"Domain '{self.name}' stopped running while waiting for {WHAT[self.request.wait_for]} (wait_for={self.request.wait_for}): "
                f"it is now {status}. Look at the guest's console or log, then run the task again.",
                state=status.state,
                reason=status.reason,
            )
        if self.request.wait_for == "agent":
            try:
                agent_ping(self.conn, self.domain, self.name, PING_SECONDS)
            except LibvirtCallError as err:
                self.last = f"the agent: {err.text}"
                return None
            return self._addresses()
        found = self._addresses()
        return found or None

    @staticmethod
    def _started_by_this_run(outcome: dict[str, Any]) -> bool:
        """Whether the guest booted in this run: then the DHCP leases it had before are
        from its earlier life (a lease outlives a VM made again with the same MAC)."""
        return any(str(action).split(":", 1)[0] in ("start", "reboot", "reset") for action in outcome.get("actions") or ())

    def _addresses(self) -> list[Address]:
        found, failures = read_addresses(self.conn, self.domain, self.name, self.request.ip_sources, stale=self.stale)
        if not found:
            failed = {failure.source: failure.error.text for failure in failures}
            self.last = "no usable address (" + "; ".join(f"{source}: {failed.get(source, 'none')}" for source in self.request.ip_sources) + ")"
        return found

    def _timed_out(self, outcome: dict[str, Any], waited: float) -> str:
        actions = outcome.get("actions") or []
        if "start" in actions or "start:paused" in actions:
            by = "this run started it"
        elif actions:
            by = f"this run sent: {', '.join(actions)}"
        else:
            by = "it was running already"
        advice = (
            "Check that qemu-guest-agent runs in the guest and that the domain has the channel org.qemu.guest_agent.0"
            if self.request.wait_for == "agent"
            else f"Check that the guest configures its network and that ip_sources ({', '.join(self.request.ip_sources)}) can see its address"
        )
        return (
            f"Gave up waiting for {WHAT[self.request.wait_for]} (wait_for={self.request.wait_for}) after {waited:.1f} s "
            f"(wait_for_timeout={self.request.timeout:g} s): domain '{self.name}' is running ({by}); last seen: {self.last}. "
            f"{advice}, or raise wait_for_timeout."
        )
