"""A batch (virt_power names=): one listing of the hypervisor, no runner for a domain
already where asked, every other domain driven by its own runner at once (at most
max_in_flight), each failing alone; the outcomes in the order of the names, the totals
and the message naming each failed domain. On libvirt's test driver, with a fake clock."""

from __future__ import annotations

import threading
from dataclasses import replace

import libvirt
import pytest

from ansible_collections.virtops.libvirt.plugins.module_utils._core import states
from ansible_collections.virtops.libvirt.plugins.module_utils._core.errors import VirtOpsError
from ansible_collections.virtops.libvirt.plugins.module_utils._core.states import OBSERVED_STATES, Listed, status_from_codes
from ansible_collections.virtops.libvirt.plugins.module_utils._power import batch as batch_module
from ansible_collections.virtops.libvirt.plugins.module_utils._power.batch import BatchRequest, failures_message, run_batch, settled
from ansible_collections.virtops.libvirt.plugins.module_utils._power.module import batch_from_params
from ansible_collections.virtops.libvirt.plugins.module_utils._power.runner import PowerRequest, PowerRunner
from ansible_collections.virtops.libvirt.plugins.module_utils._power.transitions import (
    ALWAYS_CHANGED,
    DESIRED_STATES,
    STATE_ALIASES,
    TARGET_STATES,
    Refusal,
    plan,
)

from .fakes import DomainProxy, socket_closed
from .test_module import params
from .test_runner import DRIVER_REFUSES, REACHABLE, put_in

# The fields of every domain's outcome, whatever happened to it.
OUTCOME_FIELDS = {"state", "previous_state", "reason", "changed", "elapsed", "actions", "forced", "name", "uuid", "id", "failed"}


def batch(client, clock, names, state: str, max_in_flight: int = 0, **options):
    request = BatchRequest(names=list(names), power=PowerRequest(state=state, **options), max_in_flight=max_in_flight)
    return run_batch(client, request, clock, clock.sleep)


def one_in_each_state(make_domain) -> list[str]:
    """A domain in each state the test driver can reach, named after it (vm-running, ...)."""
    for start in REACHABLE:
        put_in(make_domain(f"vm-{start}"), start)
    return [f"vm-{start}" for start in REACHABLE]


def state_of(conn, name: str) -> int:
    return conn.lookupByName(name).state()[0]


@pytest.fixture
def driven(monkeypatch):
    """Replace methods of named domains as run_batch gets them (from its one listing):
    ``driven("vm", shutdownFlags=...)``, as a guest that ignores ACPI."""
    methods: dict[str, dict] = {}

    def listing(conn, names=None):
        listed = states.read_all(conn, names)
        return {name: replace(entry, domain=DomainProxy(entry.domain, **methods[name])) if name in methods else entry for name, entry in listed.items()}

    monkeypatch.setattr(batch_module, "read_all", listing)
    return lambda name, **replaced: methods.__setitem__(name, replaced)


def ignores_shutdown(_flags):
    return 0  # libvirt accepts the request; the guest never acts on it


# -- every state, every desired state --------------------------------------------------------
@pytest.mark.parametrize("desired", [*DESIRED_STATES, *STATE_ALIASES])
def test_a_batch_brings_each_domain_from_its_own_state_and_fails_only_where_it_must(client, conn, make_domain, clock, desired):
    names = one_in_each_state(make_domain)[::-1]  # not the order libvirt lists them in
    result = batch(client, clock, names, desired)
    assert [outcome["name"] for outcome in result["domains"]] == names
    canonical = STATE_ALIASES.get(desired, desired)
    for outcome in result["domains"]:
        start = outcome["name"].removeprefix("vm-")
        steps = plan(desired, start)
        assert set(outcome) >= OUTCOME_FIELDS, outcome["name"]
        if isinstance(steps, Refusal):
            assert outcome["failed"] and f"cannot be brought to state={desired} from {start}" in outcome["msg"]
            assert (outcome["state"], outcome["actions"], outcome["changed"]) == (start, [], False)
        elif (canonical, start) in DRIVER_REFUSES:
            assert outcome["failed"] and "cannot start it paused: unsupported flags" in outcome["msg"]
        else:
            assert not outcome["failed"] and "msg" not in outcome, outcome.get("msg")
            assert outcome["previous_state"] == start
            assert outcome["state"] in TARGET_STATES[canonical]
            assert outcome["actions"] == [step.label for step in steps if step.label]
            assert outcome["changed"] == (bool(steps) or canonical in ALWAYS_CHANGED)
            assert outcome["uuid"] == conn.lookupByName(outcome["name"]).UUIDString()
    failed = [outcome for outcome in result["domains"] if outcome["failed"]]
    assert result["totals"]["failed"] == len(failed)
    assert result["totals"]["changed"] == sum(1 for outcome in result["domains"] if outcome["changed"])
    assert result["totals"]["domains"] == len(names) and result["totals"]["forced"] == 0
    assert result["changed"] == any(outcome["changed"] for outcome in result["domains"])
    assert (failures_message(result, "test:///default") is None) == (not failed)


