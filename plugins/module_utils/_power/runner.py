# Copyright: (c) 2026, virtops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bringing a domain to a power state: read the state, plan with the transition
table, then (unless in check mode) send each step and wait for it to finish."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ansible_collections.virtops.libvirt.plugins.module_utils._core.client import Connection, libvirt
from ansible_collections.virtops.libvirt.plugins.module_utils._core.errors import (
    DomainVanishedError,
    LibvirtCallError,
    VirtOpsError,
)
from ansible_collections.virtops.libvirt.plugins.module_utils._core.events import (
    DomainWatch,
    wait_until,
)
from ansible_collections.virtops.libvirt.plugins.module_utils._core.states import (
    DomainStatus,
    read_status,
)
from ansible_collections.virtops.libvirt.plugins.module_utils._power.transitions import (
    ALWAYS_CHANGED,
    STEPS,
    Refusal,
    Step,
    canonical_state,
    plan,
)

OFF_STATES = ("shutoff", "saved")
GONE = DomainStatus("shutoff", "transient domain removed")

# virDomainShutdownFlagValues and virDomainRebootFlagValues share these values.
MODE_FLAGS = {
    "acpi": libvirt.VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN if libvirt else 1,
    "agent": libvirt.VIR_DOMAIN_SHUTDOWN_GUEST_AGENT if libvirt else 2,
}


@dataclass
class PowerRequest:
    """What the user asked for (the module's options)."""

    state: str
    shutdown_mode: list[str] | None = None
    timeout: float = 120
    retry_interval: float = 10
    on_timeout: str = "fail"
    wait: bool = True
    check_mode: bool = False


@dataclass
class PowerOutcome:
    """What happened, as the module returns it."""

    state: str
    previous_state: str
    reason: str
    changed: bool
    elapsed: float
    actions: list[str] = field(default_factory=list)
    forced: bool = False
    name: str = ""
    uuid: str = ""
    id: int | None = None

    def as_result(self) -> dict[str, Any]:
        return dict(self.__dict__)


