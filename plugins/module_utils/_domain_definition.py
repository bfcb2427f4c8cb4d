# Copyright: (c) 2026, virtops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""virt_domain's one sequence: read libvirt's persistent definition, decide with
the XML comparison whether it must change, act (unless in check mode), report.
Also the undefine flags and the restart of a domain whose change is pending."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ansible_collections.virtops.libvirt.plugins.module_utils import _domain_xml as dxml
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import VirtOpsError
from ansible_collections.virtops.libvirt.plugins.module_utils._libvirt_connection import (
    call,
    error_text,
    is_no_domain,
    libvirt,
)
from ansible_collections.virtops.libvirt.plugins.module_utils._power_runner import (
    PowerRequest,
    PowerRunner,
)

INACTIVE_SECURE = 1 | 2  # VIR_DOMAIN_XML_SECURE | VIR_DOMAIN_XML_INACTIVE


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


def persistent_xml(domain) -> str:
    return domain.XMLDesc(INACTIVE_SECURE)


def pending_restart(domain) -> bool:
    """Whether an active domain's persistent definition differs from the running one."""
    if not domain.isActive() or not domain.isPersistent():
        return False
    # MIGRATABLE formats both without the devices libvirt adds implicitly and with
    # the CPU as defined, not as expanded when the domain started.
    migratable = libvirt.VIR_DOMAIN_XML_MIGRATABLE | libvirt.VIR_DOMAIN_XML_SECURE
    persistent = dxml.parse_domain(domain.XMLDesc(migratable | libvirt.VIR_DOMAIN_XML_INACTIVE), "libvirt's definition")
    live = dxml.parse_domain(domain.XMLDesc(migratable), "libvirt's live definition")
    return bool(dxml.differences(dxml.without_applied(persistent), live)
                or dxml.differences(dxml.runtime_free(live), persistent))


class DomainDefinition:
    """Brings one domain's definition to the requested state."""

    def __init__(self, conn, uri: str, request: DefinitionRequest) -> None:
        self.conn = conn
        self.uri = uri
        self.request = request
        self.name = request.name
        self.result: dict[str, Any] = {"changed": False, "name": self.name}

    def lookup(self):
        try:
            return self.conn.lookupByName(self.name)
        except libvirt.libvirtError as err:
            if is_no_domain(err):
                return None
            raise VirtOpsError(f"Cannot look up domain '{self.name}' at URI '{self.uri}': {error_text(err)}") from err

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
        current = dxml.parse_domain(persistent_xml(domain), "libvirt's definition") if domain else None
        persistent = domain is not None and call(self.name, "read whether it is persistent", domain.isPersistent)
        if current is None or not persistent:
            found = ["the domain is not defined" if current is None else "the domain is transient"]
        elif self.request.match == "exact":
            found = dxml.exact_differences(desired, current)
        else:
            found = dxml.differences(desired, current)
        self.result["differences"] = found
        to_define = dxml.with_identity(desired, current) if current is not None else desired
        after = to_define
        if found:
            self.result["changed"] = True
            if not self.request.check_mode:
                domain = self.define(to_define)
                after = dxml.parse_domain(persistent_xml(domain), "libvirt's definition")
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
            root = dxml.with_applied(root, dxml.fingerprint(root))
        domain = self._define_xml(root)
        if self.request.match == "exact":
            canonical = dxml.parse_domain(persistent_xml(domain), "libvirt's definition")
            desired_print = dxml.applied_record(canonical).get("desired", "")
            domain = self._define_xml(dxml.with_applied(canonical, desired_print, dxml.fingerprint(canonical)))
        return domain

    def _define_xml(self, root):
        xml = dxml.etree.tostring(root, encoding="unicode")
        try:
            return self.conn.defineXMLFlags(xml, libvirt.VIR_DOMAIN_DEFINE_VALIDATE)
        except libvirt.libvirtError as err:
            raise VirtOpsError(
                f"libvirt refused the definition of domain '{self.name}' at URI '{self.uri}': {error_text(err)}",
                **{**self.result, "changed": False}) from err

    def pending(self, domain, found: list[str]) -> bool:
        if self.request.check_mode and found:
            return call(self.name, "read whether it is active", domain.isActive)
        return call(self.name, "compare its definitions", pending_restart, domain)

    def autostart(self, domain) -> None:
        wanted = self.request.autostart
        if wanted is None:
            return
        have = bool(domain.autostart()) if domain is not None and domain.isPersistent() else None
        if have == wanted:
            return
        self.result["changed"] = True
        if not self.request.check_mode:
            call(self.name, "set its autostart flag", domain.setAutostart, int(wanted))

    def restart_if_pending(self, domain) -> None:
        self.result["restarted"] = False
        if self.request.restart != "if_pending" or not self.result["pending_restart"]:
            return
        self.result["changed"] = self.result["restarted"] = True
        if self.request.check_mode:
            return
        for state in ("shutdown", "running"):
            PowerRunner(self.conn, domain, PowerRequest(state=state, timeout=self.request.restart_timeout)).run()
        self.result["pending_restart"] = call(self.name, "compare its definitions", pending_restart, domain)

    # -- absent --------------------------------------------------------------------
    def absent(self, domain) -> None:
        if domain is None:
            return
        self.result["uuid"] = domain.UUIDString()
        active = call(self.name, "read whether it is active", domain.isActive)
        if active and not self.request.force:
            raise VirtOpsError(
                f"Domain '{self.name}' is running, so it is not undefined. Shut it down first "
                "(virtops.libvirt.virt_power state=shutdown) or set force=true to power it off.", **self.result)
        volumes = self.managed_volumes(domain) if self.request.remove_storage else []
        persistent = call(self.name, "read whether it is persistent", domain.isPersistent)
        flags = call(self.name, "read what it holds", self.undefine_flags, domain) if persistent else {}
        self.result.update(changed=True, removed_volumes=[path for path, _volume in volumes], undefine_flags=sorted(flags))
        if self.request.check_mode:
            return
        if active:
            call(self.name, "power it off", domain.destroy)
        if persistent:
            call(self.name, "undefine it", domain.undefineFlags, sum(flags.values()))
        for path, volume in volumes:
            call(self.name, f"delete its storage volume {path}", volume.delete, 0)

    def undefine_flags(self, domain) -> dict[str, int]:
        """The undefine flags this domain needs, by name: what must go to undefine
        it, and an explicit keep (or remove, when asked) for NVRAM and TPM state."""
        root = dxml.parse_domain(persistent_xml(domain), "libvirt's definition")
        flags = {}
        if domain.hasManagedSaveImage(0):
            flags["managed_save"] = libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE
        if _count(domain.snapshotNum):
            flags["snapshots_metadata"] = libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
        if _count(domain.listAllCheckpoints):
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
        root = dxml.parse_domain(persistent_xml(domain), "libvirt's definition")
        volumes = []
        for source in root.iterfind("devices/disk/source"):
            volume = self._volume(source)
            if volume is not None:
                volumes.append((volume.path(), volume))
        return volumes

    def _volume(self, source):
        try:
            if source.get("pool") and source.get("volume"):
                return self.conn.storagePoolLookupByName(source.get("pool")).storageVolLookupByName(source.get("volume"))
            path = source.get("file") or source.get("dev")
            return self.conn.storageVolLookupByPath(path) if path else None
        except libvirt.libvirtError:
            return None  # not a volume libvirt manages: never touched


def _count(method) -> int:
    """How many snapshots/checkpoints a domain has; 0 where the driver has none."""
    try:
        return len(method(0)) if method.__name__.startswith("list") else method(0)
    except libvirt.libvirtError:
        return 0
