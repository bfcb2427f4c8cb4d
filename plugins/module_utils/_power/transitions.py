# Copyright: (c) 2026, virtops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The power transition table: for a desired state and the state libvirt reports,
the steps that get the domain there, or why it cannot get there.

This table is the single source of truth for virt_power: the runner executes it,
check mode reports it, the module documentation is checked against
``describe_transitions()`` and the tests iterate over it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Step:
    """One thing the runner does to a domain."""

    name: str
    label: str  # how it appears in the ``actions`` result ('' when nothing is sent)
    text: str  # how the documentation describes it
    graceful: bool = False  # waits for the guest; subject to timeout/retry/on_timeout
    forced_by: str | None = None  # the step that replaces it after on_timeout=force


STEPS = {
    step.name: step
    for step in (
        Step("start", "start", "start"),
        Step("start_paused", "start:paused", "start paused"),
        Step("resume", "resume", "resume"),
        Step("suspend", "suspend", "suspend"),
        Step("wake", "wake", "wake up"),
        Step("destroy", "destroy", "power off"),
        Step("reset", "reset", "hard reset"),
        Step("managed_save", "managedsave", "managed save"),
        Step("shutdown", "shutdown", "graceful shutdown", graceful=True, forced_by="destroy"),
        Step("reboot", "reboot", "graceful reboot", graceful=True, forced_by="reset"),
        Step("await_off", "", "wait until off", graceful=True, forced_by="destroy"),
    )
}


@dataclass(frozen=True)
class Refusal:
    """The desired state cannot be reached from the current one, and why."""

    why: str


DESIRED_STATES = ("running", "shutdown", "destroyed", "paused", "saved", "restarted", "reset")
STATE_ALIASES = {"stopped": "shutdown"}
# Desired states that act every time, so they always report a change.
ALWAYS_CHANGED = ("restarted", "reset")

_NOT_RUNNING_RESET = Refusal("a domain that is not running cannot be reset; use state=running to start it")

# TRANSITIONS[desired][observed] -> steps in order, or a Refusal.
TRANSITIONS: dict[str, dict[str, tuple[str, ...] | Refusal]] = {
    "running": {
        "running": (),
        "paused": ("resume",),
        "in_shutdown": ("await_off", "start"),
        "shutoff": ("start",),
        "saved": ("start",),
        "crashed": ("destroy", "start"),
        "pmsuspended": ("wake",),
    },
    "shutdown": {
        "running": ("shutdown",),
        "paused": ("resume", "shutdown"),
        "in_shutdown": ("await_off",),
        "shutoff": (),
        "saved": (),
        "crashed": ("destroy",),
        "pmsuspended": ("wake", "shutdown"),
    },
    "destroyed": {
        "running": ("destroy",),
        "paused": ("destroy",),
        "in_shutdown": ("destroy",),
        "shutoff": (),
        "saved": (),
        "crashed": ("destroy",),
        "pmsuspended": ("destroy",),
    },
    "paused": {
        "running": ("suspend",),
        "paused": (),
        "in_shutdown": ("await_off", "start_paused"),
        "shutoff": ("start_paused",),
        "saved": ("start_paused",),
        "crashed": ("destroy", "start_paused"),
        "pmsuspended": ("wake", "suspend"),
    },
    "saved": {
        "running": ("managed_save",),
        "paused": ("managed_save",),
        "in_shutdown": Refusal("it is shutting down, so there is no running guest left to save"),
        "shutoff": Refusal("it is shut off and has no managed-save image; start it first (state=running)"),
        "saved": (),
        "crashed": Refusal("a crashed guest cannot be saved; use state=destroyed or state=running"),
        "pmsuspended": ("wake", "managed_save"),
    },
    "restarted": {
        "running": ("reboot",),
        "paused": ("resume", "reboot"),
        "in_shutdown": ("await_off", "start"),
        "shutoff": ("start",),
        "saved": ("start",),
        "crashed": ("destroy", "start"),
        "pmsuspended": ("wake", "reboot"),
    },
    "reset": {
        "running": ("reset",),
        "paused": ("reset",),
        "in_shutdown": ("reset",),
        "shutoff": _NOT_RUNNING_RESET,
        "saved": _NOT_RUNNING_RESET,
        "crashed": ("destroy", "start"),
        "pmsuspended": ("reset",),
    },
}

# What each desired state ends in, when waited for (restarted/reset end running).
TARGET_STATES = {
    "running": ("running",),
    "shutdown": ("shutoff", "saved"),
    "destroyed": ("shutoff", "saved"),
    "paused": ("paused",),
    "saved": ("saved",),
    "restarted": ("running",),
    "reset": ("running", "paused", "pmsuspended"),
}


def canonical_state(desired: str) -> str:
    """Resolve an alias such as ``stopped``."""
    return STATE_ALIASES.get(desired, desired)


def plan(desired: str, observed: str) -> tuple[Step, ...] | Refusal:
    """The steps from ``observed`` to ``desired`` (empty when already there)."""
    entry = TRANSITIONS[canonical_state(desired)][observed]
    if isinstance(entry, Refusal):
        return entry
    return tuple(STEPS[name] for name in entry)


def describe_transitions() -> list[str]:
    """One documentation line per desired state, rendered from the table."""
    lines = []
    for desired, row in TRANSITIONS.items():
        parts = []
        for observed, entry in row.items():
            if isinstance(entry, Refusal):
                what = "error"
            elif not entry:
                what = "nothing"
            else:
                what = ", ".join(STEPS[name].text for name in entry)
            parts.append(f"from V({observed}): {what}")
        lines.append(f"V({desired}): " + "; ".join(parts) + ".")
    return lines
