"""virt_power wait_for on real QEMU guests (the tiny ones of tests/testbed/guest.py):
a `net` guest gets a DHCP lease on the libvirt network `default` (started by
tests/testbed/start_network.sh, inside the daemon's namespace), which wait_for=ip
returns; a guest without an agent makes wait_for=agent fail after wait_for_timeout,
left running; durations a wait cannot honour are refused before anything is sent;
check mode does not wait; a second run changes nothing and still returns the addresses;
a batch waits for each domain at once."""

from __future__ import annotations

import ipaddress

from fleet_harness import ensure_network
from virt_harness import Adhoc, domstate, virsh

DEFAULT_NETWORK = ipaddress.ip_network("192.168.122.0/24")


def leased(ip: str) -> bool:
    return ip in virsh("net-dhcp-leases", "default")


def test_wait_for_ip_returns_the_leased_address_once_and_again(guests):
    ensure_network()
    first, second = guests.define("net"), guests.define("net")
    args = {"state": "running", "wait_for": "ip", "ip_sources": "lease", "wait_for_timeout": 120}

    started = Adhoc({"name": first, **args})
    assert started.status == "CHANGED", started.output
    assert (started["actions"], started["waited"]) == (["start"], True)
    assert ipaddress.ip_address(started["ip"]) in DEFAULT_NETWORK and leased(started["ip"])
    [address] = started["addresses"]
    assert {key: address[key] for key in ("network", "bridge", "family", "prefix", "source")} == {
        "network": "default",
        "bridge": "virbr0",
        "family": "ipv4",
        "prefix": 24,
        "source": "lease",
    }
    assert address["mac"] in virsh("domiflist", first) and address["address"] == started["ip"]
    assert 0 < started["wait_for_seconds"] <= started["elapsed"]
    print(f"\nwait_for=ip: lease after {started['wait_for_seconds']:.1f} s of waiting, run took {started['elapsed']:.1f} s")

    again = Adhoc({"name": first, **args})
    assert again.status == "SUCCESS" and again["changed"] is False, again.output
    assert (again["ip"], again["waited"], again["actions"]) == (started["ip"], True, [])
    assert again["wait_for_seconds"] < 2

    checked = Adhoc({"name": second, **args}, check=True)  # shut off: predicted start, no wait
    assert (checked["changed"], checked["actions"], checked["waited"], checked["addresses"]) == (True, ["start"], False, [])
    assert checked.wall < 30 and domstate(second) == "shut off"

    batch = Adhoc({"names": [first, second], **args})
    assert batch.status == "CHANGED", batch.output
    one, two = batch["domains"]
    assert (one["changed"], one["ip"], two["changed"], two["actions"]) == (False, started["ip"], True, ["start"])
    assert ipaddress.ip_address(two["ip"]) in DEFAULT_NETWORK and two["ip"] != one["ip"] and not two["failed"]


def test_wait_for_agent_without_an_agent_fails_after_the_timeout_leaving_it_running(guests):
    name = guests.define()  # the tiny guest has no agent channel
    run = Adhoc({"name": name, "state": "running", "wait_for": "agent", "wait_for_timeout": 6})
    assert run.failed, run.output
    assert run["msg"].startswith("Gave up waiting for its QEMU guest agent to answer (wait_for=agent) after 6.")
    assert f"domain '{name}' is running (this run started it); last seen: the agent: " in run["msg"]
    assert "not configured" in run["msg"] and run["msg"].endswith("or raise wait_for_timeout.")
    assert (run["changed"], run["state"], run["actions"], run["waited"], run["ip"]) == (True, "running", ["start"], True, None)
    assert 6 <= run["wait_for_seconds"] < 9
    assert domstate(name) == "running"


def test_a_wait_for_timeout_a_wait_cannot_honour_is_refused_before_anything_is_sent(guests):
    name = guests.define()
    for value in ("nan", "-1", "inf"):
        run = Adhoc({"name": name, "state": "running", "wait_for": "ip", "wait_for_timeout": value})
        assert run.failed and run["msg"].startswith("Option wait_for_timeout must be a number of seconds, at least 0"), run.output
    refused = Adhoc({"name": name, "state": "shutdown", "wait_for": "agent"})
    assert refused.failed and "takes a state that ends running (running, restarted), not state=shutdown" in refused["msg"]
    assert domstate(name) == "shut off"
