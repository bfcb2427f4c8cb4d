"""Waiting on lifecycle events: the waiter wakes on an event, polls where the
driver has none, retries on schedule and times out."""

from __future__ import annotations

import threading
import time

import libvirt

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
        domain = conn.raw.defineXML("<domain type='test'><name>evt</name><memory>65536</memory>"
                                "<os><type>hvm</type></os></domain>")
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
