# Copyright: (c) 2026, virtops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bringing a domain to a power state: read the state, plan with the transition
table, then (unless in check mode) send each step and wait for it to finish.

The domain may change under us, and the daemon may restart while we wait:
- a state libvirt passes through while it works on the domain (paused while
  starting up, migrating, saving, ...) is waited out, then planned from;
- a step libvirt refuses as invalid in the state the domain is in now (another
  client got there first) is re-planned from the state read again;
- a broken connection is opened again within what is left of the timeout, the
  domain looked up again by UUID and watched anew, and the run carries on.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ansible_collections.virtops.libvirt.plugins.module_utils._core.client import Connection, libvirt
from ansible_collections.virtops.libvirt.plugins.module_utils._core.errors import (
    ConnectionLostError,
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
UNKNOWN = DomainStatus("unknown", "unknown")
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
# How often a run plans again after libvirt refused a step the domain no longer allows.
MAX_PLANS = 4
# How often a run opens the connection again after it broke.
MAX_RECONNECTS = 5

# virDomainShutdownFlagValues and virDomainRebootFlagValues share these values.
MODE_FLAGS = {
    "acpi": libvirt.VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN if libvirt else 1,
    "agent": libvirt.VIR_DOMAIN_SHUTDOWN_GUEST_AGENT if libvirt else 2,
}
# What on_timeout=force did, by the step that replaced the graceful one.
FORCED_WORDS = {"destroy": "powered off", "reset": "reset"}
# What a guest cannot do while paused, by graceful step.
PAUSED_CANNOT = {"shutdown": "shut down", "reboot": "reboot", "await_off": "finish shutting down"}


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
    """What happened, as the module returns it (``warnings`` become Ansible warnings)."""

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
    warnings: list[str] = field(default_factory=list)

    def as_result(self) -> dict[str, Any]:
        return dict(self.__dict__)


class PowerRunner:
    """Drives one domain to one desired power state.

    ``clock`` and ``sleep`` pace every wait; tests pass a fake clock's, so waits
    take no real time (``sleep=None`` waits for libvirt's events).
    """

    def __init__(
        self,
        conn: Connection,
        domain,
        request: PowerRequest,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] | None = None,
        generation: int | None = None,
    ) -> None:
        self.conn = conn
        self.domain = domain
        self.request = request
        self.desired = canonical_state(request.state)
        self.clock = clock
        self.sleep = sleep
        self.name = domain.name()
        self.uuid = domain.UUIDString()
        self.actions: list[str] = []
        self.warnings: list[str] = []
        self.forced = False
        self.gone = False
        self._started = clock()
        self._watch: DomainWatch | None = None
        self._reboots_before_reconnect = 0
        self._reconnects = 0
        self._doing = f"bringing domain '{self.name}' to state={request.state}"
        self._deadline: float | None = None
        self._before: DomainStatus | None = None
        self._last: DomainStatus | None = None
        # The connection's generation the handle comes from (a batch's listing may be older than this run).
        self._generation = conn.generation if generation is None else generation
        # A handle from before the connection was opened again is dead: it is found again here.
        self.transient = not self._call("read whether it is persistent", lambda: self.domain.isPersistent)

    @property
    def watch(self) -> DomainWatch:
        """The watch on the domain (run() makes it; a reconnect replaces it)."""
        if self._watch is None:
            raise RuntimeError("only run() waits")  # a programming error, never a user's
        return self._watch

    # -- reading -----------------------------------------------------------
    def status(self, recover: bool = True) -> DomainStatus:
        """The domain's state now; a broken connection is opened again first (unless ``recover`` is false)."""
        while not self.gone:
            try:
                self._last = read_status(self.conn, self.domain, self.name)
                return self._last
            except DomainVanishedError:
                self.gone = True
            except ConnectionLostError as err:
                if not recover:
                    raise
                self._recover(err)
        return GONE

    def elapsed(self) -> float:
        return round(self.clock() - self._started, 3)

    def partial(self, status: DomainStatus | None = None) -> dict[str, Any]:
        """Result fields to attach to an error: every field a success returns."""
        if status is None:
            try:
                status = self.status(recover=False)
            except VirtOpsError:  # the daemon is gone too: report what was last seen
                status = self._last or UNKNOWN
        return {
            "changed": bool(self.actions),
            "state": status.state,
            "reason": status.reason,
            "previous_state": self._before.state if self._before else status.state,
            "actions": list(self.actions),
            "forced": self.forced,
            "elapsed": self.elapsed(),
            "name": self.name,
            "uuid": self.uuid,
            "id": self._domain_id(status),
        }

    # -- the sequence --------------------------------------------------------
    def run(self) -> PowerOutcome:
        self._watch = DomainWatch(self.conn, self.domain)
        try:
            before = self._before = self._settle()
            steps = self._plan(before)
            if self.request.check_mode:
                self.actions = [self._label(step, self._first_mode()) for step in steps if step.label]
                after = before
            else:
                steps = self._converge(before, steps)
                after = self.status()
        except VirtOpsError as err:
            # Whatever failed, say what had already been sent and where the domain is now.
            err.result = {**self.partial(), **err.result}
            raise
        finally:
            self._watch.close()
        return PowerOutcome(
            state=after.state,
            previous_state=before.state,
            reason=after.reason,
            changed=bool(self.actions) or bool(steps) or self.desired in ALWAYS_CHANGED,
            elapsed=self.elapsed(),
            actions=self.actions,
            forced=self.forced,
            name=self.name,
            uuid=self.uuid,
            id=self._domain_id(after),
            warnings=self.warnings,
        )

    def _plan(self, status: DomainStatus) -> tuple[Step, ...]:
        steps = plan(self.desired, status.state)
        if isinstance(steps, Refusal):
            raise VirtOpsError(
                f"Domain '{self.name}' cannot be brought to state={self.request.state} from {status.state} ({status.reason}): {steps.why}.",
                **self.partial(status),
            )
        return steps

    def _settle(self) -> DomainStatus:
        """The domain's state once an operation libvirt has under way on it (start-up,
        migration, save, dump, snapshot, shutdown) is over: such a pause is not a user's."""
        status = self.status()
        if not status.transient:
            return status
        settled: list[DomainStatus] = []

        def reached() -> bool:
            now = self.status()
            if not now.transient:
                settled.append(now)
            return bool(settled)

        if self._wait(reached, f"domain '{self.name}' to finish {status.reason}"):
            return settled[0] if settled else GONE
        now = self.status()
        raise VirtOpsError(
            f"Domain '{self.name}' is still {now} after timeout={self.request.timeout:g} s: libvirt is in the "
            f"middle of an operation on it ({now.reason}), which is waited out rather than acted on. Run the task "
            "again once it is over, or raise timeout.",
            **self.partial(now),
        )

    def _converge(self, status: DomainStatus, steps: tuple[Step, ...]) -> tuple[Step, ...]:
        """Execute the plan; when the domain changed under us, plan again from where it is now.

        Returns the steps of the plan that completed."""
        for attempt in range(1, MAX_PLANS + 1):
            try:
                self._execute(steps)
                return steps
            except ConnectionLostError as err:
                if attempt == MAX_PLANS:
                    raise
                self._recover(err)  # the step may or may not have happened: read and plan again
                now = self._settle()
            except LibvirtCallError as err:
                if err.code != libvirt.VIR_ERR_OPERATION_INVALID or attempt == MAX_PLANS:
                    raise
                now = self._settle()
                if now == status:  # nothing changed: the refusal stands
                    raise
            status, steps = now, self._plan(now)
        return steps  # not reached: the last attempt returns or raises

    def _domain_id(self, status: DomainStatus) -> int | None:
        """The domain's current ID (a domain handle keeps the ID it was looked up with)."""
        if self.gone or status.state in OFF_STATES or self.conn.raw is None:
            return None
        try:
            domain = self.conn.find(uuid=self.uuid)
        except VirtOpsError:
            return None
        domain_id = domain.ID() if domain is not None else -1
        return domain_id if domain_id >= 0 else None

    def _execute(self, steps: tuple[Step, ...]) -> None:
        for index, step in enumerate(steps):
            if self.gone:
                raise DomainVanishedError(f"Domain '{self.name}' vanished before it could {step.text}.", **self.partial())
            last = index == len(steps) - 1
            getattr(self, f"_do_{step.name}")(wait=self.request.wait or not last)
        if self.gone and not (self.transient and self.desired in ("shutdown", "destroyed")):
            raise DomainVanishedError(
                f"Domain '{self.name}' vanished (it was undefined elsewhere) while being brought to "
                f"state={self.request.state}; sent: {', '.join(self.actions) or 'nothing'}.",
                **self.partial(),
            )

    # -- a broken connection ------------------------------------------------------
    def _recover(self, err: ConnectionLostError) -> None:
        """The connection broke (the daemon restarted?): open it again within what is left
        of the timeout, look the domain up again by UUID and watch it anew."""
        lost_at = self.clock()
        deadline = self._deadline if self._deadline is not None else lost_at + self.request.timeout
        if self._watch is not None:
            self._reboots_before_reconnect += self._watch.reboots
            self._watch.close()  # its connection is dead: nothing to deregister there
        self._reconnects += 1
        try:
            if self._reconnects > MAX_RECONNECTS:
                raise ConnectionLostError(f"it broke {MAX_RECONNECTS} times", None, err.text)
            self.conn.reconnect(deadline, self.clock, self.sleep or time.sleep, self._generation)
            domain = self.conn.find(uuid=self.uuid)
        except VirtOpsError as failed:
            last = self._last or UNKNOWN
            raise VirtOpsError(
                f"The connection to libvirt at URI '{self.conn.shown_uri}' broke while {self._doing} "
                f"({err.text}), and it could not be opened again within the "
                f"{max(deadline - lost_at, 0):.1f} s left of timeout={self.request.timeout:g} s "
                f"({failed.msg}). Sent: {', '.join(self.actions) or 'nothing'}. The domain was last seen {last}. "
                "Check that the libvirt daemon runs, then run the task again.",
                **self.partial(last),
            ) from None
        self._generation = self.conn.generation
        if domain is None:
            self.gone = True
        else:
            self.domain = domain
            self._watch = DomainWatch(self.conn, domain)
        self.warnings.append(
            f"The connection to libvirt at URI '{self.conn.shown_uri}' broke while {self._doing} "
            f"({err.text}); it was opened again after {self.clock() - lost_at:.1f} s and the run carried on."
        )

    def _call(self, what: str, method: Callable[[], Callable[..., Any]], *args: Any) -> Any:
        """A call that is sent again once a broken connection is open again (for requests
        that may safely arrive twice). ``method`` returns the bound method of the current domain handle."""
        while True:
            try:
                return self.conn.call(what, method(), *args, domain=self.name)
            except ConnectionLostError as err:
                self._recover(err)
                if self.gone:
                    raise DomainVanishedError(f"Domain '{self.name}' vanished while the connection to libvirt was down.", libvirt.VIR_ERR_NO_DOMAIN) from None

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
        if wait and not self._wait(lambda: self.status().state == "running", f"domain '{self.name}' to wake up"):
            raise VirtOpsError(f"Domain '{self.name}' did not wake up within {self.request.timeout:g} s; it is now {self.status().state}.", **self.partial())

    def _do_shutdown(self, wait: bool) -> None:
        self._graceful(STEPS["shutdown"], lambda: self.domain.shutdownFlags, self._is_off, wait)

    def _do_await_off(self, wait: bool) -> None:
        self._graceful(STEPS["await_off"], None, self._is_off, wait=True)

    def _do_reboot(self, wait: bool) -> None:
        if not self.watch.observes_reboots:
            self._request(STEPS["reboot"], lambda: self.domain.reboot)
            return
        reboots = self._reboots()
        # A guest whose <on_reboot> is destroy powers off instead: stop waiting at once.
        self._graceful(
            STEPS["reboot"], lambda: self.domain.reboot, lambda: self._is_off() or (self._reboots() > reboots and self.status().state == "running"), wait
        )

    def _reboots(self) -> int:
        return self._reboots_before_reconnect + self.watch.reboots

    # -- graceful transitions ----------------------------------------------------
    def _is_off(self) -> bool:
        return self.status().state in OFF_STATES

    def _graceful(self, step: Step, method: Callable[[], Callable[..., Any]] | None, reached: Callable[[], bool], wait: bool) -> None:
        if method is not None:
            self._request(step, method)
        if not wait:
            return
        retry = (lambda: self._request(step, method, retrying=True)) if method is not None else None
        done = self._wait(reached, f"domain '{self.name}' to finish a {step.text}", retry)
        if self.gone:
            return
        now = self.status()
        if step.name == "reboot" and now.state in OFF_STATES:
            self._start_again(now)
        elif not done:
            self._timed_out(step, now)

    def _start_again(self, now: DomainStatus) -> None:
        """The guest powered off instead of rebooting: state=restarted ends running, so start it."""
        self.warnings.append(
            f"Domain '{self.name}' powered off instead of rebooting (libvirt: {now}); its <on_reboot> action may be "
            "destroy. It was started again, as state=restarted ends running."
        )
        self._do_start(wait=True)

    def _timed_out(self, step: Step, now: DomainStatus) -> None:
        forced_by = step.forced_by or "destroy"  # every graceful step names its forced fallback
        waited = f"within timeout={self.request.timeout:g} s (waited {self.elapsed():.1f} s"
        paused = now.state == "paused" and not now.transient
        cause = f" It had been {now.paused_by()}." if paused else ""
        if self.request.on_timeout == "force":
            self.forced = True
            getattr(self, f"_do_{forced_by}")(wait=True)
            self.warnings.append(f"Domain '{self.name}' was {FORCED_WORDS[forced_by]} (on_timeout=force): it did not finish a {step.text} {waited}).{cause}")
            return
        sent = ", ".join(self.actions) or "nothing (it was already shutting down)"
        head = f"Domain '{self.name}' did not finish a {step.text} {waited}; sent: {sent}); it is now {now.state} ({now.reason})."
        force = f"set on_timeout=force to {STEPS[forced_by].text} after the timeout"
        if paused:
            advice = (
                f" It was {now.paused_by()} while being waited for, and a paused guest cannot "
                f"{PAUSED_CANNOT[step.name]}. Resume it (virsh resume {self.name}) and run the task again, "
                f"or {force}."
            )
        elif now.transient:
            advice = f" libvirt is in the middle of an operation on it ({now.reason}). Run the task again once it is over, raise timeout, or {force}."
        else:
            advice = f" The guest may ignore the request: check that it handles ACPI or runs a guest agent, raise timeout, or {force}."
        raise VirtOpsError(head + advice, **self.partial(now))

    def _wait(self, reached: Callable[[], bool], what: str, retry: Callable[[], None] | None = None) -> bool:
        """Wait until ``reached()`` or the domain is gone (the caller decides what gone means)."""
        doing, self._doing = self._doing, f"waiting for {what}"
        self._deadline = self.clock() + self.request.timeout
        try:
            return wait_until(
                lambda: self.watch, lambda: reached() or self.gone, self.request.timeout, retry, self.request.retry_interval, self.clock, self.sleep
            )
        finally:
            self._doing, self._deadline = doing, None

    def _first_mode(self) -> str | None:
        return self.request.shutdown_mode[0] if self.request.shutdown_mode else None

    @staticmethod
    def _label(step: Step, mode: str | None) -> str:
        return f"{step.label}:{mode}" if mode and step.graceful else step.label

    def _request(self, step: Step, method: Callable[[], Callable[..., Any]], retrying: bool = False) -> None:
        """Send a graceful request, trying each shutdown_mode in order. When libvirt refuses
        every one as invalid now, the LibvirtCallError says so (the caller plans again)."""
        refusals: list[tuple[str, LibvirtCallError]] = []
        modes: list[str | None] = [*self.request.shutdown_mode] if self.request.shutdown_mode else [None]
        for mode in modes:
            try:
                self._call(f"send a {step.text} request", method, MODE_FLAGS[mode] if mode else 0)
            except DomainVanishedError:
                self.gone = True
                return
            except LibvirtCallError as err:
                refusals.append((mode or "default", err))
                continue
            self.actions.append(self._label(step, mode))
            return
        if retrying:
            return  # the domain may be going down already; the wait decides
        text = "; ".join(f"{mode}: {err.text}" for mode, err in refusals)
        invalid_now = all(err.code == libvirt.VIR_ERR_OPERATION_INVALID for _mode, err in refusals)
        raise LibvirtCallError(
            f"Domain '{self.name}': libvirt refused the {step.text} request ({text}).",
            libvirt.VIR_ERR_OPERATION_INVALID if invalid_now else refusals[-1][1].code,
            text,
            **self.partial(),
        )
