# Copyright: (c) 2026, virtops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of virtops.libvirt.virt_power (the module holds the documentation):
before a graceful shutdown or reboot that is waited for, it says on the controller
what is awaited and for how long at most, then runs the module."""

from __future__ import annotations

from typing import Any

from ansible_collections.virtops.libvirt.plugins.module_utils._power.module import ARGUMENT_SPEC
from ansible_collections.virtops.libvirt.plugins.plugin_utils._long_wait import (
    LongWaitAction,
    domain_words,
    flag,
    seconds,
)

# The graceful transition each desired state may wait for, and what on_timeout=force does then.
AWAITED = {
    "shutdown": ("shut down", "power it off"),
    "stopped": ("shut down", "power it off"),
    "restarted": ("reboot", "reset it"),
}


class ActionModule(LongWaitAction):
    def announcement(self, args: dict[str, Any]) -> str | None:
        awaited = AWAITED.get(str(args.get("state")))
        timeout = seconds(args.get("timeout"), ARGUMENT_SPEC["timeout"]["default"])
        if awaited is None or timeout is None or not flag(args.get("wait"), ARGUMENT_SPEC["wait"]["default"]):
            return None
        what, forced = awaited
        then = f", then {forced}" if args.get("on_timeout") == "force" else ""
        return f"virt_power: waiting at most {timeout:g} s for {domain_words(args)} to {what}{then}"
