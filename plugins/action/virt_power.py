# Copyright: (c) 2026, virtops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of virtops.libvirt.virt_power (the module holds the documentation):
before a graceful shutdown or reboot that is waited for, or a wait_for, it says on
the controller what is awaited and for how long at most, then runs the module."""

from __future__ import annotations

from typing import Any

from ansible.module_utils.common.validation import check_type_list

from ansible_collections.virtops.libvirt.plugins.module_utils._core.client import DEFAULT_URI
from ansible_collections.virtops.libvirt.plugins.module_utils._core.errors import redact_uri
from ansible_collections.virtops.libvirt.plugins.module_utils._power.module import ARGUMENT_SPEC
from ansible_collections.virtops.libvirt.plugins.plugin_utils._long_wait import (
    LongWaitAction,
    domain_words,
    flag,
    seconds,
)

# What each wait_for waits for, as the line before the run names it.
USABLE = {"agent": "its guest agent to answer", "ip": "an IP address"}
# The graceful transition each desired state may wait for, and what on_timeout=force does then.
AWAITED = {
    "shutdown": ("shut down", "power it off"),
    "stopped": ("shut down", "power it off"),
    "restarted": ("reboot", "reset it"),
}


class ActionModule(LongWaitAction):
    def announcement(self, args: dict[str, Any]) -> str | None:
        if args.get("names") is not None:
            return batch_start(args)
        awaited = AWAITED.get(str(args.get("state")))
        timeout = seconds(args.get("timeout"), ARGUMENT_SPEC["timeout"]["default"])
        usable = usable_words(args)
        if awaited is None or timeout is None or not flag(args.get("wait"), ARGUMENT_SPEC["wait"]["default"]):
            return f"virt_power: waiting at most {usable} for {domain_words(args)}" if usable else None
        what, forced = awaited
        then = f", then {forced}" if args.get("on_timeout") == "force" else ""
        usable_then = f"; then at most {usable}" if usable else ""
        return f"virt_power: waiting at most {timeout:g} s for {domain_words(args)} to {what}{then}{usable_then}"

    def conclusion(self, args: dict[str, Any], result: dict[str, Any]) -> str | None:
        totals = result.get("totals")
        if args.get("names") is None or not isinstance(totals, dict):
            return None
        slowest = totals.get("slowest") or {}
        would = "would change" if self._task.check_mode else "changed"
        slow = f"; slowest {slowest.get('name')} in {slowest.get('elapsed', 0):.1f} s" if slowest else ""
        forced = f", {totals.get('forced')} forced" if totals.get("forced") else ""
        return (
            f"virt_power: batch at {uri_words(args)} done in {totals.get('elapsed', 0):.1f} s: {totals.get('domains')} domain(s), "
            f"{totals.get('changed')} {would}, {totals.get('failed')} failed{forced}{slow}"
        )


def usable_words(args: dict[str, Any]) -> str | None:
    """How long and for what a wait_for waits ("300 s for its guest agent to answer"), or None."""
    what = USABLE.get(str(args.get("wait_for")))
    timeout = seconds(args.get("wait_for_timeout"), ARGUMENT_SPEC["wait_for_timeout"]["default"])
    return f"{timeout:g} s for {what}" if what and timeout is not None else None


def uri_words(args: dict[str, Any]) -> str:
    return f"'{redact_uri(args.get('uri') or DEFAULT_URI)}'"


def batch_start(args: dict[str, Any]) -> str | None:
    """The line before a batch: how many domains, where, to which state, the longest wait."""
    try:
        count = len(dict.fromkeys(check_type_list(args["names"])))  # as the module reads them: each name once
    except TypeError:
        return None  # the module refuses them with its own message
    state = args.get("state")
    timeout = seconds(args.get("timeout"), ARGUMENT_SPEC["timeout"]["default"])
    awaited = AWAITED.get(str(state))
    wait = flag(args.get("wait"), ARGUMENT_SPEC["wait"]["default"])
    limit = f", waiting at most {timeout:g} s for each to {awaited[0]}" if awaited and timeout is not None and wait else ""
    then = f", then {awaited[1]}" if limit and awaited and args.get("on_timeout") == "force" else ""
    usable = usable_words(args)
    usable_then = f", then at most {usable} each" if usable else ""
    return f"virt_power: batch at {uri_words(args)}: {count} domain(s) to state={state}{limit}{then}{usable_then}"
