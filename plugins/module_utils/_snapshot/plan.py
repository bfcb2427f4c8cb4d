# Copyright: (c) 2026, virtops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What virt_snapshot does, decided once from what is there: take, update, delete,
revert and prune. A real run carries the plan out, check mode returns it, and
``changed`` and the diff are read from it. Nothing here calls libvirt."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ansible_collections.virtops.libvirt.plugins.module_utils._core.errors import VirtOpsError
from ansible_collections.virtops.libvirt.plugins.module_utils._core.states import DomainStatus
from ansible_collections.virtops.libvirt.plugins.module_utils._snapshot import definition
from ansible_collections.virtops.libvirt.plugins.module_utils._snapshot.disks import Disk, overlay_files, refuse_internal
from ansible_collections.virtops.libvirt.plugins.module_utils._snapshot.read import Snapshot

ACTIVE = ("running", "paused", "in_shutdown", "pmsuspended")
# What libvirt records as a snapshot's <state> for the domain states this collection names.
CAPTURED = {"running": "running", "paused": "paused", "in_shutdown": "shutdown", "pmsuspended": "pmsuspended", "crashed": "crashed"}


@dataclass(frozen=True)
class SnapshotRequest:
    """virt_snapshot's options, checked."""

    domain: str
    snapshot: str
    state: str = "present"
    description: str | None = None
    kind: str = "internal"
    memory: bool | None = None
    quiesce: str = "never"
    disks: tuple[dict[str, Any], ...] = ()
    retain: int | None = None
    current: bool = False
    children: str = "keep"


@dataclass
class Observed:
    """The domain as the plan starts from it: its state, disks and snapshots (oldest first);
    ``agent`` is whether its guest agent answered, when that was asked (else None)."""

    status: DomainStatus
    disks: list[Disk]
    snapshots: list[Snapshot]
    agent: bool | None = None
    agent_error: str = ""

    def find(self, name: str) -> Snapshot | None:
        return next((snapshot for snapshot in self.snapshots if snapshot.name == name), None)

    @property
    def current(self) -> str | None:
        return next((snapshot.name for snapshot in self.snapshots if snapshot.current), None)

    @property
    def active(self) -> bool:
        return self.status.state in ACTIVE


@dataclass
class Plan:
    """The writes of one run, in order; empty when nothing is to change."""

    take: Snapshot | None = None  # the snapshot to take, as predicted
    take_xml: str = ""
    external: bool = False
    quiesce: bool = False
    update: Snapshot | None = None  # an existing snapshot to redefine
    description: str | None = None  # its new description (None: unchanged)
    make_current: bool = False
    delete: Snapshot | None = None
    delete_children: bool = False
    removed: list[str] = field(default_factory=list)
    revert: Snapshot | None = None
    prune: list[Snapshot] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.take or self.update or self.delete or self.revert or self.prune)


def decide(request: SnapshotRequest, seen: Observed) -> Plan:
    """The plan for ``request`` on the domain as ``seen``; VirtOpsError for what cannot be done."""
    if request.state == "absent":
        return _absent(request, seen)
    if request.state == "reverted":
        return _reverted(request, seen)
    return _present(request, seen)


# -- present ------------------------------------------------------------------------------
def _present(request: SnapshotRequest, seen: Observed) -> Plan:
    plan = Plan()
    existing = seen.find(request.snapshot)
    if existing is None:
        _take(request, seen, plan)
    else:
        if request.description is not None and request.description != (existing.description or ""):
            plan.update, plan.description = existing, request.description
        if request.current and not existing.current:
            plan.update, plan.make_current = existing, True
    plan.prune = _pruned(request, seen, plan)
    return plan


def _take(request: SnapshotRequest, seen: Observed, plan: Plan) -> None:
    domain = request.domain
    external = request.kind == "external"
    if external and request.memory:
        raise VirtOpsError(
            f"Domain '{domain}': external snapshots are disk-only here (libvirt 9.0 cannot revert one with memory either); "
            "leave memory unset or false, or use kind=internal to keep the memory of a running domain. Nothing was done."
        )
    if not external:
        if request.quiesce != "never":
            raise VirtOpsError(
                f"Domain '{domain}': quiesce works only with kind=external (a disk-only snapshot); an internal snapshot of a "
                "running domain holds its memory, so nothing needs freezing. Nothing was done."
            )
        if request.memory is False and seen.active:
            raise VirtOpsError(
                f"Domain '{domain}' is {seen.status.state}, and QEMU takes an internal snapshot of a running domain only with "
                "its memory. Leave memory unset (or true), take kind=external for a disk-only snapshot, or shut the domain "
                "down first. Nothing was done."
            )
        refuse_internal(domain, seen.disks)
    if request.disks and not external:
        raise VirtOpsError(f"Domain '{domain}': option disks places the overlay files of an external snapshot; set kind=external. Nothing was done.")
    files = overlay_files(domain, seen.disks, list(request.disks)) if external else {}
    plan.quiesce = _quiesce(request, seen, plan) if external else False
    plan.external = external
    plan.take_xml = definition.new_snapshot(request.snapshot, request.description, external, seen.disks, files)
    memory = "internal" if not external and seen.active else "no"
    state = CAPTURED.get(seen.status.state, "shutoff")
    plan.take = Snapshot(
        name=request.snapshot,
        parent=seen.current,
        state="disk-snapshot" if external and seen.active else state,
        memory=memory,
        disks=[{"name": disk.target, "snapshot": ("external" if external else "internal") if disk.writable else "no"} for disk in seen.disks if disk.target],
        description=request.description,
        current=True,
    )


