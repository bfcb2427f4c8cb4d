# Copyright: (c) 2026, virtops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""virt_domain's one sequence: read libvirt's persistent definition, decide with
the XML comparison whether it must change, act (unless in check mode), report.
Also the undefine flags and the restart of a domain whose change is pending."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ansible_collections.virtops.libvirt.plugins.module_utils._core import xml as dxml
from ansible_collections.virtops.libvirt.plugins.module_utils._core.client import Connection, libvirt
from ansible_collections.virtops.libvirt.plugins.module_utils._core.errors import LibvirtCallError, VirtOpsError
from ansible_collections.virtops.libvirt.plugins.module_utils._definition import applied as dapplied
from ansible_collections.virtops.libvirt.plugins.module_utils._definition.compare import differences
from ansible_collections.virtops.libvirt.plugins.module_utils._definition.identity import with_identity
from ansible_collections.virtops.libvirt.plugins.module_utils._definition.live import (
    pending_restart,
    persistent_xml,
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
    match: str = "subset"
    restart: str = "never"
    restart_timeout: float = 120
    force: bool = False
    remove_nvram: bool = False
    remove_tpm: bool = False
    remove_storage: bool = False
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

    def lookup(self):
        return self.conn.find(self.name)

    def call(self, what: str, func, *args):
        return self.conn.call(what, func, *args, domain=self.name)

    def run(self) -> dict[str, Any]:
        domain = self.lookup()
        if self.request.state == "absent":
            self.absent(domain)
        else:
            self.present(domain)
        return self.result

    # -- present -------------------------------------------------------------------
    def desired(self):
        root = dxml.parse_domain(self.request.xml, "option xml")
        written = dxml.domain_name(root)
        if written is None:
            name = root.find("name")
            if name is None:
                name = dxml.etree.Element("name")
                root.insert(0, name)
            name.text = self.name
        elif written != self.name:
            raise VirtOpsError(
                f"The XML names the domain '{written}' but option name is '{self.name}'; make them the same "
                "(renaming a domain is not done by redefining it).")
        return root

    def present(self, domain) -> None:
        desired = self.desired()
        current = dxml.parse_domain(persistent_xml(self.conn, domain, self.name), "libvirt's definition") if domain else None
        persistent = domain is not None and self.call("read whether it is persistent", domain.isPersistent)
        if current is None or not persistent:
            found = ["the domain is not defined" if current is None else "the domain is transient"]
        elif self.request.match == "exact":
            found = dapplied.exact_differences(desired, current)
        else:
            found = differences(desired, current)
        self.result["differences"] = found
        to_define = with_identity(desired, current) if current is not None else desired
        after = to_define
        if found:
            self.result["changed"] = True
            if not self.request.check_mode:
                domain = self.define(to_define)
                after = dxml.parse_domain(persistent_xml(self.conn, domain, self.name), "libvirt's definition")
        elif current is not None:
            after = current
        if domain is not None:
            self.result["uuid"] = domain.UUIDString()
        self.autostart(domain)
        self.result["definition"] = dxml.to_text(after)
        if self.request.diff_mode:
            before = dxml.to_text(current) if current is not None else ""
            self.result["diff"] = {"before": before, "after": self.result["definition"],
                                   "before_header": f"{self.name} (persistent definition before)",
                                   "after_header": f"{self.name} (after)"}
        self.result["pending_restart"] = bool(domain is not None and self.pending(domain, found))
        self.restart_if_pending(domain)

    def define(self, root):
        if self.request.match == "exact":
            root = dapplied.with_applied(root, dapplied.fingerprint(root))
        domain = self._define_xml(root)
        if self.request.match == "exact":
            canonical = dxml.parse_domain(persistent_xml(self.conn, domain, self.name), "libvirt's definition")
            desired_print = dapplied.applied_record(canonical).get("desired", "")
            domain = self._define_xml(dapplied.with_applied(canonical, desired_print, dapplied.fingerprint(canonical)))
        return domain

    def _define_xml(self, root):
        try:
            return self.call("define it", self.conn.raw.defineXMLFlags, dxml.to_libvirt(root),
                             libvirt.VIR_DOMAIN_DEFINE_VALIDATE)
        except LibvirtCallError as err:
            raise VirtOpsError(
                f"libvirt refused the definition of domain '{self.name}' at URI '{self.uri}': {err.text}",
                **{**self.result, "changed": False}) from err

    def pending(self, domain, found: list[str]) -> bool:
        if self.request.check_mode and found:
            return self.call("read whether it is active", domain.isActive)
        return pending_restart(self.conn, domain, self.name)

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

    def restart_if_pending(self, domain) -> None:
        self.result["restarted"] = False
        if self.request.restart != "if_pending" or not self.result["pending_restart"]:
            return
        self.result["changed"] = self.result["restarted"] = True
        if self.request.check_mode:
            return
        for state in ("shutdown", "running"):
            PowerRunner(self.conn, domain, PowerRequest(state=state, timeout=self.request.restart_timeout)).run()
        self.result["pending_restart"] = pending_restart(self.conn, domain, self.name)

    # -- absent --------------------------------------------------------------------
    def absent(self, domain) -> None:
        if domain is None:
            return
        self.result["uuid"] = domain.UUIDString()
        active = self.call("read whether it is active", domain.isActive)
        if active and not self.request.force:
            raise VirtOpsError(
                f"Domain '{self.name}' is running, so it is not undefined. Shut it down first "
                "(virtops.libvirt.virt_power state=shutdown) or set force=true to power it off.", **self.result)
        volumes = self.managed_volumes(domain) if self.request.remove_storage else []
        persistent = self.call("read whether it is persistent", domain.isPersistent)
        flags = self.undefine_flags(domain) if persistent else {}
        self.result.update(changed=True, removed_volumes=[path for path, _volume in volumes], undefine_flags=sorted(flags))
        if self.request.check_mode:
            return
        if active:
            self.call("power it off", domain.destroy)
        if persistent:
            self.call("undefine it", domain.undefineFlags, sum(flags.values()))
        for path, volume in volumes:
            self.call(f"delete its storage volume {path}", volume.delete, 0)

    def undefine_flags(self, domain) -> dict[str, int]:
        """The undefine flags this domain needs, by name: what must go to undefine
        it, and an explicit keep (or remove, when asked) for NVRAM and TPM state."""
        root = dxml.parse_domain(persistent_xml(self.conn, domain, self.name), "libvirt's definition")
        flags = {}
        if self.call("read whether it has a managed-save image", domain.hasManagedSaveImage, 0):
            flags["managed_save"] = libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE
        if _count(self.conn, self.name, domain.snapshotNum):
            flags["snapshots_metadata"] = libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
        if _count(self.conn, self.name, domain.listAllCheckpoints):
            flags["checkpoints_metadata"] = libvirt.VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA
        if root.find("os/nvram") is not None or root.find("os/loader[@type='pflash']") is not None \
                or root.find("os[@firmware='efi']") is not None:
            flags.update({"nvram": libvirt.VIR_DOMAIN_UNDEFINE_NVRAM} if self.request.remove_nvram
                         else {"keep_nvram": libvirt.VIR_DOMAIN_UNDEFINE_KEEP_NVRAM})
        if root.find("devices/tpm") is not None:
            flags.update({"tpm": libvirt.VIR_DOMAIN_UNDEFINE_TPM} if self.request.remove_tpm
                         else {"keep_tpm": libvirt.VIR_DOMAIN_UNDEFINE_KEEP_TPM})
        return flags

    def managed_volumes(self, domain) -> list[tuple[str, Any]]:
        """The disks of the domain that are storage volumes libvirt manages."""
        root = dxml.parse_domain(persistent_xml(self.conn, domain, self.name), "libvirt's definition")
        volumes = []
        for source in root.iterfind("devices/disk/source"):
            volume = self._volume(source)
            if volume is not None:
                volumes.append((volume.path(), volume))
        return volumes

    def _volume(self, source):
        try:
            if source.get("pool") and source.get("volume"):
                pool = self.call(f"find storage pool {source.get('pool')!r}", self.conn.raw.storagePoolLookupByName,
                                 source.get("pool"))
                return self.call(f"find volume {source.get('volume')!r}", pool.storageVolLookupByName,
                                 source.get("volume"))
            path = source.get("file") or source.get("dev")
            return self.call(f"find the volume of {path}", self.conn.raw.storageVolLookupByPath, path) if path else None
        except LibvirtCallError:
            return None  # not a volume libvirt manages: never touched


def _count(conn: Connection, name: str, method) -> int:
    """How many snapshots/checkpoints a domain has; 0 where the driver has none."""
    try:
        found = conn.call("count its snapshots and checkpoints", method, 0, domain=name)
    except LibvirtCallError:
        return 0
    return len(found) if isinstance(found, list) else int(found)