@pytest.mark.parametrize("desired", ["shutdown", "stopped", "destroyed", "running", "paused", "saved"])
def test_domains_already_there_report_no_change_and_send_nothing(client, conn, make_domain, clock, desired):
    names = one_in_each_state(make_domain)
    settled_ones = [name for name in names if plan(desired, name.removeprefix("vm-")) == ()]
    assert settled_ones, "every desired state but restarted and reset has a state it is already in"
    result = batch(client, clock, settled_ones, desired)
    assert [(outcome["changed"], outcome["actions"], outcome["failed"]) for outcome in result["domains"]] == [(False, [], False)] * len(settled_ones)
    assert [outcome["state"] for outcome in result["domains"]] == [name.removeprefix("vm-") for name in settled_ones]
    assert result["changed"] is False and result["totals"]["changed"] == 0


@pytest.mark.parametrize("desired", ALWAYS_CHANGED)
def test_restarted_and_reset_always_change_even_a_running_domain(client, make_domain, clock, desired):
    for name in ("a", "b"):
        make_domain(name).create()
    result = batch(client, clock, ["a", "test", "b"], desired)
    assert [(outcome["changed"], outcome["state"]) for outcome in result["domains"]] == [(True, "running")] * 3
    assert result["totals"]["changed"] == 3 and result["changed"] is True


# -- check mode ------------------------------------------------------------------------------------
@pytest.mark.parametrize("desired", DESIRED_STATES)
def test_check_mode_predicts_each_domains_actions_and_sends_nothing(client, conn, make_domain, clock, desired):
    names = one_in_each_state(make_domain)
    before = {name: state_of(conn, name) for name in names}
    result = batch(client, clock, names, desired, check_mode=True)
    assert {name: state_of(conn, name) for name in names} == before
    for outcome in result["domains"]:
        start = outcome["name"].removeprefix("vm-")
        steps = plan(desired, start)
        if isinstance(steps, Refusal):  # refused in check mode as in the real run
            assert outcome["failed"] and "cannot be brought" in outcome["msg"]
            continue
        assert (outcome["state"], outcome["previous_state"]) == (start, start)
        assert outcome["actions"] == [step.label for step in steps if step.label]
        assert outcome["changed"] == (bool(steps) or desired in ALWAYS_CHANGED)


# -- settled() is the runner's own decision -------------------------------------------------------------
# libvirt's (state, reason) codes for each observed state; "saved" is shut off with a managed-save image.
CODES = {
    "running": (libvirt.VIR_DOMAIN_RUNNING, libvirt.VIR_DOMAIN_RUNNING_BOOTED),
    "paused": (libvirt.VIR_DOMAIN_PAUSED, libvirt.VIR_DOMAIN_PAUSED_USER),
    "in_shutdown": (libvirt.VIR_DOMAIN_SHUTDOWN, libvirt.VIR_DOMAIN_SHUTDOWN_USER),
    "shutoff": (libvirt.VIR_DOMAIN_SHUTOFF, libvirt.VIR_DOMAIN_SHUTOFF_SHUTDOWN),
    "saved": (libvirt.VIR_DOMAIN_SHUTOFF, libvirt.VIR_DOMAIN_SHUTOFF_SAVED),
    "crashed": (libvirt.VIR_DOMAIN_CRASHED, libvirt.VIR_DOMAIN_CRASHED_PANICKED),
    "pmsuspended": (libvirt.VIR_DOMAIN_PMSUSPENDED, 0),
}


