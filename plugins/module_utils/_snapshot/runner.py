# Copyright: (c) 2026, virtops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""virt_snapshot's one sequence: read the domain and its snapshots, decide the plan
(plan.py), carry it out unless in check mode, read the snapshots again and report.

Only the snapshot named and those O(retain) prunes are ever deleted, and no disk
image: libvirt removes an internal snapshot's data from inside the qcow2 images,
and merges an external snapshot's overlays into the images below before it removes
the overlay files (O(retain) never deletes an external snapshot)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ansible_collections.virtops.libvirt.plugins.module_utils._core import xml as core_xml
from ansible_collections.virtops.libvirt.plugins.module_utils._core.agent import agent_ping
from ansible_collections.virtops.libvirt.plugins.module_utils._core.client import Connection, libvirt
from ansible_collections.virtops.libvirt.plugins.module_utils._core.errors import LibvirtCallError, VirtOpsError
from ansible_collections.virtops.libvirt.plugins.module_utils._core.states import read_status
from ansible_collections.virtops.libvirt.plugins.module_utils._snapshot import definition, read
from ansible_collections.virtops.libvirt.plugins.module_utils._snapshot.disks import disks_of
from ansible_collections.virtops.libvirt.plugins.module_utils._snapshot.plan import Observed, Plan, SnapshotRequest, decide, diff

AGENT_SECONDS = 5.0


class SnapshotRunner:
    """Runs one virt_snapshot request on one connection."""

    def __init__(self, conn: Connection, request: SnapshotRequest, check_mode: bool = False) -> None:
        self.conn = conn
        self.request = request
        self.check_mode = check_mode
        self.name = request.domain
        self.domain: Any = None
        self.done: list[str] = []  # snapshots deleted so far (for a failure's partial result)

    def call(self, what: str, func: Any, *args: Any) -> Any:
        return self.conn.call(what, func, *args, domain=self.name)

    def run(self) -> dict[str, Any]:
        self.domain = self.conn.lookup(self.name)
        seen = self.observe()
        plan = decide(self.request, seen)
        result: dict[str, Any] = {"changed": plan.changed, "diff": diff(self.request, seen, plan), "warnings": list(plan.warnings)}
        if plan.changed and not self.check_mode:
            self.apply(plan)
            seen = self.observe(agent=False)
        result.update(self.report(seen, plan))
        return result

    # -- reading -----------------------------------------------------------------------------
    def observe(self, agent: bool = True) -> Observed:
        status = read_status(self.conn, self.domain, self.name)
        root = core_xml.parse_domain(self.call("read its definition", self.domain.XMLDesc, 0), f"libvirt's definition of domain '{self.name}'")
        seen = Observed(status=status, disks=disks_of(root), snapshots=read.read_all(self.conn, self.domain, self.name))
        if agent and self.wants_agent(seen):
            seen.agent, seen.agent_error = self.agent_answers()
        return seen

    def wants_agent(self, seen: Observed) -> bool:
        request = self.request
        return request.state == "present" and request.kind == "external" and request.quiesce != "never" and seen.active and seen.find(request.snapshot) is None

    def agent_answers(self) -> tuple[bool, str]:
        try:
            agent_ping(self.conn, self.domain, self.name, AGENT_SECONDS)
        except LibvirtCallError as err:
            return False, err.text or err.msg
        return True, ""

    # -- writing ------------------------------------------------------------------------------
    def apply(self, plan: Plan) -> None:
        if plan.take is not None:
            self.take(plan)
        if plan.update is not None:
            self.redefine(plan.update, plan)
        if plan.delete is not None:
            self.delete(plan.delete, plan.delete_children)
        if plan.revert is not None:
            self.call(f"revert to its snapshot {plan.revert.name!r}", self.domain.revertToSnapshot, plan.revert.handle, 0)
        for snapshot in plan.prune:
            self.delete(snapshot, False)

    def take(self, plan: Plan) -> None:
        flags = 0
        if plan.external:
            flags |= libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_DISK_ONLY | libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_ATOMIC
        if plan.quiesce:
            flags |= libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_QUIESCE
        self.call(f"take its snapshot {self.request.snapshot!r}", self.domain.snapshotCreateXML, plan.take_xml, flags)

    def redefine(self, snapshot: read.Snapshot, plan: Plan) -> None:
        secure = libvirt.VIR_DOMAIN_SNAPSHOT_XML_SECURE
        text = self.call(f"read its snapshot {snapshot.name!r}", snapshot.handle.getXMLDesc, secure)
        flags = libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE | (libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_CURRENT if plan.make_current or snapshot.current else 0)
        self.call(f"update its snapshot {snapshot.name!r}", self.domain.snapshotCreateXML, definition.redefined(text, plan.description), flags)

    def delete(self, snapshot: read.Snapshot, children: bool) -> None:
        flags = libvirt.VIR_DOMAIN_SNAPSHOT_DELETE_CHILDREN if children else 0
        try:
            self.call(f"delete its snapshot {snapshot.name!r}", snapshot.handle.delete, flags)
        except LibvirtCallError as err:
            if snapshot.kind != "external" and not children:
                raise VirtOpsError(err.msg, deleted=list(self.done)) from None
            raise VirtOpsError(
                f"Domain '{self.name}': libvirt cannot delete snapshot {snapshot.name!r}{' and the snapshots below it' if children else ''}, "
                f"which is (or has below it) an external snapshot: {err.text}. libvirt 9.0 deletes an external snapshot only when "
                "it is the newest in its chain with an external parent (or none), and never one below an internal snapshot. Nothing more was "
                "deleted; the overlay files are as they were. Delete the newer snapshots first, or remove only libvirt's record of "
                "it (virsh snapshot-delete --metadata) and merge the overlay yourself (virsh blockcommit, or qemu-img commit while "
                "the domain is shut off).",
                deleted=list(self.done),
            ) from None
        self.done.append(snapshot.name)

    # -- reporting ------------------------------------------------------------------------------
    def report(self, seen: Observed, plan: Plan) -> dict[str, Any]:
        found = seen.find(self.request.snapshot)
        if self.check_mode and plan.take is not None:
            found = plan.take
        elif self.check_mode and plan.update is not None:
            found = replace(
                plan.update,
                description=plan.update.description if plan.description is None else plan.description,
                current=True if plan.make_current else plan.update.current,
            )
        result: dict[str, Any] = {
            "snapshot": found.as_result() if found is not None and self.request.state != "absent" else None,
            "pruned": [snapshot.name for snapshot in plan.prune],
            "removed": list(plan.removed),
            "snapshots": [snapshot.as_result() for snapshot in seen.snapshots],
            "domain_state": seen.status.state,
        }
        if self.request.state == "present":
            result["quiesced"] = plan.quiesce
        return result
