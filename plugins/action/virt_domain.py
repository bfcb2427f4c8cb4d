# Copyright: (c) 2026, virtops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of virtops.libvirt.virt_domain (the module holds the documentation):
with restart=if_pending, it says on the controller that a restart may wait and for
how long at most, then runs the module."""

from __future__ import annotations

from typing import Any

from ansible_collections.virtops.libvirt.plugins.module_utils._definition.module import ARGUMENT_SPEC
from ansible_collections.virtops.libvirt.plugins.plugin_utils._long_wait import LongWaitAction, seconds


class ActionModule(LongWaitAction):
    def announcement(self, args: dict[str, Any]) -> str | None:
        if args.get("restart") != "if_pending" or args.get("state", "present") != "present":
            return None
        timeout = seconds(args.get("restart_timeout"), ARGUMENT_SPEC["restart_timeout"]["default"])
        if timeout is None:
            return None
        return f"virt_domain: if domain '{args.get('name')}' has a change pending, it is restarted: waiting at most {timeout:g} s for it to shut down"
