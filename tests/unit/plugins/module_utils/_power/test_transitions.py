"""The transition table is complete, consistent and what the documentation says."""

from __future__ import annotations

import pathlib

import yaml

from ansible_collections.virtops.libvirt.plugins.module_utils._core.states import OBSERVED_STATES
from ansible_collections.virtops.libvirt.plugins.module_utils._power import transitions as table
from ansible_collections.virtops.libvirt.plugins.modules import virt_power


def test_every_desired_state_has_a_row_covering_every_observed_state():
    assert tuple(table.TRANSITIONS) == table.DESIRED_STATES
    for desired, row in table.TRANSITIONS.items():
        assert tuple(row) == OBSERVED_STATES, desired


def test_every_step_is_known_and_graceful_steps_have_a_forced_fallback():
    for row in table.TRANSITIONS.values():
        for entry in row.values():
            if not isinstance(entry, table.Refusal):
                assert all(name in table.STEPS for name in entry)
    for step in table.STEPS.values():
        assert (step.forced_by is not None) == step.graceful
        if step.forced_by:
            assert not table.STEPS[step.forced_by].graceful


def test_a_domain_already_in_the_desired_state_needs_no_step():
    for desired, targets in table.TARGET_STATES.items():
        if desired in table.ALWAYS_CHANGED:
            continue
        for observed in targets:
            assert table.plan(desired, observed) == (), (desired, observed)


def test_acting_states_always_act_or_refuse():
    for desired in table.ALWAYS_CHANGED:
        for observed in OBSERVED_STATES:
            assert table.plan(desired, observed) != (), (desired, observed)


def test_stopped_is_an_alias_of_shutdown():
    for observed in OBSERVED_STATES:
        assert table.plan("stopped", observed) == table.plan("shutdown", observed)


def test_refusals_explain_themselves():
    refusal = table.plan("saved", "shutoff")
    assert isinstance(refusal, table.Refusal)
    assert "no managed-save image" in refusal.why


def test_documentation_shows_the_table():
    doc = yaml.safe_load(virt_power.DOCUMENTATION)
    state_doc = [" ".join(line.split()) for line in doc["options"]["state"]["description"]]
    for line in table.describe_transitions():
        assert line in state_doc
    choices = doc["options"]["state"]["choices"]
    assert set(choices) == set(table.DESIRED_STATES) | set(table.STATE_ALIASES)


def markdown_table() -> str:
    lines = ["| desired \\ now | " + " | ".join(OBSERVED_STATES) + " |", "| --- " * (len(OBSERVED_STATES) + 1) + "|"]
    for desired, row in table.TRANSITIONS.items():
        cells = []
        for observed in OBSERVED_STATES:
            entry = row[observed]
            if isinstance(entry, table.Refusal):
                cells.append("error")
            else:
                cells.append(", ".join(table.STEPS[name].text for name in entry) or "-")
        lines.append(f"| `{desired}` | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def test_user_guide_shows_the_table():
    guide = pathlib.Path(__file__).parents[5] / "docs" / "virt_power.md"
    assert markdown_table() in guide.read_text()
