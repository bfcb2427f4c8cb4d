"""The runner on libvirt's in-process test driver: every transition the driver can
reach, check mode, idempotency and the error paths."""

from __future__ import annotations

import re
import threading
import time

import libvirt
import pytest

from ansible_collections.virtops.libvirt.plugins.module_utils._errors import (
    DomainVanishedError,
    VirtOpsError,
)
from ansible_collections.virtops.libvirt.plugins.module_utils._libvirt_connection import (
    lookup_domain,
    open_connection,
)
from ansible_collections.virtops.libvirt.plugins.module_utils._power_runner import (
    PowerRequest,
    PowerRunner,
)
from ansible_collections.virtops.libvirt.plugins.module_utils._power_transitions import (
    ALWAYS_CHANGED,
    DESIRED_STATES,
    TARGET_STATES,
    Refusal,
    plan,
)
from ansible_collections.virtops.libvirt.plugins.module_utils._power_waiter import (
    DomainWatch,
    wait_until,
)

# The starting states the test driver can put a domain in.
REACHABLE = ("running", "paused", "shutoff", "saved")


def put_in(domain, state: str) -> None:
    if state in ("running", "paused", "saved"):
        domain.create()
    if state == "paused":
        domain.suspend()
    if state == "saved":
        domain.managedSave(0)


def run(conn, domain, state: str, **options):
    return PowerRunner(conn, domain, PowerRequest(state=state, **options)).run()


# Transitions the test driver refuses (it has no START_PAUSED); the QEMU integration
# tests cover them. Here they must fail cleanly and change nothing.
DRIVER_REFUSES = {("paused", "shutoff"), ("paused", "saved")}

CASES = [(desired, start) for desired in DESIRED_STATES for start in REACHABLE]


@pytest.mark.parametrize(("desired", "start"), CASES)
def test_transition(conn, make_domain, desired, start):
    domain = make_domain("vm")
    put_in(domain, start)
    steps = plan(desired, start)
    if isinstance(steps, Refusal):
        with pytest.raises(VirtOpsError, match=f"cannot be brought to state={desired} from {start}"):
            run(conn, domain, desired)
        return
    if (desired, start) in DRIVER_REFUSES:
        with pytest.raises(VirtOpsError, match="cannot start it paused: unsupported flags"):
            run(conn, domain, desired)
        assert run(conn, domain, "running", check_mode=True).previous_state == start
        return
    predicted = run(conn, domain, desired, check_mode=True)
    assert predicted.state == start
    outcome = run(conn, domain, desired)
    assert outcome.previous_state == start
    assert outcome.state in TARGET_STATES[desired]
    assert outcome.changed == bool(steps) or desired in ALWAYS_CHANGED
    assert outcome.actions == predicted.actions == [step.label for step in steps if step.label]
    assert predicted.changed == outcome.changed
    if desired not in ALWAYS_CHANGED:
        again = run(conn, domain, desired)
        assert (again.changed, again.actions, again.state) == (False, [], outcome.state)


def test_result_names_the_domain(conn, make_domain):
    domain = make_domain("vm")
    outcome = run(conn, domain, "running").as_result()
    assert outcome["name"] == "vm"
    assert outcome["uuid"] == domain.UUIDString()
    assert outcome["id"] == domain.ID() > 0
    assert outcome["forced"] is False
    assert outcome["elapsed"] >= 0


def test_transient_domain_that_vanishes_on_shutdown_counts_as_done(conn, make_domain):
    domain = make_domain("ephemeral", transient=True)
    outcome = run(conn, domain, "shutdown")
    assert outcome.state == "shutoff"
    assert outcome.reason == "transient domain removed"
    assert outcome.id is None
    with pytest.raises(libvirt.libvirtError):
        conn.lookupByName("ephemeral")


def test_transient_domain_destroyed(conn, make_domain):
    outcome = run(conn, make_domain("ephemeral", transient=True), "destroyed")
    assert (outcome.state, outcome.actions) == ("shutoff", ["destroy"])


def test_domain_vanishing_before_it_can_be_started_is_an_error(conn, make_domain):
    domain = make_domain("vm")
    domain.undefine()
    with pytest.raises(DomainVanishedError, match="'vm' vanished"):
        run(conn, domain, "running")


def test_shutdown_modes_are_tried_in_order_and_all_refusals_reported(conn, make_domain):
    domain = make_domain("vm")
    domain.create()
    with pytest.raises(VirtOpsError) as caught:
        run(conn, domain, "shutdown", shutdown_mode=["agent", "acpi"])
    assert "agent: unsupported flags" in caught.value.msg
    assert "acpi: unsupported flags" in caught.value.msg
    assert domain.state()[0] == libvirt.VIR_DOMAIN_RUNNING  # nothing changed
    assert caught.value.result["actions"] == []


def test_check_mode_names_the_first_shutdown_mode(conn, make_domain):
    domain = make_domain("vm")
    domain.create()
    outcome = run(conn, domain, "shutdown", shutdown_mode=["acpi", "agent"], check_mode=True)
    assert outcome.actions == ["shutdown:acpi"]
    assert domain.state()[0] == libvirt.VIR_DOMAIN_RUNNING


def test_wait_false_returns_after_the_request(conn, make_domain):
    domain = make_domain("vm")
    domain.create()
    outcome = run(conn, domain, "shutdown", wait=False)
    assert outcome.actions == ["shutdown"]
    assert outcome.changed


def test_unknown_domain_names_the_uri(conn):
    with pytest.raises(VirtOpsError, match="No domain named 'nope' at URI 'test:///default'"):
        lookup_domain(conn, "test:///default", name="nope")
    with pytest.raises(VirtOpsError, match="No domain with UUID"):
        lookup_domain(conn, "test:///default", uuid="00000000-0000-0000-0000-000000000001")


@pytest.mark.parametrize("uri", ["qemu+unix:///system?socket=/nonexistent/sock", "bogus:///x"])
def test_unreachable_or_invalid_uri(uri):
    with pytest.raises(VirtOpsError, match=re.escape(f"Cannot connect to libvirt at URI '{uri}'")):
        open_connection(uri)


def test_wait_until_times_out_and_retries_on_schedule(conn, make_domain):
    domain = make_domain("vm")
    domain.create()
    watch = DomainWatch(conn, domain)
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
    conn = open_connection("test:///default", events=True)
    try:
        domain = conn.defineXML("<domain type='test'><name>evt</name><memory>65536</memory>"
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


def test_polling_fallback_without_events(conn, make_domain):
    """Where a driver delivers no events the waiter polls and still notices."""
    domain = make_domain("vm")
    domain.create()
    watch = DomainWatch(conn, domain)
    watch.close()
    watch.evented = False  # as when the driver refuses event registration
    timer = threading.Timer(0.3, domain.destroy)
    timer.start()
    started = time.monotonic()
    reached = wait_until(watch, lambda: domain.state()[0] == libvirt.VIR_DOMAIN_SHUTOFF, timeout=5)
    timer.join()
    assert reached and 0.3 <= time.monotonic() - started < 0.6


def test_a_failure_mid_sequence_reports_what_was_already_sent(conn, make_domain):
    domain = make_domain("vm")
    domain.create()
    domain.suspend()
    # From paused, shutdown resumes first; the test driver then refuses the ACPI flag.
    with pytest.raises(VirtOpsError) as caught:
        run(conn, domain, "shutdown", shutdown_mode=["acpi"])
    assert caught.value.result["actions"] == ["resume"]
    assert caught.value.result["state"] == "running"