@pytest.mark.parametrize("observed", OBSERVED_STATES)
@pytest.mark.parametrize("desired", [*DESIRED_STATES, *STATE_ALIASES])
def test_settled_says_nothing_to_do_exactly_when_the_runner_in_check_mode_would_do_nothing(client, make_domain, clock, desired, observed):
    state, reason = CODES[observed]
    saved = observed == "saved"
    # A test-driver domain reporting the observed state, as QEMU would (the driver reaches only some of them).
    domain = DomainProxy(make_domain("vm"), state=lambda *_: [state, reason], hasManagedSaveImage=lambda *_: int(saved))
    listed = Listed(domain, status_from_codes(state, reason, saved), persistent=True)
    assert listed.status.state == observed
    try:
        outcome = PowerRunner(client, domain, PowerRequest(state=desired, check_mode=True), clock, clock.sleep).run()
    except VirtOpsError as err:  # a refusal: something must be said, so not settled
        assert isinstance(plan(desired, observed), Refusal), err.msg
        nothing_to_do = False
    else:
        nothing_to_do = not outcome.changed and outcome.actions == []
    assert settled(desired, listed) is nothing_to_do


def test_a_domain_the_listing_could_not_read_or_paused_by_an_operation_is_never_settled(make_domain):
    domain = make_domain("vm")
    assert not settled("shutdown", Listed(domain, None, persistent=True))
    starting_up = status_from_codes(libvirt.VIR_DOMAIN_PAUSED, libvirt.VIR_DOMAIN_PAUSED_STARTING_UP, False)
    assert starting_up.transient and not settled("paused", Listed(domain, starting_up, persistent=True))


@pytest.mark.parametrize(
    ("desired", "start"), [("running", "running"), ("paused", "paused"), ("shutdown", "shutoff"), ("destroyed", "saved"), ("saved", "saved")]
)
def test_a_settled_domains_outcome_is_the_one_its_runner_returns(client, conn, make_domain, clock, desired, start):
    domain = make_domain("vm")
    put_in(domain, start)
    from_listing = batch(client, clock, ["vm"], desired)["domains"][0]
    from_runner = PowerRunner(client, domain, PowerRequest(state=desired), clock, clock.sleep).run().as_result()
    assert from_runner.pop("warnings") == []
    assert {**from_listing, "elapsed": None} == {**from_runner, "elapsed": None, "failed": False}


# -- one domain failing, the others not ---------------------------------------------------------------
def test_a_domain_that_ignores_shutdown_fails_alone_while_the_others_shut_down(client, conn, make_domain, clock, driven):
    for name in ("stubborn", "a", "b"):
        make_domain(name).create()
    driven("stubborn", shutdownFlags=ignores_shutdown)
    result = batch(client, clock, ["stubborn", "a", "b"], "shutdown", timeout=5, retry_interval=2)
    stubborn, a, b = result["domains"]
    assert stubborn["failed"] and "Domain 'stubborn' did not finish a graceful shutdown within timeout=5 s" in stubborn["msg"]
    assert (stubborn["state"], stubborn["previous_state"], stubborn["forced"]) == ("running", "running", False)
    assert stubborn["actions"][0] == "shutdown" and stubborn["id"] == conn.lookupByName("stubborn").ID()
    for other in (a, b):
        assert (other["failed"], other["state"], other["actions"], other["changed"]) == (False, "shutoff", ["shutdown"], True)
    assert state_of(conn, "stubborn") == libvirt.VIR_DOMAIN_RUNNING
    assert (result["totals"]["failed"], result["totals"]["domains"]) == (1, 3)
    assert result["totals"]["slowest"]["name"] == "stubborn" and result["totals"]["slowest"]["elapsed"] >= 5
    assert failures_message(result, "test:///default") == (
        f"1 of 3 domain(s) at URI 'test:///default' failed (2 reached the state): [stubborn] {stubborn['msg']}"
    )


