# Copyright: (c) 2026, virtops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""virt_volume's one sequence: read the volume, plan the steps that bring it to the
requested state (refusing what would lose data or cannot be done in place), take
them unless in check mode, report.

The plan is the one source of ``changed``, check mode, ``--diff`` and ``actions``:
the diff's "before" is what was read, its "after" what the steps make of it.
Content is never compared: an existing volume gets ``src`` only with force_upload."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from typing import Any

from ansible_collections.virtops.libvirt.plugins.module_utils._core import streams
from ansible_collections.virtops.libvirt.plugins.module_utils._core.client import Connection, libvirt
from ansible_collections.virtops.libvirt.plugins.module_utils._core.errors import VirtOpsError
from ansible_collections.virtops.libvirt.plugins.module_utils._storage import images, usage
from ansible_collections.virtops.libvirt.plugins.module_utils._storage.pools import FILE_POOL_TYPES, active_pool, description, find_pool
from ansible_collections.virtops.libvirt.plugins.module_utils._storage.size import human
from ansible_collections.virtops.libvirt.plugins.module_utils._storage.volumes import (
    FACTS,
    Ref,
    Source,
    create_and_upload,
    find_volume,
    label,
    new_volume_xml,
    resolve,
    volume_facts,
)


@dataclass
class VolumeRequest:
    """virt_volume's options (names, sizes and paths already checked)."""

    pool: str
    name: str
    state: str = "present"
    capacity: int | None = None
    allow_shrink: bool = False
    format: str = "qcow2"
    backing: Source | None = None
    clone_from: Source | None = None
    src: str | None = None
    force_upload: bool = False
    force: bool = False
    check_mode: bool = False
    diff_mode: bool = False


@dataclass
class Step:
    """One write: its kind (create, clone, upload, resize, delete), what it says in
    ``actions``, and what it needs."""

    kind: str
    line: str
    xml: str = ""
    capacity: int = 0
    source: Any = None  # the volume cloned, or the ImageFile uploaded


@dataclass
class VolumePlan:
    steps: list[Step] = field(default_factory=list)
    after: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)
    content: str | None = None  # what --diff says of content written


