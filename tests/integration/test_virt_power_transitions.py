"""Every desired state from every starting state a real QEMU guest can be put in
on demand, through a playbook: check mode predicts, the run acts, a second run
changes nothing and sends nothing.

``crashed`` is a guest whose kernel panicked with on_crash=preserve. Starting
states not reachable on demand here: ``in_shutdown`` lasts only milliseconds
under QEMU and ``pmsuspended`` needs a guest agent; the unit tests check the
table's columns for them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from virt_harness import ENV, ROOT, Adhoc, domstate

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


def side_by_side(desired: str, names: list[str], tmp_path: Path) -> dict[str, list[dict]]:
    """One play whose hosts are the guests (a local connection each, all forks at once):
    for its own guest each predicts in check mode, acts, then acts again, while the
    others do the same. {guest: [predicted, applied, again]}"""
    power = {"name": "{{ inventory_hostname }}", "state": desired, "retry_interval": 2, "timeout": 60}
    saved = {"content": "{{ [predicted, applied, again] | to_json }}", "dest": f"{tmp_path}/{{{{ inventory_hostname }}}}.json", "mode": "0644"}
    tasks = [
        {"name": f"{desired} (check)", "virtops.libvirt.virt_power": power, "check_mode": True, "register": "predicted"},
        {"name": desired, "virtops.libvirt.virt_power": power, "register": "applied"},
        {"name": f"{desired} again", "virtops.libvirt.virt_power": power, "register": "again"},
        {"name": "Save the results", "ansible.builtin.copy": saved},
    ]
    hosts = {name: {"ansible_connection": "local", "ansible_python_interpreter": sys.executable} for name in names}
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump({"all": {"hosts": hosts}}))
    (tmp_path / "play.yml").write_text(yaml.safe_dump([{"name": f"state={desired}", "hosts": "all", "gather_facts": False, "tasks": tasks}], sort_keys=False))
    cmd = ["ansible-playbook", "-i", str(tmp_path / "hosts.yml"), "-f", str(len(names)), str(tmp_path / "play.yml")]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=ENV, check=False, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return {name: json.loads((tmp_path / f"{name}.json").read_text()) for name in names}


@pytest.mark.parametrize("desired", DESIRED_STATES)
def test_every_reachable_start(desired, guests, tmp_path):
    starts = [start for start in STARTS if not isinstance(plan(desired, start), Refusal)]
    names = guests.in_states(starts)
    results = side_by_side(desired, [names[start] for start in starts], tmp_path)

    for start in starts:
        predicted, applied, again = results[names[start]]
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