def test_on_timeout_force_powers_off_the_domain_that_ignores_shutdown_and_counts_it(client, conn, make_domain, clock, driven):
    for name in ("stubborn", "a"):
        make_domain(name).create()
    driven("stubborn", shutdownFlags=ignores_shutdown)
    result = batch(client, clock, ["stubborn", "a"], "shutdown", timeout=5, retry_interval=2, on_timeout="force")
    stubborn, a = result["domains"]
    assert (stubborn["failed"], stubborn["forced"], stubborn["state"], stubborn["actions"][-1]) == (False, True, "shutoff", "destroy")
    assert (a["failed"], a["forced"], a["state"]) == (False, False, "shutoff")
    assert result["totals"]["forced"] == 1 and result["totals"]["failed"] == 0
    assert failures_message(result, "test:///default") is None
    # The runner's warnings become the batch's, once each; no outcome keeps its own.
    assert result["warnings"] == [
        "Domain 'stubborn' was powered off (on_timeout=force): it did not finish a graceful shutdown within timeout=5 s (waited 5.0 s)."
    ]
    assert all("warnings" not in outcome for outcome in result["domains"])


def test_a_missing_name_fails_alone_with_every_field_unknown(client, conn, make_domain, clock):
    make_domain("a").create()
    result = batch(client, clock, ["a", "ghost", "test"], "shutdown")
    a, ghost, test = result["domains"]
    assert ghost == {
        "name": "ghost",
        "state": None,
        "previous_state": None,
        "reason": None,
        "changed": False,
        "elapsed": 0.0,
        "actions": [],
        "forced": False,
        "uuid": None,
        "id": None,
        "failed": True,
        "msg": "No domain named 'ghost' at URI 'test:///default'. List the defined domains with: virsh -c 'test:///default' list --all",
    }
    assert (a["state"], test["state"], a["failed"], test["failed"]) == ("shutoff", "shutoff", False, False)
    assert (result["changed"], result["totals"]["changed"], result["totals"]["failed"]) == (True, 2, 1)
    assert failures_message(result, "test:///default").startswith("1 of 3 domain(s) at URI 'test:///default' failed (2 reached the state): [ghost] No domain")


def test_every_failed_domain_is_named_in_the_message(client, conn, clock):
    conn.lookupByName("test").destroy()
    result = batch(client, clock, ["ghost", "test"], "reset")
    message = failures_message(result, "test:///default")
    assert message.startswith("2 of 2 domain(s) at URI 'test:///default' failed (0 reached the state): [ghost] No domain named 'ghost'")
    assert "[test] Domain 'test' cannot be brought to state=reset from shutoff" in message


def test_an_empty_batch_does_nothing(client, clock):
    result = batch(client, clock, [], "shutdown")
    assert result == {
        "changed": False,
        "domains": [],
        "totals": {"domains": 0, "changed": 0, "failed": 0, "forced": 0, "slowest": None, "elapsed": 0.0},
        "warnings": [],
    }
    assert failures_message(result, "test:///default") is None


def test_a_transient_domain_that_vanishes_as_it_shuts_down_counts_as_done(client, conn, make_domain, clock):
    make_domain("ephemeral", transient=True)
    result = batch(client, clock, ["ephemeral", "test"], "shutdown")
    ephemeral, test = result["domains"]
    assert (ephemeral["failed"], ephemeral["state"], ephemeral["reason"], ephemeral["id"]) == (False, "shutoff", "transient domain removed", None)
    assert test["state"] == "shutoff"


# -- how many at once ---------------------------------------------------------------------------------
def test_max_in_flight_1_drives_the_domains_one_at_a_time_and_completes_them_all(client, conn, make_domain, clock, driven):
    threads = []
    for name in ("a", "b", "c"):
        domain = make_domain(name)
        domain.create()
        driven(name, shutdownFlags=lambda flags, domain=domain: (threads.append(threading.current_thread().name), domain.shutdownFlags(flags))[1])
    result = batch(client, clock, ["a", "b", "c", "test"], "shutdown", max_in_flight=1)
    assert [outcome["state"] for outcome in result["domains"]] == ["shutoff"] * 4
    assert len(threads) == 3 and len(set(threads)) == 1 and threads[0].startswith("virt_power")


