# Copyright: (c) 2026, virtops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The action plugins of modules that may wait long (virt_power, virt_domain's
restart=if_pending): say on the controller, at default verbosity, what is awaited
and for how long at most (and, for a batch, how it ended), then run the module exactly as the ``normal`` action
plugin does (module_defaults are already in the task's arguments; check mode,
delegate_to and async work as for any module).

The line is printed before the module runs, so it can only name what the
arguments say: the module decides from the domain's state whether it waits.
"""

from __future__ import annotations

from typing import Any

from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display
from ansible.utils.vars import merge_hash

from ansible_collections.virtops.libvirt.plugins.module_utils._core.errors import VirtOpsError
from ansible_collections.virtops.libvirt.plugins.module_utils._core.module import seconds as checked_seconds

display = Display()


def seconds(value: Any, default: float) -> float | None:
    """A timeout as the module will read it, or None when the module will refuse it
    (the modules' own check decides: _core/module.py's seconds())."""
    if value is None:
        return default
    try:
        return checked_seconds({"timeout": float(value)}, "timeout")
    except (TypeError, ValueError, VirtOpsError):
        return None


def flag(value: Any, default: bool) -> bool:
    if value is None:
        return default
    try:
        return boolean(value, strict=True)
    except TypeError:
        return default  # the module refuses it with its own message


def domain_words(args: dict[str, Any]) -> str:
    if args.get("name") or args.get("domain"):
        return f"domain '{args.get('name') or args.get('domain')}'"
    return f"the domain with UUID '{args.get('uuid')}'"


class LongWaitAction(ActionBase):
    """Runs the module; first, when ``announcement()`` has a line, displays it."""

    _supports_check_mode = True
    _supports_async = True

    def announcement(self, args: dict[str, Any]) -> str | None:
        """The line to display before the module runs, or None."""
        raise NotImplementedError

    def conclusion(self, args: dict[str, Any], result: dict[str, Any]) -> str | None:
        """The line to display after the module ran, or None."""
        return None

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        fire_and_forget = self._task.async_val and not self._task.poll
        host = (task_vars or {}).get("inventory_hostname", "")
        args = dict(self._task.args)
        self._say(host, None if self._task.check_mode or fire_and_forget else self.announcement(args))
        wrap_async = self._task.async_val and not self._connection.has_native_async
        result = merge_hash(result, self._execute_module(task_vars=task_vars, wrap_async=wrap_async))
        if not wrap_async:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        self._say(host, None if fire_and_forget else self.conclusion(args, result))
        return result

    @staticmethod
    def _say(host: str, line: str | None) -> None:
        if line:
            display.display(f"[{host}] {line}" if host else line)
