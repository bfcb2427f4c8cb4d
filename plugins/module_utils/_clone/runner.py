# Copyright: (c) 2026, virtops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""virt_clone's one sequence: read the clone and the source, plan the clone (its
definition, its disks, its NVRAM), make it unless in check mode, report.

- A clone that exists is never changed: the run reports it, and says how it differs
  from what a clone of the source would be now (identity aside).
- The source must be shut off, unless the clone is made from an external snapshot of
  it (snapshot.py); it is only ever read.
- The plan is the one source of ``actions``, check mode and ``--diff``.
- A failure after something was made removes what this run made (volumes, the NVRAM
  copy) and says so; the source is never touched."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from ansible_collections.virtops.libvirt.plugins.module_utils._clone import definition, disks, nvram, snapshot
from ansible_collections.virtops.libvirt.plugins.module_utils._core import xml as dxml
from ansible_collections.virtops.libvirt.plugins.module_utils._core.client import Connection, libvirt
from ansible_collections.virtops.libvirt.plugins.module_utils._core.errors import LibvirtCallError, VirtOpsError
from ansible_collections.virtops.libvirt.plugins.module_utils._core.states import read_status
from ansible_collections.virtops.libvirt.plugins.module_utils._definition import preflight
from ansible_collections.virtops.libvirt.plugins.module_utils._definition.live import persistent_xml
from ansible_collections.virtops.libvirt.plugins.module_utils._storage import volumes


@dataclass
class CloneRequest:
    """virt_clone's options (names already checked)."""

    name: str
    source: str
    storage: str = "copy"
    pool: str | None = None
    volume_names: dict[str, str] | None = None
    snapshot: str | None = None
    check_mode: bool = False
    diff_mode: bool = False


@dataclass
class Plan:
    root: Any  # the clone's definition
    disks: list[disks.Disk]
    nvram: nvram.Nvram | None


