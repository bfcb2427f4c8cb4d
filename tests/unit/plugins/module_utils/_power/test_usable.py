"""virt_power's wait_for: once the domain runs, wait until its guest agent answers or
it has a usable address, within wait_for_timeout, never changing anything; the
addresses it returns; a clear failure when the time is up; no wait in check mode;
the options it takes; and each domain of a batch waited for on its own. On
libvirt's test driver (its domain 'test' has a NIC on network 'default' with an
address by lease; the driver has no guest agent), with a fake clock."""

from __future__ import annotations

import math

import libvirt
import pytest

from ansible_collections.virtops.libvirt.plugins.module_utils._core.errors import LibvirtCallError, VirtOpsError
from ansible_collections.virtops.libvirt.plugins.module_utils._power import usable as usable_module
from ansible_collections.virtops.libvirt.plugins.module_utils._power.batch import BatchRequest, failures_message, run_batch
from ansible_collections.virtops.libvirt.plugins.module_utils._power.module import batch_from_params, usable_from_params
from ansible_collections.virtops.libvirt.plugins.module_utils._power.runner import PowerRequest, PowerRunner
from ansible_collections.virtops.libvirt.plugins.module_utils._power.usable import USABLE_STATES, UsableRequest, UsableWaiter

from .test_module import params

NIC_XML = """<domain type='test'><name>{name}</name><memory unit='MiB'>64</memory><os><type>hvm</type></os>
<devices><interface type='network'><mac address='52:54:00:00:00:{index:02x}'/><source network='default'/></interface></devices></domain>"""
NO_AGENT = "this function is not supported by the connection driver: virDomainQemuAgentCommand"


def with_nic(conn, name: str, index: int = 1):
    return conn.defineXML(NIC_XML.format(name=name, index=index))


def bring(client, clock, name: str, usable: UsableRequest, state: str = "running", check_mode: bool = False) -> dict:
    """A run with name=: the power run, then the wait (as module.run does)."""
    runner = PowerRunner(client, client.lookup(name), PowerRequest(state=state, check_mode=check_mode), clock, clock.sleep)
    return UsableWaiter(client, runner.domain, usable, clock, clock.sleep).result(runner.run().as_result())


def agent_answers_after(monkeypatch, clock, seconds: float) -> list[float]:
    """The guest agent answers once ``seconds`` have passed; returns when it was asked."""
    asked: list[float] = []

    def ping(conn, domain, name, limit):
        asked.append(clock.elapsed())
        if clock.elapsed() < seconds:
            raise LibvirtCallError("no agent", libvirt.VIR_ERR_AGENT_UNRESPONSIVE, "Guest agent is not responding: QEMU guest agent is not connected")

    monkeypatch.setattr(usable_module, "agent_ping", ping)
    return asked


# -- wait_for: ip -----------------------------------------------------------------------------------
def test_a_started_domain_is_waited_for_until_it_has_an_address(client, conn, clock):
    with_nic(conn, "web")
    result = bring(client, clock, "web", UsableRequest("ip"))
    assert (result["state"], result["actions"], result["changed"]) == ("running", ["start"], True)
    assert result["waited"] is True and result["wait_for_seconds"] == 0.0
    [found] = result["addresses"]
    assert found == {**found, "interface": "testnet0", "mac": "52:54:00:00:00:01", "network": "default", "family": "ipv4", "prefix": 24, "source": "lease"}
    assert result["ip"] == found["address"]


def test_waiting_is_a_read_a_running_domain_stays_unchanged(client, clock):
    result = bring(client, clock, "test", UsableRequest("ip", ip_sources=("arp", "lease")))
    assert (result["changed"], result["actions"]) == (False, [])
    assert result["ip"] and result["addresses"][0]["source"] == "arp"  # the first source that knows one


def test_without_an_address_the_wait_ends_at_its_timeout_saying_what_it_saw(client, make_domain, clock):
    make_domain("bare")  # no NIC
    with pytest.raises(VirtOpsError) as caught:
        bring(client, clock, "bare", UsableRequest("ip", timeout=30))
    assert caught.value.msg.startswith(
        "Gave up waiting for a usable IP address (wait_for=ip) after 30.0 s (wait_for_timeout=30 s): domain 'bare' is running (this run started it); "
        "last seen: no usable address (lease: none; agent: none). Check that the guest configures its network"
    )
    assert caught.value.msg.endswith("or raise wait_for_timeout.")
    result = caught.value.result
    assert (result["state"], result["changed"], result["actions"], result["waited"]) == ("running", True, ["start"], True)
    assert (result["addresses"], result["ip"], result["wait_for_seconds"]) == ([], None, 30.0)
    assert clock.elapsed() == pytest.approx(30.0)


# -- wait_for: agent --------------------------------------------------------------------------------
def test_the_agent_is_pinged_every_second_until_it_answers(client, clock, monkeypatch):
    asked = agent_answers_after(monkeypatch, clock, 7.5)
    result = bring(client, clock, "test", UsableRequest("agent", ip_sources=("lease",)))
    assert asked == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]
    assert (result["wait_for_seconds"], result["waited"], result["changed"]) == (8.0, True, False)
    assert result["addresses"][0]["network"] == "default" and result["ip"]


