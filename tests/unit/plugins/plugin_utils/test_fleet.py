"""The filters of the fleet playbooks (virtops.libvirt.power, restart_rolling): the hosts
grouped into one virt_power batch per hypervisor and options, cut into rounds as a
play's serial cuts them; each batch's result back into one line per host; the summary.
hostvars is a plain dict of dicts, as the filters read it."""

from __future__ import annotations

import re

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.virtops.libvirt.plugins.filter.fleet import FilterModule
from ansible_collections.virtops.libvirt.plugins.plugin_utils._fleet import (
    fleet_batch_outcomes,
    fleet_batches,
    fleet_leaders,
    fleet_outcomes,
    fleet_summary,
    serial_sizes,
)

KVM1 = "qemu+ssh://kvm1/system"
KVM2 = "qemu+ssh://kvm2/system"
POWER_OPTIONS = ["power_state", "power_timeout"]


def domain(host: str, uri: str = KVM1, **variables):
    """A host as the inventory plugin makes it (named after its domain)."""
    return {"libvirt_name": host, "libvirt_uri": uri, **variables}


def outcome(name: str, **fields):
    """A domain's outcome in a virt_power batch result."""
    return {
        "name": name,
        "state": "shutoff",
        "previous_state": "running",
        "reason": "shutdown",
        "changed": True,
        "elapsed": 1.23,
        "actions": ["shutdown"],
        "forced": False,
        "failed": False,
        **fields,
    }


def members(*hosts: str):
    return [{"host": host, "name": host, "index": index} for index, host in enumerate(hosts)]


def test_the_filters_the_playbooks_use_are_exposed():
    assert set(FilterModule().filters()) == {"fleet_batches", "fleet_batch_outcomes", "fleet_outcomes", "fleet_summary", "fleet_leaders"}


# -- serial, as a play cuts its hosts -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("serial", "count", "sizes"),
    [
        (0, 5, [5]),
        (None, 5, [5]),
        ([], 5, [5]),
        (2, 5, [2, 2, 1]),
        ("2", 5, [2, 2, 1]),
        (10, 3, [3]),
        ("30%", 10, [3, 3, 3, 1]),
        ("1%", 10, [1] * 10),  # a percentage below one host still takes one
        ([1, 3], 8, [1, 3, 3, 1]),  # the last value repeats
        ([1, "50%"], 6, [1, 3, 2]),  # a percentage is of all the hosts, not of those left
        ([1, 0], 5, [1, 4]),  # 0: all the rest at once
        (2, 0, []),
    ],
)
def test_serial_cuts_the_hosts_as_a_play_does(serial, count, sizes):
    assert serial_sizes(serial, count) == sizes


@pytest.mark.parametrize(
    ("serial", "shown"),
    [(-1, "-1"), ([2, -3], "-3"), ("two", "'two'"), ("x%", "'x%'"), ([1, "lots"], "'lots'"), ({"size": 2}, "{'size': 2}")],
)
def test_a_serial_that_is_no_count_of_domains_is_refused_naming_the_variables(serial, shown):
    with pytest.raises(AnsibleFilterError) as caught:
        serial_sizes(serial, 5)
    assert str(caught.value) == (
        f"The domains per round (power_serial, restart_batch) must be 0 (all at once), a number of domains, a percentage or a list of those, not {shown}."
    )


# -- the plan ---------------------------------------------------------------------------------------------
def test_hosts_are_grouped_by_hypervisor_and_options_each_group_led_by_its_first_host():
    hostvars = {
        "web1": domain("web1", power_state="shutdown"),
        "db1": domain("db1", KVM2, power_state="shutdown"),
        "web2": domain("web2", power_state="shutdown", power_timeout=None),  # unset: the same as not given
        "web3": domain("web3", power_state="shutdown", power_timeout=30),
        "db2": domain("db2", KVM2, power_state="shutdown"),
    }
    plan = fleet_batches(list(hostvars), hostvars, POWER_OPTIONS)
    assert [(batch["leader"], batch["uri"], batch["options"]) for batch in plan["batches"]] == [
        ("web1", KVM1, {"power_state": "shutdown"}),
        ("db1", KVM2, {"power_state": "shutdown"}),
        ("web3", KVM1, {"power_state": "shutdown", "power_timeout": 30}),
    ]
    assert [[member["host"] for member in batch["rounds"][0]] for batch in plan["batches"]] == [["web1", "web2"], ["db1", "db2"], ["web3"]]
    assert plan["batches"][1]["rounds"][0] == [{"host": "db1", "name": "db1", "index": 1}, {"host": "db2", "name": "db2", "index": 4}]
    assert (plan["rounds"], plan["hosts"], plan["invalid"], plan["states"]) == (1, 5, [], "shutdown")