def _quiesce(request: SnapshotRequest, seen: Observed, plan: Plan) -> bool:
    """Whether to freeze the guest's file systems while the overlays are made."""
    if request.quiesce == "never" or not seen.active:
        return False  # a shut-off domain's file systems are not in use: nothing to freeze
    if seen.agent:
        return True
    why = seen.agent_error or "it did not answer"
    if request.quiesce == "required":
        raise VirtOpsError(
            f"Domain '{request.domain}': cannot quiesce its file systems: its QEMU guest agent does not answer ({why}). "
            "Nothing was done. Install and start qemu-guest-agent in the guest (the domain needs the channel "
            "org.qemu.guest_agent.0), or set quiesce=if_possible to take the snapshot without freezing (crash-consistent, "
            "like pulling the power plug)."
        )
    plan.warnings.append(
        f"Domain '{request.domain}': its QEMU guest agent does not answer ({why}), so snapshot '{request.snapshot}' is taken "
        "without freezing its file systems (crash-consistent), as quiesce=if_possible allows."
    )
    return False


def _pruned(request: SnapshotRequest, seen: Observed, plan: Plan) -> list[Snapshot]:
    """The snapshots O(retain) removes, oldest first: all but the newest ``retain``, never
    the current one or the one asked for, and never an external one (kept, with a warning)."""
    if request.retain is None:
        return []
    after = [*seen.snapshots, *([plan.take] if plan.take else [])]
    current = request.snapshot if plan.take or plan.make_current else seen.current
    older = after[: max(len(after) - request.retain, 0)]
    spared = {request.snapshot, current}
    external = [snapshot.name for snapshot in older if snapshot.name not in spared and snapshot.kind == "external"]
    if external:
        plan.warnings.append(
            f"retain={request.retain} keeps the external snapshot(s) {', '.join(external)} of domain '{request.domain}': "
            "deleting one merges overlay files, which retain never does. Delete them with state=absent."
        )
    return [snapshot for snapshot in older if snapshot.name not in spared and snapshot.kind == "internal"]


# -- absent ----------------------------------------------------------------------------------
def _absent(request: SnapshotRequest, seen: Observed) -> Plan:
    plan = Plan()
    found = seen.find(request.snapshot)
    if found is None:
        return plan
    plan.delete, plan.delete_children = found, request.children == "delete"
    plan.removed = [found.name, *(descendants(seen.snapshots, found.name) if plan.delete_children else [])]
    return plan


def descendants(snapshots: list[Snapshot], name: str) -> list[str]:
    """The names of every snapshot below ``name``, oldest first."""
    below: set[str] = {name}
    for snapshot in snapshots:  # oldest first: a parent is always older than its children
        if snapshot.parent in below:
            below.add(snapshot.name)
    return [snapshot.name for snapshot in snapshots if snapshot.name in below and snapshot.name != name]


# -- reverted --------------------------------------------------------------------------------
def _reverted(request: SnapshotRequest, seen: Observed) -> Plan:
    found = seen.find(request.snapshot)
    if found is None:
        names = ", ".join(repr(snapshot.name) for snapshot in seen.snapshots) or "none"
        raise VirtOpsError(f"Domain '{request.domain}' has no snapshot {request.snapshot!r} to revert to (its snapshots: {names}). Nothing was done.")
    if found.kind == "external":
        raise VirtOpsError(
            f"Domain '{request.domain}': snapshot {request.snapshot!r} is external, and libvirt 9.0 cannot revert to an external "
            "snapshot. Nothing was done. To go back to it by hand: shut the domain down, point each disk back at the file the "
            "snapshot's overlay is based on (its backing file, see qemu-img info) with virt_domain, and remove the overlay with "
            "virt_volume state=absent or rm; or take internal snapshots (kind=internal, qcow2 disks), which revert."
        )
    return Plan(revert=found)


# -- what the plan shows -----------------------------------------------------------------------
def diff(request: SnapshotRequest, seen: Observed, plan: Plan) -> dict[str, Any]:
    """Before and after, from the plan: the domain's snapshots (oldest first), the current
    one, and for a revert what happens to the domain's state."""
    names = [snapshot.name for snapshot in seen.snapshots]
    before: dict[str, Any] = {"snapshots": names, "current": seen.current}
    gone = {snapshot.name for snapshot in plan.prune} | set(plan.removed)
    after_names = [name for name in names if name not in gone] + ([plan.take.name] if plan.take else [])
    current = seen.current
    if plan.take or plan.make_current or plan.revert:
        current = request.snapshot
    elif plan.delete and plan.delete.current:
        current = plan.delete.parent if plan.delete.parent not in gone else None
    after: dict[str, Any] = {"snapshots": after_names, "current": current}
    if plan.update and plan.description is not None:
        before["description"], after["description"] = plan.update.description or "", plan.description
    if plan.revert:
        target = plan.revert.as_result()
        before["domain"] = f"{seen.status.state} ({seen.status.reason}): its memory and disks as they are now, which the revert discards"
        after["domain"] = f"{target['state']}: memory and disks as snapshot {target['name']!r} captured them at {target['creation_time']}"
    return {"before": before, "after": after}
