# Copyright: (c) 2026, virtops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""virt_domain's one sequence: read libvirt's persistent definition, decide with
the XML comparison whether it must change, act (unless in check mode), report.
Also the undefine flags and the restart of a domain whose change is pending.

A failure at any step carries the fields known by then, ``changed`` saying whether
anything was written before it; no secret of either definition is ever in a message."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ansible_collections.virtops.libvirt.plugins.module_utils._core import xml as dxml
from ansible_collections.virtops.libvirt.plugins.module_utils._core.client import Connection, libvirt
from ansible_collections.virtops.libvirt.plugins.module_utils._core.errors import LibvirtCallError, VirtOpsError
from ansible_collections.virtops.libvirt.plugins.module_utils._definition import match, merge, preflight, storage
from ansible_collections.virtops.libvirt.plugins.module_utils._definition import record as drecord
from ansible_collections.virtops.libvirt.plugins.module_utils._definition.identity import with_identity
from ansible_collections.virtops.libvirt.plugins.module_utils._definition.live import (
    RestartPlan,
    persistent_xml,
    restart_plan,
)
from ansible_collections.virtops.libvirt.plugins.module_utils._power.runner import (
    PowerRequest,
    PowerRunner,
)


@dataclass
class DefinitionRequest:
    """virt_domain's options."""

    name: str
    state: str = "present"
    xml: str | None = None
    autostart: bool | None = None
    unowned: str = "keep"
    restart: str = "never"
    restart_timeout: float = 120
    force: bool = False
    remove_nvram: bool = False
    remove_tpm: bool = False
    remove_storage: bool = False
    remove_managed_save: bool = False
    remove_snapshots_metadata: bool = False
    check_mode: bool = False
    diff_mode: bool = False


