"""The runner on libvirt's in-process test driver: every transition the driver can
reach, check mode, idempotency and the error paths; with a fake clock, a domain
changing under the runner (transient pauses, other clients, a daemon restart)."""

from __future__ import annotations

import time

import libvirt
import pytest

from ansible_collections.virtops.libvirt.plugins.module_utils._core import client as client_module
from ansible_collections.virtops.libvirt.plugins.module_utils._core.errors import (
    DomainVanishedError,
    LibvirtCallError,
    VirtOpsError,
)
from ansible_collections.virtops.libvirt.plugins.module_utils._core.events import DomainWatch
from ansible_collections.virtops.libvirt.plugins.module_utils._power import runner as runner_module
from ansible_collections.virtops.libvirt.plugins.module_utils._power.runner import (
    MAX_PLANS,
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

from .fakes import DomainProxy, libvirt_error, socket_closed

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


# -- the domain changing under us ----------------------------------------------------------
def fake_run(client, domain, state: str, clock, **options):
    return PowerRunner(client, domain, PowerRequest(state=state, **options), clock=clock, sleep=clock.sleep).run()


TRANSIENT_PAUSES = {
    "starting up": libvirt.VIR_DOMAIN_PAUSED_STARTING_UP,
    "migrating": libvirt.VIR_DOMAIN_PAUSED_MIGRATION,
    "saving": libvirt.VIR_DOMAIN_PAUSED_SAVE,
    "dumping": libvirt.VIR_DOMAIN_PAUSED_DUMP,
    "creating snapshot": libvirt.VIR_DOMAIN_PAUSED_SNAPSHOT,
    "shutting down": libvirt.VIR_DOMAIN_PAUSED_SHUTTING_DOWN,
    "post-copy": libvirt.VIR_DOMAIN_PAUSED_POSTCOPY,
}


def paused_for(domain, clock, reason: int, seconds: float) -> DomainProxy:
    """The domain as libvirt reports it while it works on it for ``seconds`` (then as it is)."""

    def state(*args):
        return [libvirt.VIR_DOMAIN_PAUSED, reason] if clock.elapsed() < seconds else domain.state(*args)

    return DomainProxy(domain, state=state)


@pytest.mark.parametrize("reason", TRANSIENT_PAUSES.values(), ids=TRANSIENT_PAUSES)
def test_a_transient_pause_is_waited_out_then_planned_from(client, make_domain, clock, reason):
    domain = make_domain("vm")
    domain.create()
    outcome = fake_run(client, paused_for(domain, clock, reason, 3), "paused", clock)
    assert (outcome.actions, outcome.state, outcome.previous_state) == (["suspend"], "paused", "running")
    assert 3 <= clock.elapsed() < 3.5


def test_running_asked_while_it_starts_up_changes_nothing(client, make_domain, clock):
    domain = make_domain("vm")
    domain.create()
    outcome = fake_run(client, paused_for(domain, clock, libvirt.VIR_DOMAIN_PAUSED_STARTING_UP, 2), "running", clock)
    assert (outcome.changed, outcome.actions, outcome.state) == (False, [], "running")


def test_check_mode_predicts_from_where_a_transient_pause_settles(client, make_domain, clock):
    domain = make_domain("vm")
    domain.create()
    proxy = paused_for(domain, clock, libvirt.VIR_DOMAIN_PAUSED_STARTING_UP, 2)
    outcome = fake_run(client, proxy, "paused", clock, check_mode=True)
    assert (outcome.changed, outcome.actions, outcome.state) == (True, ["suspend"], "running")
    assert domain.state()[0] == libvirt.VIR_DOMAIN_RUNNING


def test_a_transient_pause_longer_than_the_timeout_is_a_clear_error(client, make_domain, clock):
    domain = make_domain("vm")
    domain.create()
    proxy = paused_for(domain, clock, libvirt.VIR_DOMAIN_PAUSED_MIGRATION, 60)
    with pytest.raises(VirtOpsError) as caught:
        fake_run(client, proxy, "running", clock, timeout=5)
    assert "is still paused (migrating) after timeout=5 s" in caught.value.msg
    assert "middle of an operation" in caught.value.msg
    result = caught.value.result
    assert (result["changed"], result["actions"], result["previous_state"]) == (False, [], "paused")
    assert result["id"] == domain.ID()
    assert 5 <= clock.elapsed() < 6


def already(message: str):
    return libvirt_error(libvirt.VIR_ERR_OPERATION_INVALID, f"Requested operation is not valid: {message}")


def test_a_start_refused_because_another_client_started_it_is_planned_again(client, make_domain, clock):
    domain = make_domain("vm")

    def create():  # another client starts it first; QEMU's driver then refuses ours
        domain.create()
        raise already("domain is already running")

    outcome = fake_run(client, DomainProxy(domain, create=create), "running", clock)
    assert (outcome.changed, outcome.actions, outcome.state, outcome.previous_state) == (False, [], "running", "shutoff")


def test_a_resume_refused_because_another_client_resumed_it_is_planned_again(client, make_domain, clock):
    domain = make_domain("vm")
    domain.create()
    domain.suspend()

    def resume():
        domain.resume()
        raise already("domain is already running")

    outcome = fake_run(client, DomainProxy(domain, resume=resume), "running", clock)
    assert (outcome.changed, outcome.actions, outcome.state) == (False, [], "running")


def test_a_graceful_request_refused_because_it_went_off_meanwhile_is_planned_again(client, make_domain, clock):
    domain = make_domain("vm")
    domain.create()

    def shutdown(_flags):
        domain.destroy()
        raise already("domain is not running")

    outcome = fake_run(client, DomainProxy(domain, shutdownFlags=shutdown), "shutdown", clock)
    assert (outcome.changed, outcome.actions, outcome.state) == (False, [], "shutoff")


def test_a_refusal_stands_when_the_state_did_not_change(client, make_domain, clock):
    domain = make_domain("vm")
    domain.create()
    domain.suspend()
    calls = []

    def resume():
        calls.append(1)
        raise already("domain is not paused")

    with pytest.raises(LibvirtCallError, match="cannot resume it: Requested operation is not valid") as caught:
        fake_run(client, DomainProxy(domain, resume=resume), "running", clock)
    assert len(calls) == 1
    assert caught.value.result["previous_state"] == "paused"


def test_planning_again_is_bounded(client, make_domain, clock):
    domain = make_domain("vm")
    flips = iter([libvirt.VIR_DOMAIN_SHUTOFF, libvirt.VIR_DOMAIN_PAUSED] * 10)
    refused = []

    def refuse(*_args):
        refused.append(1)
        raise already("the domain changed again")

    proxy = DomainProxy(domain, state=lambda *_: [next(flips), 1], create=refuse, resume=refuse)
    with pytest.raises(LibvirtCallError, match="the domain changed again"):
        fake_run(client, proxy, "running", clock)
    assert len(refused) == MAX_PLANS


# -- a reboot that powers off, a pause during a shutdown -----------------------------------
REBOOT_DESTROYS = """<domain type='test'>
  <name>{name}</name>
  <memory unit='MiB'>64</memory>
  <os><type>hvm</type></os>
  <on_reboot>destroy</on_reboot>
</domain>"""


class QemuLikeWatch(DomainWatch):
    """A watch that observes reboots, as on QEMU (the test driver emits no reboot event)."""

    def __init__(self, *args) -> None:
        super().__init__(*args)
        self.observes_reboots = True


@pytest.fixture
def qemu_like_watch(monkeypatch):
    monkeypatch.setattr(runner_module, "DomainWatch", QemuLikeWatch)


@pytest.mark.parametrize("on_timeout", ["fail", "force"])
def test_a_reboot_that_powers_off_is_noticed_at_once_and_started_again(client, conn, clock, qemu_like_watch, on_timeout):
    domain = conn.defineXML(REBOOT_DESTROYS.format(name="vm"))
    domain.create()
    outcome = fake_run(client, domain, "restarted", clock, timeout=30, on_timeout=on_timeout)
    assert (outcome.actions, outcome.state, outcome.forced) == (["reboot", "start"], "running", False)
    assert clock.elapsed() < 1, "waited for a reboot that could not come"
    assert outcome.warnings == [
        "Domain 'vm' powered off instead of rebooting (libvirt: shutoff (shutdown)); its <on_reboot> action may be "
        "destroy. It was started again, as state=restarted ends running."
    ]


def test_a_guest_paused_during_a_shutdown_wait_is_named_as_paused_not_deaf(client, make_domain, clock):
    domain = make_domain("vm")
    domain.create()
    proxy = DomainProxy(domain, shutdownFlags=lambda _flags: domain.suspend())  # someone pauses it meanwhile
    with pytest.raises(VirtOpsError) as caught:
        fake_run(client, proxy, "shutdown", clock, timeout=5)
    msg = caught.value.msg
    assert "it is now paused (user)" in msg and "paused by a user or a tool (for example virsh suspend)" in msg
    assert "a paused guest cannot shut down" in msg and "virsh resume vm" in msg
    assert "ACPI" not in msg and "ignore" not in msg
    assert caught.value.result["previous_state"] == "running" and caught.value.result["id"] == domain.ID()


def test_a_forced_power_off_is_a_warning_naming_what_and_after_how_long(client, make_domain, clock):
    domain = make_domain("vm")
    domain.create()
    proxy = DomainProxy(domain, shutdownFlags=lambda _flags: 0)  # a guest that ignores ACPI
    outcome = fake_run(client, proxy, "shutdown", clock, timeout=3, retry_interval=1, on_timeout="force")
    assert outcome.forced and outcome.state == "shutoff" and outcome.actions[-1] == "destroy"
    assert outcome.warnings == ["Domain 'vm' was powered off (on_timeout=force): it did not finish a graceful shutdown within timeout=3 s (waited 3.0 s)."]


def test_a_forced_power_off_of_a_paused_guest_says_who_paused_it(client, make_domain, clock):
    domain = make_domain("vm")
    domain.create()
    proxy = DomainProxy(domain, shutdownFlags=lambda _flags: domain.suspend())
    outcome = fake_run(client, proxy, "shutdown", clock, timeout=3, on_timeout="force")
    assert outcome.actions == ["shutdown", "destroy"]
    assert outcome.warnings[0].endswith("It had been paused by a user or a tool (for example virsh suspend).")


# -- the daemon restarting while we wait -------------------------------------------------------


def stubborn_with_restart(domain, clock, at: float) -> DomainProxy:
    """A guest that ignores ACPI; its connection breaks once, ``at`` seconds in."""
    broken = []

    def state(*args):
        if clock.elapsed() >= at and not broken:
            broken.append(1)
            raise socket_closed()
        return domain.state(*args)

    return DomainProxy(domain, state=state, shutdownFlags=lambda _flags: 0)


def test_a_daemon_restart_mid_wait_reconnects_and_carries_on(client, make_domain, clock, monkeypatch):
    domain = make_domain("vm")
    domain.create()
    old_raw = client.raw
    found = []

    def find(name=None, uuid=None):  # after the reconnect: the same guest, still ignoring ACPI
        found.append(uuid)
        return DomainProxy(domain, shutdownFlags=lambda _flags: 0)

    monkeypatch.setattr(client, "find", find)
    proxy = stubborn_with_restart(domain, clock, at=6)
    outcome = fake_run(client, proxy, "shutdown", clock, timeout=20, retry_interval=5, on_timeout="force")
    assert client.raw is not old_raw and found[0] == domain.UUIDString()
    assert outcome.actions == ["shutdown"] * 4 + ["destroy"]  # at 0, 5, 10, 15 s; forced at 20 s
    assert outcome.forced and outcome.state == "shutoff" and outcome.changed
    assert 20 <= clock.elapsed() < 21
    assert outcome.warnings[0].startswith(
        "The connection to libvirt at URI 'test:///default' broke while waiting for domain 'vm' to finish a graceful "
        "shutdown (internal error: client socket is closed); it was opened again after 0.0 s"
    )


def test_a_daemon_that_does_not_come_back_in_time_is_a_clear_error(client, make_domain, clock, monkeypatch):
    domain = make_domain("vm")
    domain.create()

    def refuse(*_args):
        raise VirtOpsError("Cannot connect to libvirt at URI 'test:///default': no daemon.")

    monkeypatch.setattr(client_module, "open_raw", refuse)
    proxy = stubborn_with_restart(domain, clock, at=6)
    with pytest.raises(VirtOpsError) as caught:
        fake_run(client, proxy, "shutdown", clock, timeout=20, retry_interval=5, on_timeout="force")
    msg = caught.value.msg
    assert msg.startswith(
        "The connection to libvirt at URI 'test:///default' broke while waiting for domain 'vm' "
        "to finish a graceful shutdown (internal error: client socket is closed), and it could not "
        "be opened again within the 14.0 s left of timeout=20 s"
    )
    assert "Sent: shutdown, shutdown. The domain was last seen running (booted)." in msg
    result = caught.value.result
    assert (result["changed"], result["actions"], result["state"], result["previous_state"]) == (True, ["shutdown", "shutdown"], "running", "running")
    assert result["forced"] is False and "id" in result
    assert 20 <= clock.elapsed() < 21


def test_waits_take_no_real_time_with_a_fake_clock(client, make_domain, clock):
    domain = make_domain("vm")
    domain.create()
    started = time.monotonic()
    with pytest.raises(VirtOpsError, match="within timeout=600 s"):
        fake_run(client, DomainProxy(domain, shutdownFlags=lambda _flags: 0), "shutdown", clock, timeout=600)
    assert time.monotonic() - started < 5 and clock.elapsed() >= 600


def test_a_transient_domain_gone_after_a_daemon_restart_counts_as_shut_down(client, make_domain, clock, monkeypatch):
    domain = make_domain("ephemeral", transient=True)
    monkeypatch.setattr(client, "find", lambda name=None, uuid=None: None)  # it stopped while the daemon was away
    proxy = stubborn_with_restart(domain, clock, at=2)
    outcome = fake_run(client, proxy, "shutdown", clock, timeout=20)
    assert (outcome.state, outcome.reason, outcome.id) == ("shutoff", "transient domain removed", None)
    assert outcome.actions == ["shutdown"] and len(outcome.warnings) == 1


def test_a_domain_restored_paused_is_paused_for_good_not_migrating(client, make_domain, clock):
    """QEMU reports "paused (migrating)" with no job for a domain restored paused: nothing to wait for."""
    domain = make_domain("vm")
    domain.create()
    domain.suspend()
    proxy = DomainProxy(
        domain, state=lambda *_: [libvirt.VIR_DOMAIN_PAUSED, libvirt.VIR_DOMAIN_PAUSED_MIGRATION], jobInfo=lambda: [libvirt.VIR_DOMAIN_JOB_NONE] + [0] * 11
    )
    outcome = fake_run(client, proxy, "paused", clock, timeout=60)
    assert (outcome.changed, outcome.actions, outcome.state, outcome.reason) == (False, [], "paused", "migrating")
    assert clock.elapsed() == 0
