"""The line the action plugins of virt_power and virt_domain show before a wait
that may last long: what is awaited and for how long at most, read from the task's
arguments as the module will read them (the modules' own tests cover the waits)."""

from __future__ import annotations

import math

import pytest
from ansible.playbook.task import Task

from ansible_collections.virtops.libvirt.plugins.action.virt_domain import ActionModule as DomainAction
from ansible_collections.virtops.libvirt.plugins.action.virt_power import ActionModule as PowerAction
from ansible_collections.virtops.libvirt.plugins.plugin_utils._long_wait import domain_words, flag, seconds


def announce(action_class, **args):
    return action_class.announcement(None, args)  # announcement() reads only the arguments


@pytest.mark.parametrize(("value", "expected"), [(None, 120), (30, 30), ("45", 45), ("0", 0)])
def test_seconds_as_the_module_reads_them(value, expected):
    assert seconds(value, 120) == expected


@pytest.mark.parametrize("value", [-1, "nan", math.inf, "soon"])
def test_seconds_the_module_will_refuse_give_no_line(value):
    assert seconds(value, 120) is None


def test_flags_and_domain_words():
    assert flag(None, True) is True and flag("no", True) is False and flag("maybe", True) is True
    assert domain_words({"name": "web1"}) == "domain 'web1'"
    assert domain_words({"domain": "web2"}) == "domain 'web2'"
    assert domain_words({"uuid": "u-1"}) == "the domain with UUID 'u-1'"


def test_virt_power_announces_graceful_waits_only():
    assert announce(PowerAction, name="web1", state="shutdown") == "virt_power: waiting at most 120 s for domain 'web1' to shut down"
    assert announce(PowerAction, name="web1", state="restarted", timeout=30, on_timeout="force") == (
        "virt_power: waiting at most 30 s for domain 'web1' to reboot, then reset it"
    )
    assert announce(PowerAction, name="web1", state="stopped", on_timeout="force").endswith("to shut down, then power it off")
    for quiet in ({"state": "running"}, {"state": "destroyed"}, {"state": "shutdown", "wait": False}, {"state": "shutdown", "timeout": "nan"}):
        assert announce(PowerAction, name="web1", **quiet) is None, quiet


def test_virt_power_announces_a_wait_for_and_its_timeout():
    assert announce(PowerAction, name="web1", state="running", wait_for="ip") == "virt_power: waiting at most 300 s for an IP address for domain 'web1'"
    assert announce(PowerAction, name="web1", state="restarted", wait_for="agent", wait_for_timeout=90) == (
        "virt_power: waiting at most 120 s for domain 'web1' to reboot; then at most 90 s for its guest agent to answer"
    )
    assert announce(PowerAction, names=["a", "b"], state="running", wait_for="agent") == (
        "virt_power: batch at 'qemu:///system': 2 domain(s) to state=running, then at most 300 s for its guest agent to answer each"
    )
    assert announce(PowerAction, name="web1", state="running", wait_for="ip", wait_for_timeout="nan") is None  # the module refuses it


def test_virt_domain_announces_a_restart_if_pending_only():
    assert announce(DomainAction, name="web1", restart="if_pending", restart_timeout=60) == (
        "virt_domain: if domain 'web1' has a change pending, it is restarted: waiting at most 60 s for it to shut down"
    )
    assert announce(DomainAction, name="web1") is None
    assert announce(DomainAction, name="web1", restart="if_pending", state="absent") is None


# -- a batch (virt_power names=): one line when it starts, one when it ends --------------------------------
def conclude(action_class, args, result, check_mode=False):
    task = Task()
    task.check_mode = check_mode
    return action_class(task, None, None, None, None, None).conclusion(args, result)


