"""Waiting on lifecycle events: the waiter wakes on an event, polls where the
driver has none, retries on schedule and times out."""

from __future__ import annotations

import math
import threading
import time

import libvirt
import pytest

from ansible_collections.virtops.libvirt.plugins.module_utils._core.client import Connection
from ansible_collections.virtops.libvirt.plugins.module_utils._core.events import DomainWatch, wait_until


def test_wait_until_times_out_and_retries_on_schedule(client, make_domain):
    domain = make_domain("vm")
    domain.create()
    watch = DomainWatch(client, domain)
    retries = []
    started = time.monotonic()
    try:
        reached = wait_until(watch, lambda: False, timeout=0.5, retry=lambda: retries.append(1), retry_interval=0.2)
    finally:
        watch.close()
    took = time.monotonic() - started
    assert reached is False
    assert 0.5 <= took < 1.0
    assert len(retries) == 2


def test_wait_until_wakes_on_a_lifecycle_event(make_domain):
    conn = Connection("test:///default", events=True, timeout=None)
    try:
        domain = conn.raw.defineXML("<domain type='test'><name>evt</name><memory>65536</memory><os><type>hvm</type></os></domain>")
        domain.create()
        watch = DomainWatch(conn, domain)
        assert watch.evented
        domain.destroy()
        started = time.monotonic()
        reached = wait_until(watch, lambda: domain.state()[0] == libvirt.VIR_DOMAIN_SHUTOFF, timeout=5)
        watch.close()
        assert reached and time.monotonic() - started < 0.5
    finally:
        conn.close()


def test_polling_fallback_without_events(client, make_domain):
    """Where a driver delivers no events the waiter polls and still notices."""
    domain = make_domain("vm")
    domain.create()
    watch = DomainWatch(client, domain)
    watch.close()
    watch.evented = False  # as when the driver refuses event registration
    timer = threading.Timer(0.3, domain.destroy)
    timer.start()
    started = time.monotonic()
    reached = wait_until(watch, lambda: domain.state()[0] == libvirt.VIR_DOMAIN_SHUTOFF, timeout=5)
    timer.join()
    assert reached and 0.3 <= time.monotonic() - started < 0.6


@pytest.mark.parametrize("option", ["timeout", "retry_interval"])
@pytest.mark.parametrize("value", [math.nan, math.inf, -1.0])
def test_a_wait_refuses_a_duration_that_would_never_end_or_spin(client, make_domain, option, value):
    domain = make_domain("vm")
    watch = DomainWatch(client, domain)
    durations = {"timeout": 1.0, "retry_interval": 0.0, option: value}
    with pytest.raises(ValueError, match=f"{option} must be a finite number of seconds"):
        wait_until(watch, lambda: False, durations["timeout"], retry=lambda: None, retry_interval=durations["retry_interval"])


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_a_fake_clock_paces_the_wait_without_real_sleeps(client, make_domain):
    domain = make_domain("vm")
    watch = DomainWatch(client, domain)
    clock = Clock()
    retries = []
    started = time.monotonic()
    reached = wait_until(
        watch, lambda: clock.now >= 250, timeout=300, retry=lambda: retries.append(clock.now), retry_interval=100, clock=clock, sleep=clock.sleep
    )
    assert reached and 250 <= clock.now < 250 + watch.poll_interval
    assert retries == [100, 200]
    assert max(clock.slept) <= watch.poll_interval
    assert time.monotonic() - started < 1


def test_a_watch_replaced_meanwhile_is_followed(client, make_domain):
    """After a reconnect the caller makes a new watch; the wait reads the current one."""
    domain = make_domain("vm")
    watches = [DomainWatch(client, domain)]
    clock = Clock()

    def reached() -> bool:
        if clock.now >= 1 and len(watches) == 1:
            watches.append(DomainWatch(client, domain))
        return clock.now >= 2

    assert wait_until(lambda: watches[-1], reached, timeout=5, clock=clock, sleep=clock.sleep)
    assert len(watches) == 2


def test_only_a_connection_opened_for_events_registers_for_them(client, make_domain):
    assert not DomainWatch(client, make_domain("vm")).evented