class CloneRunner:
    """Makes one clone of a shut-off domain, once."""

    def __init__(self, conn: Connection, request: CloneRequest) -> None:
        self.conn = conn
        self.request = request
        self.name = request.name
        self.result: dict[str, Any] = {
            "changed": False,
            "domain": {"name": request.name, "uuid": None},
            "disks": [],
            "nvram": None,
            "actions": [],
            "differences": [],
        }
        self.secrets: set[str] = set()  # of the source's definition, scrubbed from every message
        self.warnings: list[str] = []

    def run(self) -> dict[str, Any]:
        try:
            self._run()
        except VirtOpsError as err:
            raise VirtOpsError(dxml.scrub(err.msg, self.secrets), **{**self.result, **err.result}) from None
        if self.warnings:
            self.result["warnings"] = self.warnings
        return self.result

    def _run(self) -> None:
        if self.name == self.request.source:
            raise VirtOpsError(f"Options name and source both name domain '{self.name}'; a clone needs a name of its own.")
        clone = self.conn.find(self.name)
        source = self.conn.find(self.request.source)
        if clone is not None:
            self.existing(clone, source)
            return
        if source is None:
            raise VirtOpsError(
                f"No domain named '{self.request.source}' (option source) at URI '{self.conn.shown_uri}', so there is nothing to "
                f"clone. List the defined domains with: virsh -c '{self.conn.shown_uri}' list --all"
            )
        source_root = self.read(source, self.request.source)
        if self.request.snapshot is None:
            self.check_shut_off(source)
        else:
            source_root = snapshot.frozen(self.conn, source, self.request.source, self.request.snapshot, source_root, self.request.storage)
        plan = self.plan(source_root)
        self.report(plan)
        if not self.request.check_mode:
            self.make(plan)

    def read(self, domain: Any, name: str) -> Any:
        root = dxml.parse_domain(persistent_xml(self.conn, domain, name), f"libvirt's definition of domain '{name}'")
        self.secrets |= dxml.secret_values(root)
        return root

    def check_shut_off(self, source: Any) -> None:
        status = read_status(self.conn, source, self.request.source)
        if status.state == "shutoff":
            return
        saved = " (a managed-save image holds its memory, and its disks belong with it)" if status.state == "saved" else ""
        raise VirtOpsError(
            f"Domain '{self.request.source}' (option source) is {status}{saved}; only a shut-off domain is cloned, as the disks of "
            "a domain that runs may be half-written. Shut it down first (virtops.libvirt.virt_power state=shutdown), or, to "
            "keep it running, take a snapshot of it with virtops.libvirt.virt_snapshot and clone from that (see the clone "
            "guide, docs/virt_clone.md). Nothing was made."
        )

    # -- planning ------------------------------------------------------------------
    def plan(self, source_root: Any) -> Plan:
        request = self.request
        root = definition.clone_of(source_root, self.name)
        choices = disks.Choices(self.name, request.source, request.storage, request.pool, request.volume_names)
        planned = disks.plan(self.conn, choices, root)
        for disk in planned:
            if disk.how != "shared":
                disks.point_at(disk, disk.clone)
        made_nvram = nvram.plan(self.conn, self.name, request.source, root)
        if made_nvram is not None:
            nvram.point_at(root, made_nvram.path)
        preflight.check(self.conn, self.name, root, None, root, request.check_mode)
        outputs = sorted(set(definition.file_outputs(root)))
        if outputs:
            self.warnings.append(
                f"The clone writes to the same files as '{request.source}' does: {', '.join(outputs)}. If both run at once, "
                "give the clone its own with virtops.libvirt.virt_domain."
            )
        return Plan(root, planned, made_nvram)

    def report(self, plan: Plan) -> None:
        lines = [disk.line for disk in plan.disks if disk.how != "shared"]
        if plan.nvram is not None:
            lines.append(plan.nvram.line)
        lines.append(f"define domain '{self.name}' (libvirt gives it a new UUID and new MAC addresses)")
        self.result.update(changed=True, actions=lines, disks=[disk.facts() for disk in plan.disks], nvram=plan.nvram.path if plan.nvram is not None else None)
        if self.request.diff_mode:
            self.result["diff"] = [
                {"before": "", "after": dxml.to_text(plan.root), "before_header": f"{self.name} (absent)", "after_header": f"{self.name} (definition)"},
                {"before": "", "after": _storage_text(plan), "before_header": f"{self.name} (absent)", "after_header": f"{self.name} (disks and NVRAM)"},
            ]

    # -- making --------------------------------------------------------------------
    def make(self, plan: Plan) -> None:
        """Make the volumes and the NVRAM copy, then define the clone; on a failure, remove what was made."""
        made: list[tuple[str, Callable[[], None]]] = []
        try:
            for disk in plan.disks:
                if disk.how == "shared" or disk.reused is not None:
                    continue
                volume = disks.create(self.conn, disk)
                shown = volumes.label(disk.pool or "", disk.volume or "")
                made.append((shown, _deleter(self.conn, volume, shown)))
                disk.clone = volumes.path_of(self.conn, volume, shown)
                disks.point_at(disk, disk.clone)
            if plan.nvram is not None and plan.nvram.how in ("volume", "file"):
                copy = nvram.make(self.conn, plan.nvram)
                made.append((f"the NVRAM copy {plan.nvram.path}", _undoer(self.conn, plan.nvram, copy)))
                self.warnings += plan.nvram.warnings or []
            domain = self.define(plan.root)
        except VirtOpsError as err:
            said, left = _undo(made)
            raise VirtOpsError(f"{err.msg} {said}", changed=left) from None
        self.result["domain"]["uuid"] = domain.UUIDString()
        self.result["disks"] = [disk.facts() for disk in plan.disks]

    def define(self, root: Any) -> Any:
        try:
            return self.conn.call("define it", self.conn.raw.defineXMLFlags, dxml.to_libvirt(root), libvirt.VIR_DOMAIN_DEFINE_VALIDATE, domain=self.name)
        except LibvirtCallError as err:
            raise VirtOpsError(f"libvirt refused the definition of the clone '{self.name}' at URI '{self.conn.shown_uri}': {err.text}.") from None

    # -- a clone that exists -------------------------------------------------------
    def existing(self, clone: Any, source: Any) -> None:
        """Report the clone as it is; it is never changed."""
        root = self.read(clone, self.name)
        self.result["domain"]["uuid"] = clone.UUIDString()
        self.result["nvram"] = nvram.source_path(root)
        source_root = self.read(source, self.request.source) if source is not None else None
        self.result["disks"] = [self.existing_disk(disk, source_root) for disk in root.iterfind("devices/disk")]
        if source_root is None:
            return
        found = definition.differences(definition.clone_of(source_root, self.name), root)
        self.result["differences"] = found
        if found:
            self.warnings.append(
                f"Domain '{self.name}' exists and differs from what a clone of '{self.request.source}' would be now: "
                f"{'; '.join(found[:3])}{' (and more: see differences)' if len(found) > 3 else ''}. An existing clone is never "
                "changed: manage it with virtops.libvirt.virt_domain, or remove it to clone again."
            )

    def existing_disk(self, element: Any, source_root: Any) -> dict[str, Any]:
        target = disks.target_of(element)
        twins = source_root.iterfind("devices/disk") if source_root is not None else ()
        twin = next((disk for disk in twins if disks.target_of(disk) == target), None)
        path, volume = disks.image(self.conn, self.name, element.find("source"))
        from_source = disks.image(self.conn, self.request.source, twin.find("source"))[0] if twin is not None else None
        facts = {"target": target, "how": "copy", "source": from_source, "clone": path, "pool": None, "volume": None, "reused": False}
        if path is None or path == from_source:
            facts["how"] = "shared"
        elif volume is not None:
            facts.update(pool=volume.pool, volume=volume.name)
            backing = volumes.volume_facts(self.conn, volume.handle, volume.pool)["backing"]
            if backing is not None and backing["path"] == from_source:
                facts["how"] = "linked"
        return facts


def _deleter(conn: Connection, volume: Any, shown: str) -> Callable[[], None]:
    return lambda: volumes.delete_volume(conn, volume, shown)


def _undoer(conn: Connection, made: nvram.Nvram, copy: Any) -> Callable[[], None]:
    return lambda: nvram.undo(conn, made, copy)


def _undo(made: list[tuple[str, Callable[[], None]]]) -> tuple[str, bool]:
    """Remove what this run made, newest first; what the message says of it, and whether anything is left."""
    if not made:
        return "Nothing was made.", False
    removed, left = [], []
    for shown, remove in reversed(made):
        try:
            remove()
            removed.append(shown)
        except (VirtOpsError, OSError) as err:
            left.append(f"{shown} ({getattr(err, 'msg', None) or err})")
    said = f"This run removed what it had made: {', '.join(removed)}." if removed else ""
    if left:
        said += f" It could not remove: {'; '.join(left)}; remove that by hand."
    return said.strip(), bool(left)


def _storage_text(plan: Plan) -> str:
    """What --diff shows of the disks and NVRAM the clone gets."""
    lines = []
    for disk in plan.disks:
        if disk.how == "shared":
            lines.append(f"{disk.target}: shared {disk.source or '(no medium)'}")
        else:
            lines.append(f"{disk.target}: {disk.how} of {disk.source} -> {disk.clone or volumes.label(disk.pool or '', disk.volume or '')}")
    if plan.nvram is not None:
        lines.append(f"nvram: {plan.nvram.line}")
    return "".join(f"{line}\n" for line in lines)