def test_an_agent_that_never_answers_fails_with_its_error_and_the_domain_running(client, clock):
    with pytest.raises(VirtOpsError) as caught:
        bring(client, clock, "test", UsableRequest("agent", timeout=12))
    assert caught.value.msg == (
        "Gave up waiting for its QEMU guest agent to answer (wait_for=agent) after 12.0 s (wait_for_timeout=12 s): domain 'test' is running "
        f"(it was running already); last seen: the agent: {NO_AGENT}. Check that qemu-guest-agent runs in the guest and that the domain has "
        "the channel org.qemu.guest_agent.0, or raise wait_for_timeout."
    )
    assert (caught.value.result["changed"], caught.value.result["state"]) == (False, "running")


def test_a_guest_that_stops_while_waited_for_ends_the_wait_at_once(client, conn, clock):
    clock.at(3.5, lambda: conn.lookupByName("test").destroy())
    with pytest.raises(
        VirtOpsError, match=r"^Domain 'test' stopped running while waiting for its QEMU guest agent to answer \(wait_for=agent\): it is now shutoff"
    ):
        bring(client, clock, "test", UsableRequest("agent", timeout=60))
    assert clock.elapsed() == 4.0


# -- check mode -------------------------------------------------------------------------------------
def test_check_mode_does_not_wait(client, conn, clock, monkeypatch):
    with_nic(conn, "web")
    asked = agent_answers_after(monkeypatch, clock, math.inf)
    shut_off = bring(client, clock, "web", UsableRequest("agent", check_mode=True), check_mode=True)
    assert (shut_off["state"], shut_off["actions"], shut_off["waited"], shut_off["addresses"], shut_off["ip"]) == ("shutoff", ["start"], False, [], None)
    running = bring(client, clock, "test", UsableRequest("agent", check_mode=True), check_mode=True)
    assert (running["waited"], running["wait_for_seconds"]) == (False, 0.0) and running["ip"]  # what it has now, read once
    assert asked == [] and clock.elapsed() == 0


# -- the options --------------------------------------------------------------------------------------
def test_only_states_that_end_running_can_be_waited_for():
    assert USABLE_STATES == ("running", "restarted")
    for state in ("running", "restarted"):
        assert usable_from_params(params(state=state, wait_for="ip"), check_mode=False) == UsableRequest("ip", ("lease", "agent"), 300.0)
    for state in ("shutdown", "stopped", "destroyed", "paused", "saved", "reset"):
        with pytest.raises(
            VirtOpsError,
            match=rf"^Option wait_for waits for a running guest, so it takes a state that ends running \(running, restarted\), not state={state}\.$",
        ):
            usable_from_params(params(state=state, wait_for="agent"), check_mode=False)
    assert usable_from_params(params(state="shutdown"), check_mode=False) is None  # no wait_for, nothing to check


def test_wait_for_takes_wait_true_and_some_ip_source():
    with pytest.raises(VirtOpsError, match="wait=false would not"):
        usable_from_params(params(state="running", wait_for="ip", wait=False), check_mode=False)
    with pytest.raises(VirtOpsError, match="^Option ip_sources is empty"):
        usable_from_params(params(state="running", wait_for="ip", ip_sources=[]), check_mode=False)
    request = usable_from_params(params(state="running", wait_for="agent", ip_sources=["agent", "lease", "agent"], wait_for_timeout=0), check_mode=True)
    assert request == UsableRequest("agent", ("agent", "lease"), 0.0, check_mode=True)


@pytest.mark.parametrize("value", [math.nan, math.inf, -1.0, 7 * 24 * 3600 + 1.0])
def test_a_wait_for_timeout_a_wait_cannot_honour_is_refused(value):
    with pytest.raises(VirtOpsError, match=r"^Option wait_for_timeout must be a number of seconds, at least 0 and at most 604800, not "):
        usable_from_params(params(state="running", wait_for="ip", wait_for_timeout=value), check_mode=False)


# -- batches --------------------------------------------------------------------------------------------
def test_each_domain_of_a_batch_is_waited_for_on_its_own(client, conn, make_domain, clock):
    with_nic(conn, "web1", 1)
    make_domain("bare")
    request = batch_from_params(params(name=None, names=["web1", "test", "bare"], state="running", wait_for="ip", wait_for_timeout=20), False, print)
    result = run_batch(client, request, clock, clock.sleep)
    web1, test, bare = result["domains"]
    assert (web1["changed"], web1["failed"], web1["waited"], web1["addresses"][0]["network"]) == (True, False, True, "default")
    assert (test["changed"], test["failed"], test["waited"]) == (False, False, True) and test["ip"]  # already running: waited for all the same
    assert (bare["changed"], bare["failed"], bare["ip"], bare["addresses"], bare["wait_for_seconds"]) == (True, True, None, [], 20.0)
    assert "Gave up waiting for a usable IP address (wait_for=ip) after 20.0 s" in bare["msg"]
    assert failures_message(result, "test:///default").startswith("1 of 3 domain(s) at URI 'test:///default' failed (2 reached the state): [bare] Gave up")


def test_a_missing_domain_of_a_waiting_batch_has_every_field(client, clock):
    result = run_batch(client, BatchRequest(["nope"], PowerRequest("running"), usable=UsableRequest("ip")), clock, clock.sleep)
    [outcome] = result["domains"]
    assert (outcome["failed"], outcome["addresses"], outcome["ip"], outcome["waited"]) == (True, [], None, False)
