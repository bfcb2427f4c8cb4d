# Copyright: (c) 2026, virtops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Waiting for a domain to change state: libvirt lifecycle events wake the waiter
the moment something happens; where the connection delivers no events the waiter
polls. A predicate, a clock and a sleep, nothing else."""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections.abc import Callable
from typing import Any

from ansible_collections.virtops.libvirt.plugins.module_utils._core.client import Connection, libvirt

# How often the state is re-read anyway: a safety net with events, the
# mechanism without them.
POLL_WITH_EVENTS = 1.0
POLL_WITHOUT_EVENTS = 0.1


class DomainWatch:
    """Collects one domain's lifecycle and reboot events and wakes waiters.

    Events come only on a connection opened with ``events=True`` (the event loop
    runs before it is opened); on any other the watch polls. A watch belongs to one
    connection: after a reconnect, make a new one.
    """

    def __init__(self, connection: Connection, domain: Any) -> None:
        conn = connection.raw
        self._conn = conn
        self._cond = threading.Condition()
        self._seq = 0
        self._reboots = 0
        self._callbacks: list[int] = []
        if connection.events:
            try:
                self._callbacks.append(conn.domainEventRegisterAny(domain, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, self._on_lifecycle, None))
                self._callbacks.append(conn.domainEventRegisterAny(domain, libvirt.VIR_DOMAIN_EVENT_ID_REBOOT, self._on_reboot, None))
            except libvirt.libvirtError:
                self.close()
        self.evented = len(self._callbacks) == 2
        # Only the QEMU driver reports a guest's reboot as an event; elsewhere a
        # reboot cannot be observed and counts as done once libvirt accepts it.
        try:
            self.observes_reboots = self.evented and conn.getType() == "QEMU"
        except libvirt.libvirtError:
            self.observes_reboots = False

    def _on_lifecycle(self, _conn, _dom, _event, _detail, _opaque) -> None:
        with self._cond:
            self._seq += 1
            self._cond.notify_all()

    def _on_reboot(self, _conn, _dom, _opaque) -> None:
        with self._cond:
            self._seq += 1
            self._reboots += 1
            self._cond.notify_all()

    @property
    def reboots(self) -> int:
        with self._cond:
            return self._reboots

    @property
    def poll_interval(self) -> float:
        """The longest sleep between two reads of the state."""
        return POLL_WITH_EVENTS if self.evented else POLL_WITHOUT_EVENTS

    def sequence(self) -> int:
        with self._cond:
            return self._seq

    def sleep(self, seconds: float, since: int) -> None:
        """Sleep up to ``seconds``, returning early if an event arrives after ``since``."""
        if not seconds > 0:
            return
        if not self.evented:
            time.sleep(min(seconds, POLL_WITHOUT_EVENTS))
            return
        with self._cond:
            if self._seq == since:
                self._cond.wait(min(seconds, POLL_WITH_EVENTS))

    def close(self) -> None:
        for callback_id in self._callbacks:
            with contextlib.suppress(libvirt.libvirtError):
                self._conn.domainEventDeregisterAny(callback_id)
        self._callbacks = []


def wait_until(
    watch: DomainWatch | Callable[[], DomainWatch],
    reached: Callable[[], bool],
    timeout: float,
    retry: Callable[[], None] | None = None,
    retry_interval: float = 0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] | None = None,
) -> bool:
    """Wait until ``reached()`` is true or ``timeout`` seconds pass.

    ``retry`` is called every ``retry_interval`` seconds while waiting (0: never).
    ``watch`` may be a callable returning the current watch, for a caller that
    replaces its watch meanwhile (after a reconnect). ``sleep``, when given, is
    called instead of waiting for events (a fake clock's sleep, in tests).
    Returns whether the condition was reached.
    """
    for name, value in (("timeout", timeout), ("retry_interval", retry_interval)):
        if not (math.isfinite(value) and value >= 0):
            raise ValueError(f"{name} must be a finite number of seconds, at least 0, not {value!r}")
    current = watch if callable(watch) else lambda: watch
    start = clock()
    deadline = start + timeout
    next_retry = start + retry_interval if retry and retry_interval > 0 else None
    while True:
        since = current().sequence()
        if reached():
            return True
        now = clock()
        if now >= deadline:
            return False
        if retry is not None and next_retry is not None and now >= next_retry:
            retry()
            next_retry = now + retry_interval
            continue  # read the state again before sleeping: the retry may have taken a while
        wake_at = deadline if next_retry is None else min(deadline, next_retry)
        if sleep is not None:
            sleep(min(wake_at - now, current().poll_interval))
        else:
            current().sleep(wake_at - now, since)