def test_the_domain_name_comes_from_libvirt_name_not_the_host_name():
    hostvars = {"web1.example.com": {"libvirt_name": "web1", "libvirt_uri": KVM1}}
    plan = fleet_batches(["web1.example.com"], hostvars)
    assert plan["batches"] == [
        {"leader": "web1.example.com", "uri": KVM1, "options": {}, "rounds": [[{"host": "web1.example.com", "name": "web1", "index": 0}]]}
    ]


def test_serial_cuts_every_batch_into_the_same_rounds():
    hosts = ["a1", "b1", "a2", "b2", "a3"]
    hostvars = {host: domain(host, KVM1 if host.startswith("a") else KVM2) for host in hosts}
    plan = fleet_batches(hosts, hostvars, [], 2)
    assert plan["rounds"] == 3
    assert [[[member["host"] for member in members] for members in batch["rounds"]] for batch in plan["batches"]] == [
        [["a1"], ["a2"], ["a3"]],
        [["b1"], ["b2"], []],  # a batch with no host in a round sits it out
    ]


def test_hosts_not_from_the_inventory_plugin_are_invalid_and_named():
    hostvars = {
        "web1": domain("web1"),
        "localhost": {},
        "half": {"libvirt_name": "half"},
    }
    plan = fleet_batches(["localhost", "web1", "half"], hostvars, POWER_OPTIONS)
    assert [batch["leader"] for batch in plan["batches"]] == ["web1"]
    assert plan["invalid"] == [
        {
            "host": "localhost",
            "index": 0,
            "msg": "localhost has no libvirt_name or libvirt_uri: it does not come from the virtops.libvirt.libvirt inventory plugin. "
            "Use an inventory file ending in .libvirt.yml and limit the run to its domains.",
        },
        {
            "host": "half",
            "index": 2,
            "msg": "half has no libvirt_uri: it does not come from the virtops.libvirt.libvirt inventory plugin. "
            "Use an inventory file ending in .libvirt.yml and limit the run to its domains.",
        },
    ]
    assert (plan["hosts"], plan["rounds"]) == (3, 1)


def test_states_names_each_desired_state_once_in_the_order_of_the_batches():
    hostvars = {
        "a": domain("a", power_state="shutdown"),
        "b": domain("b", power_state="running"),
        "c": domain("c", KVM2, power_state="shutdown"),
        "d": domain("d"),  # no state of its own
    }
    assert fleet_batches(list(hostvars), hostvars, POWER_OPTIONS)["states"] == "shutdown,running"
    assert fleet_batches(list(hostvars), hostvars)["states"] == ""


def test_an_option_the_play_sets_applies_to_every_host_and_names_the_states():
    # import_playbook vars are no host's variables: the play sees them, hostvars do not
    hostvars = {"a": domain("a"), "b": domain("b", power_state="running")}
    plan = fleet_batches(["a", "b"], hostvars, {"power_state": "shutdown", "power_timeout": None})
    assert [batch["options"] for batch in plan["batches"]] == [{"power_state": "shutdown"}]
    assert plan["states"] == "shutdown"


def test_an_option_the_play_sees_as_the_first_host_has_it_stays_per_host():
    hostvars = {"a": domain("a", power_state="shutdown"), "b": domain("b", power_state="running")}
    plan = fleet_batches(["a", "b"], hostvars, {"power_state": "shutdown"})
    assert [batch["options"] for batch in plan["batches"]] == [{"power_state": "shutdown"}, {"power_state": "running"}]
    assert plan["states"] == "shutdown,running"


def test_each_batch_has_a_leader_and_without_any_batch_the_first_invalid_host_reports():
    hostvars = {"a": domain("a"), "b": domain("b", KVM2), "stray": {}}
    assert fleet_leaders(fleet_batches(["stray", "a", "b"], hostvars)) == [{"leader": "a", "uri": KVM1}, {"leader": "b", "uri": KVM2}]
    assert fleet_leaders(fleet_batches(["stray"], hostvars)) == [{"leader": "stray", "uri": None}]
    assert fleet_leaders(fleet_batches([], hostvars)) == []


# -- a batch's result, host by host ------------------------------------------------------------------------
def lines(outcomes):
    return [outcome["line"] for outcome in outcomes]