def test_a_batch_announces_its_size_its_uri_and_the_longest_wait():
    assert announce(PowerAction, names=["a", "b", "c"], state="shutdown", timeout=60, on_timeout="force") == (
        "virt_power: batch at 'qemu:///system': 3 domain(s) to state=shutdown, waiting at most 60 s for each to shut down, then power it off"
    )
    assert announce(PowerAction, names=["a"], uri="test:///default", state="restarted") == (
        "virt_power: batch at 'test:///default': 1 domain(s) to state=restarted, waiting at most 120 s for each to reboot"
    )
    # Without a graceful wait, the line still says what the batch does.
    for quiet in ({"state": "running"}, {"state": "shutdown", "wait": False}, {"state": "stopped", "timeout": "nan", "on_timeout": "force"}):
        assert announce(PowerAction, names=["a", "b"], **quiet) == f"virt_power: batch at 'qemu:///system': 2 domain(s) to state={quiet['state']}", quiet
    assert announce(PowerAction, names=[], state="destroyed") == "virt_power: batch at 'qemu:///system': 0 domain(s) to state=destroyed"


def test_a_batch_never_shows_the_password_of_its_uri():
    uri = "qemu+tcp://admin:hunter2@kvm1/system?password=other-secret"
    totals = {"domains": 1, "changed": 0, "failed": 0, "forced": 0, "slowest": None, "elapsed": 0.1}
    for line in (announce(PowerAction, names=["a"], uri=uri, state="running"), conclude(PowerAction, {"names": ["a"], "uri": uri}, {"totals": totals})):
        assert "hunter2" not in line and "other-secret" not in line
        assert "'qemu+tcp://admin:********@kvm1/system?password=********'" in line


def test_a_batch_ends_with_its_totals_and_slowest_domain():
    totals = {"domains": 3, "changed": 2, "failed": 1, "forced": 1, "slowest": {"name": "db1", "elapsed": 41.26}, "elapsed": 41.3}
    args = {"names": ["web1", "web2", "db1"], "uri": "qemu+ssh://kvm1/system"}
    assert conclude(PowerAction, args, {"totals": totals}) == (
        "virt_power: batch at 'qemu+ssh://kvm1/system' done in 41.3 s: 3 domain(s), 2 changed, 1 failed, 1 forced; slowest db1 in 41.3 s"
    )
    assert conclude(PowerAction, args, {"totals": {**totals, "forced": 0}}, check_mode=True) == (
        "virt_power: batch at 'qemu+ssh://kvm1/system' done in 41.3 s: 3 domain(s), 2 would change, 1 failed; slowest db1 in 41.3 s"
    )
    empty = {"domains": 0, "changed": 0, "failed": 0, "forced": 0, "slowest": None, "elapsed": 0.0}
    assert conclude(PowerAction, {"names": []}, {"totals": empty}) == "virt_power: batch at 'qemu:///system' done in 0.0 s: 0 domain(s), 0 changed, 0 failed"


def test_no_closing_line_without_a_batch_or_its_totals():
    assert conclude(PowerAction, {"name": "web1"}, {"changed": True, "state": "shutoff"}) is None
    # The batch failed as a whole (the hypervisor did not answer): the module's message says why.
    assert conclude(PowerAction, {"names": ["a"]}, {"failed": True, "msg": "Cannot connect to libvirt"}) is None


def test_names_given_as_a_comma_separated_string_are_a_batch_too():
    # ansible localhost -m virtops.libvirt.virt_power -a "names=web1,web2 state=shutdown": the module splits the string
    assert announce(PowerAction, names="web1,web2", state="shutdown") == (
        "virt_power: batch at 'qemu:///system': 2 domain(s) to state=shutdown, waiting at most 120 s for each to shut down"
    )
    task = Task()
    totals = {"domains": 2, "changed": 2, "failed": 0, "forced": 0, "slowest": {"name": "web1", "elapsed": 1.0}, "elapsed": 1.1}
    assert PowerAction(task, None, None, None, None, None).conclusion({"names": "web1,web2"}, {"totals": totals}) is not None


def test_a_name_given_twice_counts_once_in_the_opening_line():
    assert announce(PowerAction, names=["a", "a", "b"], state="running") == "virt_power: batch at 'qemu:///system': 2 domain(s) to state=running"