class PowerRunner:
    """Drives one domain to one desired power state."""

    def __init__(self, conn: Connection, domain, request: PowerRequest, clock: Callable[[], float] = time.monotonic) -> None:
        self.conn = conn
        self.domain = domain
        self.request = request
        self.desired = canonical_state(request.state)
        self.clock = clock
        self.name = domain.name()
        self.uuid = domain.UUIDString()
        self.actions: list[str] = []
        self.forced = False
        self.gone = False
        self.transient = not conn.call("read whether it is persistent", domain.isPersistent, domain=self.name)
        self._started = clock()
        self._watch: DomainWatch | None = None
        self._before: DomainStatus | None = None
        self._last: DomainStatus | None = None

    # -- reading -----------------------------------------------------------
    def status(self) -> DomainStatus:
        if self.gone:
            return GONE
        try:
            self._last = read_status(self.conn, self.domain, self.name)
            return self._last
        except DomainVanishedError:
            self.gone = True
            return GONE

    def elapsed(self) -> float:
        return round(self.clock() - self._started, 3)

    def partial(self, status: DomainStatus | None = None) -> dict[str, Any]:
        """Result fields to attach to an error: every field a success returns."""
        if status is None:
            try:
                status = self.status()
            except VirtOpsError:  # the daemon is gone too: report what was last seen
                status = self._last or DomainStatus("unknown", "unknown")
        return {
            "changed": bool(self.actions), "state": status.state, "reason": status.reason,
            "previous_state": self._before.state if self._before else status.state,
            "actions": list(self.actions), "forced": self.forced, "elapsed": self.elapsed(),
            "name": self.name, "uuid": self.uuid, "id": None if self.gone else self._domain_id(status),
        }

    # -- the sequence --------------------------------------------------------
    def run(self) -> PowerOutcome:
        before = self._before = self.status()
        steps = plan(self.desired, before.state)
        if isinstance(steps, Refusal):
            raise VirtOpsError(
                f"Domain '{self.name}' cannot be brought to state={self.request.state} "
                f"from {before.state} ({before.reason}): {steps.why}.",
                **self.partial(before),
            )
        if self.request.check_mode:
            self.actions = [self._label(step, self._first_mode()) for step in steps if step.label]
            after = before
        else:
            try:
                self._execute(steps)
            except VirtOpsError as err:
                # Whatever failed, say what had already been sent and where the domain is now.
                err.result = {**self.partial(), **err.result}
                raise
            finally:
                if self._watch:
                    self._watch.close()
            after = self.status()
        return PowerOutcome(
            state=after.state,
            previous_state=before.state,
            reason=after.reason,
            changed=bool(steps) or self.desired in ALWAYS_CHANGED,
            elapsed=self.elapsed(),
            actions=self.actions,
            forced=self.forced,
            name=self.name,
            uuid=self.uuid,
            id=self._domain_id(after),
        )

    def _domain_id(self, status: DomainStatus) -> int | None:
        """The domain's current ID (a domain handle keeps the ID it was looked up with)."""
        if self.gone or status.state in OFF_STATES:
            return None
        try:
            domain = self.conn.find(uuid=self.uuid)
        except VirtOpsError:
            return None
        domain_id = domain.ID() if domain is not None else -1
        return domain_id if domain_id >= 0 else None

    def _execute(self, steps: tuple[Step, ...]) -> None:
        if any(step.graceful or step.name == "wake" for step in steps):
            self._watch = DomainWatch(self.conn, self.domain)
        for index, step in enumerate(steps):
            if self.gone:
                raise DomainVanishedError(
                    f"Domain '{self.name}' vanished before it could {step.text}.", **self.partial())
            last = index == len(steps) - 1
            getattr(self, f"_do_{step.name}")(wait=self.request.wait or not last)
        if self.gone and not (self.transient and self.desired in ("shutdown", "destroyed")):
            raise DomainVanishedError(
                f"Domain '{self.name}' vanished (it was undefined elsewhere) while being brought to "
                f"state={self.request.state}; sent: {', '.join(self.actions) or 'nothing'}.",
                **self.partial())

    # -- single steps ----------------------------------------------------------
    def _send(self, label: str, what: str, func, *args) -> None:
        try:
            self.conn.call(what, func, *args, domain=self.name)
        except DomainVanishedError:
            self.gone = True
            raise
        self.actions.append(label)

    def _do_start(self, wait: bool) -> None:
        self._send("start", "start it", self.domain.create)

    def _do_start_paused(self, wait: bool) -> None:
        self._send("start:paused", "start it paused", self.domain.createWithFlags, libvirt.VIR_DOMAIN_START_PAUSED)

    def _do_resume(self, wait: bool) -> None:
        self._send("resume", "resume it", self.domain.resume)

    def _do_suspend(self, wait: bool) -> None:
        self._send("suspend", "suspend it", self.domain.suspend)

    def _do_managed_save(self, wait: bool) -> None:
        self._send("managedsave", "save it (managed save)", self.domain.managedSave, 0)

    def _do_reset(self, wait: bool) -> None:
        self._send("reset", "reset it", self.domain.reset, 0)

    def _do_destroy(self, wait: bool) -> None:
        try:
            self._send("destroy", "power it off", self.domain.destroy)
        except DomainVanishedError:
            # A transient domain that is already gone is as off as it gets.
            self.actions.append("destroy")
        self.status()  # notices a transient domain that destroy removed

    def _do_wake(self, wait: bool) -> None:
        self._send("wake", "wake it up", self.domain.pMWakeup, 0)
        if wait and not self._wait(lambda: self.status().state == "running"):
            raise VirtOpsError(
                f"Domain '{self.name}' did not wake up within {self.request.timeout:g} s; "
                f"it is now {self.status().state}.", **self.partial())

    def _do_shutdown(self, wait: bool) -> None:
        self._graceful(STEPS["shutdown"], self.domain.shutdownFlags, self._is_off, wait)

    def _do_await_off(self, wait: bool) -> None:
        self._graceful(STEPS["await_off"], None, self._is_off, wait=True)

    def _do_reboot(self, wait: bool) -> None:
        watch = self._watch
        if not watch.observes_reboots:
            self._request(STEPS["reboot"], self.domain.reboot)
            return
        reboots = watch.reboots
        self._graceful(STEPS["reboot"], self.domain.reboot,
                       lambda: watch.reboots > reboots and self.status().state == "running", wait)

    # -- graceful transitions ----------------------------------------------------
    def _is_off(self) -> bool:
        return self.status().state in OFF_STATES

    def _graceful(self, step: Step, func, reached: Callable[[], bool], wait: bool) -> None:
        if func is not None:
            self._request(step, func)
        if not wait:
            return
        retry = (lambda: self._request(step, func, retrying=True)) if func is not None else None
        if self._wait(reached, retry) or self.gone:
            return
        now = self.status()
        if self.request.on_timeout == "force":
            self.forced = True
            getattr(self, f"_do_{step.forced_by}")(wait=True)
            return
        sent = ", ".join(self.actions) or "nothing (it was already shutting down)"
        raise VirtOpsError(
            f"Domain '{self.name}' did not finish a {step.text} within timeout={self.request.timeout:g} s "
            f"(waited {self.elapsed():.1f} s; sent: {sent}); it is now {now.state} ({now.reason}). "
            f"The guest may ignore the request: check that it handles ACPI or runs a guest agent, "
            f"raise timeout, or set on_timeout=force to {STEPS[step.forced_by].text} after the timeout.",
            **self.partial(now),
        )

    def _wait(self, reached: Callable[[], bool], retry: Callable[[], None] | None = None) -> bool:
        """Wait until ``reached()`` or the domain is gone (the caller decides what gone means)."""
        return wait_until(self._watch, lambda: reached() or self.gone, self.request.timeout, retry,
                          self.request.retry_interval, self.clock)

    def _first_mode(self) -> str | None:
        return self.request.shutdown_mode[0] if self.request.shutdown_mode else None

    @staticmethod
    def _label(step: Step, mode: str | None) -> str:
        return f"{step.label}:{mode}" if mode and step.graceful else step.label

    def _request(self, step: Step, func, retrying: bool = False) -> None:
        """Send a graceful request, trying each shutdown_mode in order."""
        failures = []
        for mode in self.request.shutdown_mode or [None]:
            try:
                self.conn.call(f"send a {step.text} request", func, MODE_FLAGS[mode] if mode else 0, domain=self.name)
            except DomainVanishedError:
                self.gone = True
                return
            except LibvirtCallError as err:
                failures.append(f"{mode or 'default'}: {err.text}")
                continue
            self.actions.append(self._label(step, mode))
            return
        if retrying:
            return  # the domain may be going down already; the wait decides
        raise VirtOpsError(
            f"Domain '{self.name}': libvirt refused the {step.text} request "
            f"({'; '.join(failures)}).", **self.partial())