def test_power_lines_say_from_where_to_where_with_what_and_how_long():
    result = {
        "domains": [
            outcome("a"),
            outcome("b", actions=["shutdown", "shutdown", "destroy"], forced=True, elapsed=62.08),
            outcome("c", previous_state="shutoff", actions=[], changed=False, elapsed=0.0),
            outcome("d", failed=True, msg="Domain 'd' did not finish a graceful shutdown within timeout=60 s", state="running"),
        ]
    }
    outcomes = fleet_outcomes(result, members("a", "b", "c", "d"))
    assert lines(outcomes) == [
        "a: running -> shutoff (shutdown), 1.2 s, changed",
        "b: running -> shutoff (shutdown, shutdown, destroy), FORCED off after timeout, 62.1 s, changed",
        "c: shutoff -> shutoff (nothing to do), 0.0 s",
        "d: FAILED: Domain 'd' did not finish a graceful shutdown within timeout=60 s",
    ]
    assert [(item["failed"], item["changed"], item["forced"]) for item in outcomes] == [
        (False, True, ""),
        (False, True, "off"),
        (False, False, ""),
        (True, False, ""),
    ]
    assert outcomes[3]["msg"] == "Domain 'd' did not finish a graceful shutdown within timeout=60 s"


def test_check_mode_lines_say_what_would_be_sent():
    result = {"domains": [outcome("a", state="running"), outcome("b", previous_state="shutoff", state="shutoff", actions=[], changed=False)]}
    assert lines(fleet_outcomes(result, members("a", "b"), check_mode=True)) == ["a: running, would send: shutdown", "b: shutoff, would send: nothing to do"]


def test_a_batch_that_failed_as_a_whole_fails_every_host_with_its_message():
    result = {"failed": True, "msg": "Cannot connect to libvirt at URI 'qemu+ssh://kvm1/system': no route to host."}
    outcomes = fleet_outcomes(result, members("a", "b"))
    assert lines(outcomes) == [f"{host}: FAILED: Cannot connect to libvirt at URI 'qemu+ssh://kvm1/system': no route to host." for host in ("a", "b")]
    assert all(item["failed"] and item["state"] is None for item in outcomes)


def test_a_host_the_result_does_not_mention_fails():
    outcomes = fleet_outcomes({"domains": [outcome("a")]}, members("a", "b"))
    assert outcomes[1]["line"] == "b: FAILED: virt_power returned no outcome for this domain"
    assert fleet_outcomes(None, members("a"))[0]["line"] == "a: FAILED: virt_power returned no outcome for this domain"


DONE_AT = r"done at \d\d:\d\d:\d\d"


def restarted(name: str, **fields):
    return outcome(name, **{"previous_state": "running", "state": "running", "reason": "booted", "actions": ["reboot"], "elapsed": 1.0, **fields})


def test_restart_lines_say_when_each_guest_was_back():
    result = {"domains": [restarted("a"), restarted("b", actions=["reboot", "reset"], forced=True, elapsed=120.44)]}
    waited = {"results": [{"item": {"host": "a"}, "elapsed": 3, "failed": False}, {"item": {"host": "b"}, "skipped": True}]}
    first, second = lines(fleet_outcomes(result, members("a", "b"), expect="running", waited=waited))
    assert re.fullmatch(rf"a: running -> running \(reboot\) in 1\.0 s, restart_wait_for met after 3 s, {DONE_AT}", first), first
    assert re.fullmatch(rf"b: running -> running \(reboot, reset\), FORCED reset after timeout, in 120\.4 s, {DONE_AT}", second), second


def test_a_restart_that_does_not_end_running_fails():
    result = {"domains": [restarted("a", state="paused", reason="user")]}
    (item,) = fleet_outcomes(result, members("a"), expect="running")
    assert item["failed"] and item["line"] == "a: FAILED: a is paused (user) after the restart, not running; the roll stops here."
    # In check mode nothing was sent, so the state is the one it was in.
    assert not fleet_outcomes(result, members("a"), check_mode=True, expect="running")[0]["failed"]


def test_a_restart_whose_wait_for_was_not_met_fails():
    waited = {"results": [{"item": {"host": "a"}, "failed": True, "elapsed": 300, "msg": "Timeout when waiting for 192.0.2.7:443"}]}
    (item,) = fleet_outcomes({"domains": [restarted("a")]}, members("a"), expect="running", waited=waited)
    assert item["failed"] and item["line"] == "a: FAILED: restart_wait_for was not met: Timeout when waiting for 192.0.2.7:443"
    assert item["changed"] is False


def test_a_domain_that_failed_keeps_its_own_message_whatever_the_wait_said():
    waited = {"results": [{"item": {"host": "a"}, "failed": True, "msg": "Timeout"}]}
    result = {"domains": [restarted("a", failed=True, msg="Domain 'a' did not finish a graceful reboot")]}
    assert fleet_outcomes(result, members("a"), expect="running", waited=waited)[0]["msg"] == "Domain 'a' did not finish a graceful reboot"


