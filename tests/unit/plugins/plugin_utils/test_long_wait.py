"""The line the action plugins of virt_power and virt_domain show before a wait
that may last long: what is awaited and for how long at most, read from the task's
arguments as the module will read them (the modules' own tests cover the waits)."""

from __future__ import annotations

import math

import pytest

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


def test_virt_domain_announces_a_restart_if_pending_only():
    assert announce(DomainAction, name="web1", restart="if_pending", restart_timeout=60) == (
        "virt_domain: if domain 'web1' has a change pending, it is restarted: waiting at most 60 s for it to shut down"
    )
    assert announce(DomainAction, name="web1") is None
    assert announce(DomainAction, name="web1", restart="if_pending", state="absent") is None
