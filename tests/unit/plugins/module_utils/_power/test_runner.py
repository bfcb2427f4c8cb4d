"""The runner on libvirt's in-process test driver: every transition the driver can
reach, check mode, idempotency and the error paths."""

from __future__ import annotations

import libvirt
import pytest

from ansible_collections.virtops.libvirt.plugins.module_utils._core.errors import (
    DomainVanishedError,
    VirtOpsError,
)
from ansible_collections.virtops.libvirt.plugins.module_utils._power.runner import (
    PowerRequest,
    PowerRunner,
)
from ansible_collections.virtops.libvirt.plugins.module_utils._power.transitions import (
    ALWAYS_CHANGED,
    DESIRED_STATES,
    TARGET_STATES,
    Refusal,
    plan,
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


def run(client, domain, state: str, **options):
    return PowerRunner(client, domain, PowerRequest(state=state, **options)).run()


# Transitions the test driver refuses (it has no START_PAUSED); the QEMU integration
# tests cover them. Here they must fail cleanly and change nothing.
DRIVER_REFUSES = {("paused", "shutoff"), ("paused", "saved")}

CASES = [(desired, start) for desired in DESIRED_STATES for start in REACHABLE]


@pytest.mark.parametrize(("desired", "start"), CASES)
def test_transition(client, conn, make_domain, desired, start):
    domain = make_domain("vm")
    put_in(domain, start)
    steps = plan(desired, start)
    if isinstance(steps, Refusal):
        with pytest.raises(VirtOpsError, match=f"cannot be brought to state={desired} from {start}"):
            run(client, domain, desired)
        return
    if (desired, start) in DRIVER_REFUSES:
        with pytest.raises(VirtOpsError, match="cannot start it paused: unsupported flags"):
            run(client, domain, desired)
        assert run(client, domain, "running", check_mode=True).previous_state == start
        return
    predicted = run(client, domain, desired, check_mode=True)
    assert predicted.state == start
    outcome = run(client, domain, desired)
    assert outcome.previous_state == start
    assert outcome.state in TARGET_STATES[desired]
    assert outcome.changed == bool(steps) or desired in ALWAYS_CHANGED
    assert outcome.actions == predicted.actions == [step.label for step in steps if step.label]
    assert predicted.changed == outcome.changed
    if desired not in ALWAYS_CHANGED:
        again = run(client, domain, desired)
        assert (again.changed, again.actions, again.state) == (False, [], outcome.state)


def test_result_names_the_domain(client, conn, make_domain):
    domain = make_domain("vm")
    outcome = run(client, domain, "running").as_result()
    assert outcome["name"] == "vm"
    assert outcome["uuid"] == domain.UUIDString()
    assert outcome["id"] == domain.ID() > 0
    assert outcome["forced"] is False
    assert outcome["elapsed"] >= 0


def test_transient_domain_that_vanishes_on_shutdown_counts_as_done(client, conn, make_domain):
    domain = make_domain("ephemeral", transient=True)
    outcome = run(client, domain, "shutdown")
    assert outcome.state == "shutoff"
    assert outcome.reason == "transient domain removed"
    assert outcome.id is None
    with pytest.raises(libvirt.libvirtError):
        conn.lookupByName("ephemeral")


def test_transient_domain_destroyed(client, conn, make_domain):
    outcome = run(client, make_domain("ephemeral", transient=True), "destroyed")
    assert (outcome.state, outcome.actions) == ("shutoff", ["destroy"])


def test_domain_vanishing_before_it_can_be_started_is_an_error(client, conn, make_domain):
    domain = make_domain("vm")
    domain.undefine()
    with pytest.raises(DomainVanishedError, match="'vm' at URI 'test:///default' vanished"):
        run(client, domain, "running")


def test_shutdown_modes_are_tried_in_order_and_all_refusals_reported(client, conn, make_domain):
    domain = make_domain("vm")
    domain.create()
    with pytest.raises(VirtOpsError) as caught:
        run(client, domain, "shutdown", shutdown_mode=["agent", "acpi"])
    assert "agent: unsupported flags" in caught.value.msg
    assert "acpi: unsupported flags" in caught.value.msg
    assert domain.state()[0] == libvirt.VIR_DOMAIN_RUNNING  # nothing changed
    assert caught.value.result["actions"] == []


def test_check_mode_names_the_first_shutdown_mode(client, conn, make_domain):
    domain = make_domain("vm")
    domain.create()
    outcome = run(client, domain, "shutdown", shutdown_mode=["acpi", "agent"], check_mode=True)
    assert outcome.actions == ["shutdown:acpi"]
    assert domain.state()[0] == libvirt.VIR_DOMAIN_RUNNING


def test_wait_false_returns_after_the_request(client, conn, make_domain):
    domain = make_domain("vm")
    domain.create()
    outcome = run(client, domain, "shutdown", wait=False)
    assert outcome.actions == ["shutdown"]
    assert outcome.changed


def test_a_failure_mid_sequence_reports_what_was_already_sent(client, conn, make_domain):
    domain = make_domain("vm")
    domain.create()
    domain.suspend()
    # From paused, shutdown resumes first; the test driver then refuses the ACPI flag.
    with pytest.raises(VirtOpsError) as caught:
        run(client, domain, "shutdown", shutdown_mode=["acpi"])
    assert caught.value.result["actions"] == ["resume"]
    assert caught.value.result["state"] == "running"