# -- every round of every batch -----------------------------------------------------------------------------
def test_the_outcomes_of_every_round_come_from_each_leaders_registered_results():
    hosts = ["a1", "b1", "a2", "b2", "a3"]
    hostvars = {host: domain(host, KVM1 if host.startswith("a") else KVM2) for host in hosts}
    plan = fleet_batches(hosts, hostvars, [], 2)
    hostvars["a1"].update(
        kept0={"domains": [outcome("a1")]},
        kept1={"domains": [outcome("a2")]},
        result={"domains": [outcome("a3")]},
    )
    # b's last round had no host: its task was skipped and registered so.
    hostvars["b1"].update(kept0={"domains": [outcome("b1")]}, kept1={"domains": [outcome("b2", failed=True, msg="boom")]}, result={"skipped": True})
    outcomes = fleet_batch_outcomes(plan, hostvars, "result", "kept")
    assert [(item["host"], item["index"], item["failed"]) for item in outcomes] == [
        ("a1", 0, False),
        ("a2", 2, False),
        ("a3", 4, False),
        ("b1", 1, False),
        ("b2", 3, True),
    ]


def test_a_round_a_batch_never_ran_leaves_its_hosts_unreported():
    hosts = ["a1", "a2", "a3"]
    hostvars = {host: domain(host) for host in hosts}
    plan = fleet_batches(hosts, hostvars, [], 1)
    hostvars["a1"].update(kept0={"domains": [outcome("a1")]}, kept1={"skipped": True})  # the run stopped after round 0
    assert [item["host"] for item in fleet_batch_outcomes(plan, hostvars, "result", "kept")] == ["a1"]
    assert fleet_batch_outcomes(plan, hostvars, "result", "kept", check_mode=True)[0]["line"] == "a1: running, would send: shutdown"


# -- the summary ---------------------------------------------------------------------------------------------
def test_the_power_summary_lists_every_host_then_the_totals():
    hostvars = {host: domain(host, power_state="shutdown") for host in ("a", "b")}
    plan = fleet_batches(["a", "b"], hostvars, POWER_OPTIONS)
    result = {"domains": [outcome("a", forced=True, actions=["shutdown", "destroy"]), outcome("b", failed=True, msg="refused")]}
    summary = fleet_summary(fleet_outcomes(result, plan["batches"][0]["rounds"][0]), plan, "power_state=shutdown")
    assert summary == [
        "a: running -> shutoff (shutdown, destroy), FORCED off after timeout, 1.2 s, changed",
        "b: FAILED: refused",
        "power_state=shutdown: 2 domain(s), 1 changed, 1 failed, 1 forced off",
    ]


def test_the_power_summary_names_hosts_not_reached_and_invalid_ones_in_play_order():
    hostvars = {**{host: domain(host, power_state="shutdown") for host in ("a", "b", "c")}, "stray": {}}
    plan = fleet_batches(["a", "stray", "b", "c"], hostvars, POWER_OPTIONS, 1)
    done = {"domains": [outcome("a", previous_state="shutoff", actions=[], changed=False, elapsed=0)]}
    outcomes = fleet_outcomes(done, plan["batches"][0]["rounds"][0], check_mode=True)
    summary = fleet_summary(outcomes, plan, "power_state=shutdown", check_mode=True)
    assert summary == [
        "a: shutoff, would send: nothing to do",
        f"stray: FAILED: {plan['invalid'][0]['msg']}",
        "power_state=shutdown: 2 domain(s), 0 changed, 1 failed, not reached: b c (check mode: nothing was sent)",
    ]


def test_the_restart_summary_counts_the_domains_restarted_out_of_all():
    hostvars = {host: domain(host) for host in ("a", "b", "c")}
    plan = fleet_batches(["a", "b", "c"], hostvars, [], 1)
    first, second, _never = plan["batches"][0]["rounds"]
    failed = restarted("b", failed=True, msg="Domain 'b' did not finish a graceful reboot")
    outcomes = [*fleet_outcomes({"domains": [restarted("a")]}, first, expect="running"), *fleet_outcomes({"domains": [failed]}, second, expect="running")]
    summary = fleet_summary(outcomes, plan, "rolling restart in batches of 1", done_word="restarted")
    assert summary[1] == "b: FAILED: Domain 'b' did not finish a graceful reboot"
    assert summary[-1] == "rolling restart in batches of 1: 1 of 3 domain(s) restarted, 1 failed (the roll stopped), not reached: c"


def test_the_restart_summary_counts_forced_resets_as_restarted():
    hostvars = {host: domain(host) for host in ("a", "b")}
    plan = fleet_batches(["a", "b"], hostvars, [], 0)
    result = {"domains": [restarted("a"), restarted("b", actions=["reboot", "reset"], forced=True)]}
    outcomes = fleet_outcomes(result, plan["batches"][0]["rounds"][0], expect="running")
    summary = fleet_summary(outcomes, plan, "rolling restart in batches of 0", done_word="restarted")
    assert summary[-1] == "rolling restart in batches of 0: 2 of 2 domain(s) restarted, 1 forced reset"