class DomainDefinition:
    """Brings one domain's definition to the requested state."""

    def __init__(self, conn: Connection, request: DefinitionRequest) -> None:
        self.conn = conn
        self.uri = conn.shown_uri
        self.request = request
        self.name = request.name
        self.result: dict[str, Any] = {"changed": False, "name": self.name}
        self.written = False  # whether anything was written to libvirt yet
        self.secrets: set[str] = set()  # of both definitions, scrubbed from every message

    def call(self, what: str, func, *args):
        return self.conn.call(what, func, *args, domain=self.name)

    def run(self) -> dict[str, Any]:
        try:
            domain = self.conn.find(self.name)
            if self.request.state == "absent":
                self.absent(domain)
            else:
                self.present(domain)
        except VirtOpsError as err:
            raise VirtOpsError(dxml.scrub(err.msg, self.secrets), **{**self.result, "changed": self.written}) from None
        return self.result

    def parse(self, text: str | None, source: str):
        root = dxml.parse_domain(text, source)
        self.secrets |= dxml.secret_values(root)
        return root

    def persistent(self, domain):
        """libvirt's persistent definition (a transient domain's live one), secrets included."""
        return self.parse(persistent_xml(self.conn, domain, self.name), "libvirt's definition")

    # -- present -------------------------------------------------------------------
    def desired(self):
        if self.name != self.name.strip():
            raise VirtOpsError(
                f"Option name {self.name!r} begins or ends with blanks; libvirt would keep them in the domain's name. Give the name without them."
            )
        # (a template made from `virsh dumpxml` may hold an applied record: it is never part of what is desired)
        root = drecord.without_record(self.parse(self.request.xml, "option xml"))
        written = dxml.domain_name(root)
        if written is None:
            name = root.find("name")
            if name is None:
                name = dxml.etree.Element("name")
                root.insert(0, name)
            name.text = self.name
        elif written != self.name:
            raise VirtOpsError(
                f"The XML names the domain {written!r} but option name is {self.name!r}; make them exactly the "
                "same, blanks included (renaming a domain is not done by redefining it)."
            )
        return root

    def present(self, domain) -> None:
        desired = self.desired()
        current = self.persistent(domain) if domain else None
        persistent = domain is not None and self.call("read whether it is persistent", domain.isPersistent)
        plan = self.plan(desired, current, persistent)
        self.result.update(differences=plan.changes + plan.notes, pending_restart=[], restarted=False, adopted=plan.adopted)
        preflight.check(self.conn, self.name, desired, current, plan.merged if plan.changes else None, self.request.check_mode)
        if plan.changes:
            self.result["changed"] = True
            self.report(domain, current, plan.merged)  # what is written (if a failure comes before the end)
            if not self.request.check_mode:
                domain, defined = self.define(desired, plan)
                self.report(domain, current, defined)
        else:
            self.report(domain, current, current)
        self.autostart(domain)
        restart = self.restart_plan(domain, plan)
        self.result["pending_restart"] = restart.pending
        self.result["live_only"] = restart.live_only
        self.restart_if_pending(domain, restart)

    def plan(self, desired, current, persistent: bool) -> merge.Plan:
        """What to define: nothing when the template is the one last applied and libvirt's
        definition is still what it made of it; else the three-way merge."""
        if current is None or not persistent:
            merged = desired if current is None else with_identity(desired, current)
            reason = "the domain is not defined" if current is None else "the domain is transient"
            return merge.Plan(merged=merged, changes=[reason], owned=match.elements(merged.find("devices")))
        if drecord.still_applied(desired, current):
            return merge.Plan(merged=current)
        record, damage = drecord.read(current)
        normalised = drecord.normalised(desired)
        plan = merge.plan_apply(record, desired, current, prune=self.request.unowned == "remove")
        if record is None:
            why = damage or "it has no applied record (defined outside virtops.libvirt, or before it kept one)"
            plan.changes.append(f"adopted: {why}; the template was compared as a subset, and what is applied is recorded now")
        elif not plan.changes and record.desired != normalised:
            plan.changes.append("the template changed since it was last applied, and libvirt's definition already holds it: only the applied record is written")
        if self.request.unowned == "remove" and record is None:
            self.warn(
                "unowned=remove removes nothing on a domain's first apply: nothing tells yet what was added outside the template. It applies from the next run."
            )
        return plan

    def warn(self, text: str) -> None:
        self.result.setdefault("warnings", []).append(text)

    def report(self, domain, before, after) -> None:
        """The fields that describe the definition: uuid, definition and diff (secrets masked)."""
        if domain is not None:
            self.result["uuid"] = domain.UUIDString()
        if after is None:
            return
        self.result["definition"] = dxml.to_text(drecord.without_record(after))
        if self.request.diff_mode:
            self.result["diff"] = {
                "before": dxml.to_text(drecord.without_record(before)) if before is not None else "",
                "after": self.result["definition"],
                "before_header": f"{self.name} (persistent definition before)",
                "after_header": f"{self.name} (after)",
            }

    def define(self, desired, plan: merge.Plan):
        """Define the merged definition, then record what was applied: one define, then one
        metadata write (the record needs the fingerprint of what libvirt made of it).
        Returns the domain and the definition libvirt made."""
        record = drecord.Record(desired=drecord.normalised(desired))
        domain = self._define_xml(drecord.with_record(plan.merged, record))
        defined = self.persistent(domain)
        devices = match.elements(defined.find("devices"))
        keys = match.full_keys(devices)
        made = match.pair(plan.owned, devices, match.device_key)
        record.owned = [keys[made[position]] if position in made else "" for position in range(len(plan.owned))]
        foreign = match.pair(plan.foreign, devices, match.device_key)
        record.foreign = [keys[position] for position in foreign.values()]
        record.removed = [key for key in plan.removed if key not in record.owned][:64]
        record.seen = keys + sorted({dxml.local_name(element.tag) for element in defined if isinstance(element.tag, str)})
        record.fingerprint = drecord.fingerprint(defined)
        self.call(
            "record what was applied in its metadata",
            domain.setMetadata,
            libvirt.VIR_DOMAIN_METADATA_ELEMENT,
            dxml.etree.tostring(record.element(namespaced=False), encoding="unicode"),
            drecord.PREFIX,
            drecord.NAMESPACE,
            libvirt.VIR_DOMAIN_AFFECT_CONFIG,
        )
        return domain, defined

    def _define_xml(self, root):
        try:
            domain = self.call("define it", self.conn.raw.defineXMLFlags, dxml.to_libvirt(root), libvirt.VIR_DOMAIN_DEFINE_VALIDATE)
        except LibvirtCallError as err:
            raise VirtOpsError(f"libvirt refused the definition of domain '{self.name}' at URI '{self.uri}': {err.text}") from err
        self.written = True
        return domain

    def restart_plan(self, domain, plan: merge.Plan) -> RestartPlan:
        """What waits for the next start; in check mode, with what the plan would define."""
        if domain is None:
            return RestartPlan()
        restart = restart_plan(self.conn, domain, self.name)
        if self.request.check_mode and plan.changes and self.call("read whether it is active", domain.isActive):
            restart.pending += [line for line in plan.changes if not line.startswith(_RECORD_ONLY)]
            gone = {_bracket_key(key) for key in plan.removed}
            restart.live_only = [label for label in restart.live_only if not any(key in label for key in gone)]
        return restart

    def autostart(self, domain) -> None:
        wanted = self.request.autostart
        if wanted is None:
            return
        persistent = domain is not None and self.call("read whether it is persistent", domain.isPersistent)
        have = bool(self.call("read its autostart flag", domain.autostart)) if persistent else None
        if have == wanted:
            return
        self.result["changed"] = True
        if not self.request.check_mode:
            self.call("set its autostart flag", domain.setAutostart, int(wanted))
            self.written = True

    def restart_if_pending(self, domain, restart: RestartPlan) -> None:
        self.result["restarted"] = False
        if not restart.pending:
            return
        if self.request.restart != "if_pending":
            self.warn(
                f"Domain '{self.name}' runs on its previous definition until it next starts; waiting for that: "
                f"{_some(restart.pending)}. Apply it now with restart=if_pending, or shut the domain down and start it "
                "(virtops.libvirt.virt_power state=shutdown, then state=running); a reboot inside the guest does not apply it."
            )
            return
        if restart.live_only and not self.request.force:
            raise VirtOpsError(
                f"restart=if_pending did not restart domain '{self.name}': the running domain has what no definition "
                f"holds, and a restart would lose it: {_some(restart.live_only)}. Add it to the template (then it is "
                "kept), or set force=true to restart and lose it. The definition is "
                + ("saved" if self.written else "unchanged")
                + f" and waits for the next start: {_some(restart.pending)}.",
                **{**self.result, "changed": self.written},
            )
        self.result["changed"] = self.result["restarted"] = True
        if self.request.check_mode:
            return
        sent: list[str] = []
        try:
            for state in ("shutdown", "running"):
                runner = PowerRunner(self.conn, domain, PowerRequest(state=state, timeout=self.request.restart_timeout))
                outcome = runner.run()
                domain = runner.domain  # a new handle when the connection was made again meanwhile
                sent += outcome.actions
                self.result.setdefault("warnings", []).extend(outcome.warnings)
                self.written = True
        except VirtOpsError as err:
            self.result["restarted"] = False
            sent += err.result.get("actions", [])
            seen = [f"it is now {err.result['state']} ({err.result.get('reason', 'unknown')})"] if "state" in err.result else []
            seen.append("sent: " + (", ".join(sent) or "nothing"))
            raise VirtOpsError(
                f"restart=if_pending could not restart domain '{self.name}' within restart_timeout="
                f"{self.request.restart_timeout:g} s ({'; '.join(seen)}): "
                f"{err.msg.split('. ')[0]}. The new definition is saved and applies at its next start: raise "
                "restart_timeout, or shut the guest down with the module virtops.libvirt.virt_power (its state=shutdown "
                "with on_timeout=force powers it off when it ignores the request)."
            ) from None
        after = restart_plan(self.conn, domain, self.name)
        self.result["pending_restart"], self.result["live_only"] = after.pending, after.live_only

    # -- absent --------------------------------------------------------------------
    def absent(self, domain) -> None:
        if domain is None:
            return
        self.result["uuid"] = uuid = domain.UUIDString()
        active = self.call("read whether it is active", domain.isActive)
        if active and not self.request.force:
            raise VirtOpsError(
                f"Domain '{self.name}' is running, so it is not undefined. Shut it down first "
                "(virtops.libvirt.virt_power state=shutdown) or set force=true to power it off."
            )
        persistent = self.call("read whether it is persistent", domain.isPersistent)
        root = self.persistent(domain)
        held = self.held(domain, persistent)
        flags = self.undefine_flags(root, held) if persistent else {}
        volumes = storage.plan(self.conn, self.name, uuid, root) if self.request.remove_storage else storage.StoragePlan()
        self.result.update(changed=True, undefine_flags=sorted(flags), kept_volumes=volumes.kept, removed_volumes=[volume.path for volume in volumes.remove])
        if self.request.check_mode:
            return
        self.result["removed_volumes"] = []
        if active:
            self.call("power it off", domain.destroy)
            self.written = True
        if persistent:
            self.call("undefine it", domain.undefineFlags, sum(flags.values()))
            self.written = True
        for volume in volumes.remove:
            self.call(f"delete its storage volume {volume.path}", volume.handle.delete, 0)
            self.result["removed_volumes"].append(volume.path)

    def held(self, domain, persistent: bool) -> dict[str, int]:
        """What the domain holds that would go with it, by undefine flag name (with how
        many); VirtOpsError unless the options allow each of them to go."""
        held = {}
        if persistent and self.call("read whether it has a managed-save image", domain.hasManagedSaveImage, 0):
            held["managed_save"] = 1
        for flag, what, method in (("snapshots_metadata", "snapshot", domain.snapshotNum), ("checkpoints_metadata", "checkpoint", domain.listAllCheckpoints)):
            count = _count(self.conn, self.name, f"count its {what}s", method)
            if count:
                held[flag] = count
        self.refuse_unless_allowed(held)
        return held

    def refuse_unless_allowed(self, held: dict[str, int]) -> None:
        """As libvirt does: nothing held goes unless its option says so."""
        refused = [
            (text, option)
            for flag, text, option in (
                ("managed_save", "a managed-save image", "remove_managed_save"),
                ("snapshots_metadata", f"{held.get('snapshots_metadata')} snapshot(s)", "remove_snapshots_metadata"),
                ("checkpoints_metadata", f"{held.get('checkpoints_metadata')} checkpoint(s)", "remove_snapshots_metadata"),
            )
            if flag in held and not getattr(self.request, option)
        ]
        if not refused:
            return
        them = "them" if len(refused) > 1 else "it"
        options = " and ".join(f"{option}=true" for option in sorted({option for _text, option in refused}))
        raise VirtOpsError(
            f"Domain '{self.name}' has {' and '.join(text for text, _option in refused)}; it is not removed, since "
            f"that would delete {them}. Set {options} to remove {them} with the domain (the data of internal "
            "snapshots stays inside the disk images), or remove them first (virsh managedsave-remove, "
            "virsh snapshot-delete, virsh checkpoint-delete)."
        )

    def undefine_flags(self, root, held: dict[str, int]) -> dict[str, int]:
        """The undefine flags this domain needs, by name: what goes with it (allowed by
        held()), and an explicit keep (or remove, when asked) for NVRAM and TPM state."""
        flags = {
            name: value
            for name, value in (
                ("managed_save", libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE),
                ("snapshots_metadata", libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA),
                ("checkpoints_metadata", libvirt.VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA),
            )
            if name in held
        }
        if root.find("os/nvram") is not None or root.find("os/loader[@type='pflash']") is not None or root.find("os[@firmware='efi']") is not None:
            flags.update({"nvram": libvirt.VIR_DOMAIN_UNDEFINE_NVRAM} if self.request.remove_nvram else {"keep_nvram": libvirt.VIR_DOMAIN_UNDEFINE_KEEP_NVRAM})
        if root.find("devices/tpm") is not None:
            flags.update({"tpm": libvirt.VIR_DOMAIN_UNDEFINE_TPM} if self.request.remove_tpm else {"keep_tpm": libvirt.VIR_DOMAIN_UNDEFINE_KEEP_TPM})
        return flags


def _count(conn: Connection, name: str, what: str, method) -> int:
    """How many snapshots/checkpoints a domain has; 0 where the driver has none."""
    try:
        found = conn.call(what, method, 0, domain=name)
    except LibvirtCallError as err:
        if err.code == libvirt.VIR_ERR_NO_SUPPORT:
            return 0
        raise
    return len(found) if isinstance(found, list) else int(found)


_RECORD_ONLY = ("adopted:", "the template changed since it was last applied")


def _bracket_key(key: str) -> str:
    return key.partition(" ")[2] or key


def _some(lines: list[str], shown: int = 3) -> str:
    """The first few of ``lines``, saying how many more there are."""
    more = f" (and {len(lines) - shown} more)" if len(lines) > shown else ""
    return "; ".join(lines[:shown]) + more
