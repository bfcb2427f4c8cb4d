"""Every desired state from every starting state a real QEMU guest can be put in
on demand, through a playbook: check mode predicts, the run acts, a second run
changes nothing and sends nothing.

``crashed`` is a guest whose kernel panicked with on_crash=preserve. Starting
states not reachable on demand here: ``in_shutdown`` lasts only milliseconds
under QEMU and ``pmsuspended`` needs a guest agent; the unit tests check the
table's columns for them.
"""

from __future__ import annotations

import pytest
from virt_harness import Adhoc, domstate, playbook

from ansible_collections.virtops.libvirt.plugins.module_utils._power.transitions import (
    ALWAYS_CHANGED,
    DESIRED_STATES,
    TARGET_STATES,
    Refusal,
    plan,
)

STARTS = ("running", "paused", "shutoff", "saved", "crashed")
# virsh's name for each state this collection reports.
VIRSH_STATE = {"running": "running", "paused": "paused", "shutoff": "shut off", "saved": "shut off", "crashed": "crashed"}


def task(name: str, state: str, check: bool = False) -> dict:
    return {
        "name": f"{state} {name}{' (check)' if check else ''}",
        "virtops.libvirt.virt_power": {"name": name, "state": state, "retry_interval": 2, "timeout": 60},
        "check_mode": check,
    }


@pytest.mark.parametrize("desired", DESIRED_STATES)
def test_every_reachable_start(desired, guests, tmp_path):
    starts = [start for start in STARTS if not isinstance(plan(desired, start), Refusal)]
    names = {start: guests.in_state(start) for start in starts}
    tasks = []
    for start in starts:
        tasks += [task(names[start], desired, check=True), task(names[start], desired), task(names[start], desired)]
    results = playbook(tasks, tmp_path)

    for index, start in enumerate(starts):
        predicted, applied, again = results[3 * index : 3 * index + 3]
        expected = [step.label for step in plan(desired, start) if step.label]
        where = f"{desired} from {start}"
        assert predicted["state"] == start, where
        assert predicted["actions"] == applied["actions"] == expected, where
        assert predicted["changed"] == applied["changed"] == (bool(expected) or desired in ALWAYS_CHANGED), where
        assert applied["previous_state"] == start, where
        assert applied["state"] in TARGET_STATES[desired], where
        assert domstate(names[start]) == VIRSH_STATE[applied["state"]], where
        if desired not in ALWAYS_CHANGED:
            assert (again["changed"], again["actions"], again["state"]) == (False, [], applied["state"]), where


REFUSED = [(desired, start) for desired in DESIRED_STATES for start in STARTS if isinstance(plan(desired, start), Refusal)]


@pytest.mark.parametrize(("desired", "start"), REFUSED)
def test_unreachable_state_is_a_clear_error_and_changes_nothing(desired, start, guests):
    name = guests.in_state(start)
    before = domstate(name)
    run = Adhoc({"name": name, "state": desired})
    assert run.failed
    assert f"cannot be brought to state={desired} from {start}" in run["msg"]
    assert plan(desired, start).why in run["msg"]
    assert run["changed"] is False and run["actions"] == []
    assert domstate(name) == before