class VolumeRunner:
    """Brings one storage volume to the requested state."""

    def __init__(self, conn: Connection, request: VolumeRequest) -> None:
        self.conn = conn
        self.request = request
        self.shown = label(request.pool, request.name)
        self.result: dict[str, Any] = {"changed": False, "volume": None, "actions": []}
        self.written = False
        self.capacity_before = 0  # the capacity a resize step starts from

    def run(self) -> dict[str, Any]:
        if self.request.state == "absent":
            pool = find_pool(self.conn, self.request.pool)
            if pool is None:
                self.result["warnings"] = [f"Storage pool {self.request.pool!r} is not defined at URI '{self.conn.shown_uri}': there is no volume to remove."]
                return self.result
        pool = active_pool(self.conn, self.request.pool)
        vol = find_volume(self.conn, pool, self.request.name)
        before = volume_facts(self.conn, vol, self.request.pool) if vol is not None else None
        self.result["volume"] = before
        plan = self.plan_absent(before) if self.request.state == "absent" else self.plan_present(pool, before)
        self.result.update(changed=bool(plan.steps), actions=[step.line for step in plan.steps])
        if plan.warnings:
            self.result["warnings"] = plan.warnings
        if self.request.diff_mode:
            self.result["diff"] = {"before": _shown(before), "after": _shown(plan.after, plan.content), "before_header": self.shown}
        if self.request.check_mode or not plan.steps:
            self.result["volume"] = plan.after if plan.steps else before
            return self.result
        try:
            vol = self.act(pool, vol, plan.steps)
        except VirtOpsError as err:
            raise VirtOpsError(err.msg, **{**self.result, "changed": self.written}) from None
        self.result["volume"] = volume_facts(self.conn, vol, self.request.pool) if vol is not None else before
        return self.result

    # -- present -------------------------------------------------------------------
    def plan_present(self, pool: Any, before: dict[str, Any] | None) -> VolumePlan:
        if before is None:
            return self.plan_create(pool)
        wanted = self.request
        if before["format"] != wanted.format:
            raise VirtOpsError(
                f"{self.shown.capitalize()} exists in format {before['format']!r}, not {wanted.format!r} (option format"
                f"{'' if wanted.format != 'qcow2' else ', qcow2 by default'}). A volume is never converted; set format={before['format']} "
                "to manage it, or remove it and create it again.",
                volume=before,
            )
        if wanted.backing is not None:
            self.check_backing(before)
        after = dict(before)
        plan = VolumePlan(after=after)
        if wanted.src is not None and wanted.force_upload:
            image = self.image()
            plan.warnings += image.warnings
            plan.steps.append(Step("upload", f"upload {image.path} ({human(image.size)}) over its content", source=image))
            plan.content = f"uploaded from {image.path} ({image.size} bytes)"
            after["capacity"] = max(before["capacity"] or 0, image.virtual_size) if wanted.format == "raw" else image.virtual_size
        self.plan_resize(plan, after["capacity"])
        return plan

    def check_backing(self, before: dict[str, Any]) -> None:
        """An existing overlay is never re-based: its backing file must be the one asked."""
        _vol, base = resolve(self.conn, self.request.backing or Source(), "backing")
        have = before["backing"]["path"] if before["backing"] else None
        if have != base["path"]:
            raise VirtOpsError(
                f"{self.shown.capitalize()} exists with backing file {have!r}, not {base['path']!r} (option backing). A volume is "
                "never re-based in place; remove it (state=absent) and create it again, or name its actual backing file.",
                volume=before,
            )

    def plan_resize(self, plan: VolumePlan, have: int) -> None:
        """Grow to ``capacity`` when it is larger; shrink only when allowed, and only raw."""
        wanted = self.request.capacity
        if wanted is None or wanted == have or plan.after is None:
            return
        if wanted < have:
            if not self.request.allow_shrink:
                raise VirtOpsError(
                    f"{self.shown.capitalize()} is {human(have)}; capacity={human(wanted)} is smaller and it is not shrunk, as that "
                    "loses whatever is stored past the new end. Set allow_shrink=true to shrink a raw volume, or give its size or more.",
                    volume=self.result["volume"],
                )
            if self.request.format != "raw":
                raise VirtOpsError(
                    f"{self.shown.capitalize()} is a {self.request.format} volume of {human(have)}; only raw volumes are shrunk "
                    f"(capacity={human(wanted)}, allow_shrink=true). Nothing was changed.",
                    volume=self.result["volume"],
                )
        verb = "grow" if wanted > have else "shrink"
        self.capacity_before = have
        plan.steps.append(Step("resize", f"{verb} from {human(have)} to {human(wanted)}", capacity=wanted))
        plan.after["capacity"] = wanted

    def plan_create(self, pool: Any) -> VolumePlan:
        wanted = self.request
        after = self.predicted(pool)
        plan = VolumePlan(after=after)
        if wanted.backing is not None:
            _vol, base = resolve(self.conn, wanted.backing, "backing")
            if wanted.format != "qcow2":
                raise VirtOpsError(f"Option backing makes a copy-on-write overlay, which is a qcow2 volume; format={wanted.format} cannot have a backing file.")
            capacity = self.at_least(base["capacity"], f"its backing volume {base['path']!r}")
            backing = {"path": base["path"], "format": base["format"] or "raw"}
            xml = new_volume_xml(wanted.name, capacity, "qcow2", backing)
            plan.steps.append(Step("create", f"create a qcow2 overlay of {human(capacity)} backed by {base['path']} ({backing['format']})", xml=xml))
            after.update(capacity=capacity, backing=backing)
        elif wanted.clone_from is not None:
            source_vol, source = resolve(self.conn, wanted.clone_from, "clone_from")
            capacity = self.at_least(source["capacity"], f"the volume it copies, {source['path']!r}")
            xml = new_volume_xml(wanted.name, source["capacity"], wanted.format)
            plan.steps.append(Step("clone", f"create a {wanted.format} copy of {source['path']} ({human(source['capacity'])})", xml=xml, source=source_vol))
            after["capacity"] = source["capacity"]
            self.plan_resize(plan, source["capacity"])
        elif wanted.src is not None:
            image = self.image()
            plan.warnings += image.warnings
            size = image.virtual_size if wanted.format == "qcow2" else max(image.size, wanted.capacity or 0)
            if wanted.format == "raw" and wanted.capacity is not None and wanted.capacity < image.size:
                raise VirtOpsError(
                    f"Option src: {image.path!r} is {human(image.size)}, more than capacity={human(wanted.capacity)}. Raise capacity or leave it out."
                )
            xml = new_volume_xml(wanted.name, size, wanted.format)
            plan.steps.append(
                Step("create", f"create a {wanted.format} volume of {human(size)} holding {image.path} ({human(image.size)})", xml=xml, source=image)
            )
            plan.content = f"uploaded from {image.path} ({image.size} bytes)"
            after["capacity"] = size
            self.plan_resize(plan, size)
        else:
            if wanted.capacity is None:
                raise VirtOpsError(f"{self.shown.capitalize()} does not exist; option capacity is required to create it (or backing, clone_from or src).")
            xml = new_volume_xml(wanted.name, wanted.capacity, wanted.format)
            plan.steps.append(Step("create", f"create a {wanted.format} volume of {human(wanted.capacity)}", xml=xml))
            after["capacity"] = wanted.capacity
        return plan

    def at_least(self, minimum: int, what: str) -> int:
        """The capacity asked (``minimum`` when none is); never less than ``minimum``."""
        wanted = self.request.capacity
        if wanted is None:
            return minimum
        if wanted < minimum:
            raise VirtOpsError(f"Option capacity={human(wanted)} is smaller than {what} ({human(minimum)}); leave it out or raise it.")
        return wanted

    def predicted(self, pool: Any) -> dict[str, Any]:
        """What is known of a volume before it is made (path and key for a file-based pool)."""
        root = description(self.conn, pool)
        path = None
        if root.get("type") in FILE_POOL_TYPES and root.findtext("target/path"):
            path = usage.normal(posixpath.join(root.findtext("target/path"), self.request.name))
        return {**dict.fromkeys(FACTS), "name": self.request.name, "pool": self.request.pool, "path": path, "key": path, "format": self.request.format}

    def image(self) -> images.ImageFile:
        return images.inspect(self.request.src or "", self.request.format)

    # -- absent --------------------------------------------------------------------
    def plan_absent(self, before: dict[str, Any] | None) -> VolumePlan:
        if before is None:
            return VolumePlan()
        if not self.request.force:
            self.refuse_if_used(before)
        return VolumePlan([Step("delete", f"delete {before['path']}")], after=None)

    def refuse_if_used(self, before: dict[str, Any]) -> None:
        path = before["path"] or ""
        ref = Ref(path, before["pool"], before["name"])
        reasons = list(usage.used_by_domains(self.conn, [ref]).values())
        overlays = sorted(usage.backing_map(self.conn).get(path, ()))
        if overlays:
            reasons.append(f"it is the backing file of volume{'s' if len(overlays) > 1 else ''} {', '.join(repr(p) for p in overlays)}")
        if reasons:
            raise VirtOpsError(
                f"{self.shown.capitalize()} ({path}) is not deleted: {'; '.join(reasons)}. Deleting it would break "
                f"{'them' if len(reasons) > 1 else 'that'}; remove those first, or set force=true to delete it anyway.",
                volume=before,
            )

    # -- acting --------------------------------------------------------------------
    def act(self, pool: Any, vol: Any, steps: list[Step]) -> Any:
        """Take ``steps``; the volume handle after them (None once deleted)."""
        conn = self.conn
        for step in steps:
            if step.kind == "create" and step.source is not None:  # from src: one create-and-upload, undone if the upload fails
                with open(step.source.path, "rb") as handle:
                    vol = create_and_upload(conn, pool, self.request.name, step.xml, handle, step.source.size)
            elif step.kind == "create":
                vol = conn.call(f"create {self.shown}", pool.createXML, step.xml, 0)
            elif step.kind == "clone":
                vol = conn.call(f"create {self.shown} as a copy", pool.createXMLFrom, step.xml, step.source, 0)
            elif step.kind == "upload":
                with open(step.source.path, "rb") as handle:
                    streams.upload(conn, vol, handle, step.source.size, self.shown)
            elif step.kind == "resize":
                flags = libvirt.VIR_STORAGE_VOL_RESIZE_SHRINK if step.capacity < self.capacity_before else 0
                conn.call(f"resize {self.shown} to {step.capacity} bytes", vol.resize, step.capacity, flags)
            elif step.kind == "delete":
                conn.call(f"delete {self.shown}", vol.delete, 0)
                vol = None
            self.written = True
        return vol


def _shown(facts: dict[str, Any] | None, content: str | None = None) -> dict[str, Any]:
    """The part of a volume --diff shows: what the module decides on."""
    if facts is None:
        return {"state": "absent"}
    shown = {
        "state": "present",
        "path": facts["path"],
        "format": facts["format"],
        "capacity": human(facts["capacity"]),
        "backing": facts["backing"],
    }
    if content:
        shown["content"] = content
    return shown
