# Copyright: (c) 2026, virtops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""virt_pool's one sequence: read the pool, plan the steps that bring it to the
requested state, take them unless in check mode, report.

The plan is the one source of ``changed``, check mode and ``--diff``: the diff's
"before" is what was read, its "after" what the steps make of it. state=absent
stops and undefines; it never deletes the directory or a volume (no step of this
file can: libvirt's pool delete is never called)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ansible_collections.virtops.libvirt.plugins.module_utils._core.client import Connection
from ansible_collections.virtops.libvirt.plugins.module_utils._core.errors import VirtOpsError
from ansible_collections.virtops.libvirt.plugins.module_utils._storage.pools import dir_pool_xml, find_pool, pool_facts

# The fields of a pool the module decides on, shown in --diff.
COMPARED = ("type", "path", "active", "autostart")
# Every field of RV(pool).
FACTS = ("name", "type", "path", "active", "autostart", "capacity", "available", "volumes")


@dataclass
class PoolRequest:
    """virt_pool's options (name and path already checked)."""

    name: str
    state: str = "present"
    type: str = "dir"
    path: str | None = None
    autostart: bool = True
    check_mode: bool = False
    diff_mode: bool = False


@dataclass
class PoolPlan:
    """The steps to take, by name, in order, and the pool as they leave it."""

    steps: list[str] = field(default_factory=list)
    after: dict[str, Any] = field(default_factory=dict)


class PoolRunner:
    """Brings one storage pool to the requested state."""

    def __init__(self, conn: Connection, request: PoolRequest) -> None:
        self.conn = conn
        self.request = request
        self.name = request.name
        self.result: dict[str, Any] = {"changed": False, "pool": None}
        self.written = False  # whether anything was written to libvirt yet

    def run(self) -> dict[str, Any]:
        pool = find_pool(self.conn, self.name)
        facts = pool_facts(self.conn, pool) if pool is not None else None
        plan = self.plan_present(facts) if self.request.state == "present" else self.plan_absent(facts)
        self.result["changed"] = bool(plan.steps)
        self.result["actions"] = plan.steps
        if self.request.diff_mode:
            self.result["diff"] = {"before": _shown(facts), "after": _shown(plan.after or None), "before_header": f"storage pool {self.name}"}
        if self.request.check_mode or not plan.steps:
            self.result["pool"] = {**dict.fromkeys(FACTS), **(facts or {}), **plan.after} if plan.after else facts
            return self.result
        try:
            pool = self.act(pool, plan.steps)
        except VirtOpsError as err:
            raise VirtOpsError(err.msg, **{**self.result, "changed": self.written}) from None
        self.result["pool"] = pool_facts(self.conn, pool) if pool is not None else facts
        return self.result

    def plan_present(self, facts: dict[str, Any] | None) -> PoolPlan:
        wanted = self.request
        if facts is None:
            if wanted.path is None:
                raise VirtOpsError(f"Storage pool {self.name!r} is not defined at URI '{self.conn.shown_uri}'; option path is required to create it.")
            after = {"name": self.name, "type": wanted.type, "path": wanted.path, "active": True, "autostart": wanted.autostart}
            return PoolPlan(["define", "build and start"] + (["set autostart"] if wanted.autostart else []), after)
        self.refuse_other_target(facts)
        plan = PoolPlan(after={**facts})
        if not facts["active"]:
            plan.steps.append("build and start")
            plan.after["active"] = True
        if facts["autostart"] != wanted.autostart:
            plan.steps.append("set autostart" if wanted.autostart else "unset autostart")
            plan.after["autostart"] = wanted.autostart
        return plan

    def refuse_other_target(self, facts: dict[str, Any]) -> None:
        """A pool is never moved or retyped in place: its volumes would be lost to it."""
        wanted = self.request
        other = []
        if facts["type"] != wanted.type:
            other.append(f"its type is {facts['type']!r}, not {wanted.type!r}")
        if wanted.path is not None and facts["path"] != wanted.path:
            other.append(f"its path is {facts['path']!r}, not {wanted.path!r}")
        if other:
            raise VirtOpsError(
                f"Storage pool {self.name!r} at URI '{self.conn.shown_uri}' exists and {' and '.join(other)}. A pool's target is not "
                "changed in place; remove the pool (state=absent keeps its directory and volumes) and create it again, or use another name.",
                pool=facts,
            )

    def plan_absent(self, facts: dict[str, Any] | None) -> PoolPlan:
        if facts is None:
            return PoolPlan()
        return PoolPlan((["stop"] if facts["active"] else []) + ["undefine"])

    def act(self, pool: Any, steps: list[str]) -> Any:
        """Take ``steps``; the pool handle after them (None once undefined). A pool
        defined by this run that cannot be started is undefined again."""
        conn, name = self.conn, self.name
        for step in steps:
            if step == "define":
                pool = conn.call(f"define storage pool {name!r}", conn.raw.storagePoolDefineXML, dir_pool_xml(name, self.request.path or ""), 0)
            elif step == "build and start":
                try:
                    # build: make the directory when it is missing (a dir pool's build leaves an existing one as it is)
                    conn.call(f"build storage pool {name!r} (make its directory)", pool.build, 0)
                    conn.call(f"start storage pool {name!r}", pool.create, 0)
                except VirtOpsError:
                    if "define" in steps:
                        conn.call(f"undefine storage pool {name!r} again", pool.undefine)
                        self.written = False
                    raise
            elif step in ("set autostart", "unset autostart"):
                conn.call(f"set the autostart flag of storage pool {name!r}", pool.setAutostart, int(step == "set autostart"))
            elif step == "stop":
                conn.call(f"stop storage pool {name!r}", pool.destroy)
            elif step == "undefine":
                conn.call(f"undefine storage pool {name!r}", pool.undefine)
                pool = None
            self.written = True
        return pool


def _shown(facts: dict[str, Any] | None) -> dict[str, Any]:
    """The part of a pool --diff shows."""
    if facts is None:
        return {"state": "absent"}
    return {"state": "present", **{key: facts.get(key) for key in COMPARED}}