def test_max_in_flight_0_drives_every_domain_at_once(client, conn, make_domain, clock, driven):
    together = threading.Barrier(3, timeout=10)  # passes only when the three shutdowns are under way at the same time
    for name in ("a", "b", "c"):
        domain = make_domain(name)
        domain.create()
        driven(name, shutdownFlags=lambda flags, domain=domain: (together.wait(), domain.shutdownFlags(flags))[1])
    make_domain("off")  # already shut off: takes no slot
    result = batch(client, clock, ["a", "off", "b", "c"], "shutdown", max_in_flight=0)
    assert [(outcome["state"], outcome["changed"]) for outcome in result["domains"]] == [
        ("shutoff", True),
        ("shutoff", False),
        ("shutoff", True),
        ("shutoff", True),
    ]


# -- the module's options for a batch ------------------------------------------------------------------
def test_a_name_given_twice_is_warned_about_and_acted_on_once_in_the_order_given():
    warned = []
    request = batch_from_params(params(name=None, names=["b", "a", "b", "c", "a"]), False, warned.append)
    assert request.names == ["b", "a", "c"]
    assert warned == [
        "Domain 'b' is listed more than once in names; it is acted on once.",
        "Domain 'a' is listed more than once in names; it is acted on once.",
    ]


def test_the_options_of_a_batch_apply_to_each_domain():
    request = batch_from_params(params(name=None, names=["a"], state="stopped", timeout=30.0, on_timeout="force", max_in_flight=4), True, pytest.fail)
    assert (request.max_in_flight, request.power.state, request.power.timeout, request.power.on_timeout, request.power.check_mode) == (
        4,
        "stopped",
        30.0,
        "force",
        True,
    )


@pytest.mark.parametrize(
    ("names", "message"),
    [
        (["ok", ""], "Option names[1] is empty; give the domain's name."),
        (["ok", "b", "  "], "Option names[2] is empty; give the domain's name."),
        (["web\x001"], "Option names[0] holds a NUL character; a domain name cannot."),
    ],
)
def test_a_name_libvirt_could_never_hold_is_refused_naming_its_place(names, message):
    with pytest.raises(VirtOpsError) as caught:
        batch_from_params(params(name=None, names=names), False, pytest.fail)
    assert caught.value.msg == message


def test_a_negative_max_in_flight_is_refused():
    with pytest.raises(VirtOpsError) as caught:
        batch_from_params(params(name=None, names=["a"], max_in_flight=-1), False, pytest.fail)
    assert caught.value.msg == "Option max_in_flight must be 0 (every domain at once) or a positive number of domains, not -1."


def test_a_duration_a_wait_cannot_honour_is_refused_for_a_batch_too():
    with pytest.raises(VirtOpsError, match="^Option timeout must be a number of seconds"):
        batch_from_params(params(name=None, names=["a"], timeout=-1.0), False, pytest.fail)


def test_a_domain_started_after_a_reconnect_is_found_again_on_the_new_connection(client, conn, make_domain, clock, driven):
    restarted = []
    a = make_domain("a")
    a.create()
    b = make_domain("b")
    b.create()

    def a_state(*args):
        if clock.elapsed() >= 6 and not restarted:
            restarted.append(1)
            raise socket_closed()
        return a.state(*args)

    def dead(method):
        def call(*args):
            if restarted:
                raise socket_closed()  # a handle of the connection from before the restart
            return method(*args)

        return call

    driven("a", state=a_state, shutdownFlags=ignores_shutdown)
    driven("b", isPersistent=dead(b.isPersistent), state=dead(b.state), shutdownFlags=dead(b.shutdownFlags))
    result = batch(client, clock, ["a", "b"], "shutdown", max_in_flight=1, timeout=20, retry_interval=5)
    first, second = result["domains"]
    assert not first["failed"], first.get("msg")
    assert not second["failed"], second.get("msg")
    assert second["state"] == "shutoff"
