# Copyright: (c) 2026, virtops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""virt_domain_info's one read: which domains there are and what libvirt says
about each, in a few bulk calls (one statistics call, three filtered listings)
plus one XML read per domain reported. Nothing here ever changes a domain."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.virtops.libvirt.plugins.module_utils import _domain_xml as dxml
from ansible_collections.virtops.libvirt.plugins.module_utils._domain_definition import (
    pending_restart,
    persistent_xml,
)
from ansible_collections.virtops.libvirt.plugins.module_utils._domain_state import (
    OBSERVED_STATES,
    status_from_codes,
)
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import DomainVanishedError, VirtOpsError
from ansible_collections.virtops.libvirt.plugins.module_utils._libvirt_connection import (
    URI_ARGUMENT_SPEC,
    error_text,
    is_no_domain,
    libvirt,
    lookup_domain,
    open_connection,
    require_libvirt,
)

ARGUMENT_SPEC: dict[str, Any] = {
    **URI_ARGUMENT_SPEC,
    "name": {"type": "str"},
    "state": {"type": "list", "elements": "str", "choices": list(OBSERVED_STATES)},
    "definition": {"type": "bool", "default": False},
}

# The collection's state names in virsh's words ("saved" is a shut-off domain to virsh).
STATE_TEXT = {
    "running": "running",
    "paused": "paused",
    "in_shutdown": "in shutdown",
    "shutoff": "shut off",
    "saved": "shut off",
    "crashed": "crashed",
    "pmsuspended": "pmsuspended",
}

TAG_PATH = f"metadata/{{{dxml.VIRTOPS_NS}}}tags/{{{dxml.VIRTOPS_NS}}}tag"

# One listing per yes/no question, answered for every domain at once.
_FLAG_LISTINGS = {
    "persistent": "VIR_CONNECT_LIST_DOMAINS_PERSISTENT",
    "autostart": "VIR_CONNECT_LIST_DOMAINS_AUTOSTART",
    "managed_save": "VIR_CONNECT_LIST_DOMAINS_MANAGEDSAVE",
}


def _stats_request() -> tuple[int, int]:
    """State, vCPUs and memory, without waiting for a domain that is busy (the vCPU
    count and memory size come from the definition, so they are always there where
    the driver reports them)."""
    return (libvirt.VIR_DOMAIN_STATS_STATE | libvirt.VIR_DOMAIN_STATS_VCPU | libvirt.VIR_DOMAIN_STATS_BALLOON,
            libvirt.VIR_CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT)


@dataclass(frozen=True)
class InfoRequest:
    """virt_domain_info's options."""

    name: str | None = None
    states: tuple[str, ...] = ()
    definition: bool = False


class DomainLister:
    """Reads the domains of one connection as RV(domains) reports them."""

    def __init__(self, conn, uri: str, request: InfoRequest) -> None:
        self.conn = conn
        self.uri = uri
        self.request = request

    def run(self) -> list[dict[str, Any]]:
        stats = self.stats()
        flags = {key: self.uuids(getattr(libvirt, flag)) for key, flag in _FLAG_LISTINGS.items()}
        found = []
        vanished = False
        for domain, values in stats:
            try:
                entry = self.describe(domain, values, flags)
            except DomainVanishedError:
                vanished = True  # gone since the listing: it is simply not there any more
                continue
            if entry is not None:
                found.append(entry)
        if self.request.name is not None and (vanished or not stats):
            lookup_domain(self.conn, self.uri, self.request.name)  # the domain asked for is gone: say so
        return sorted(found, key=lambda entry: entry["name"])

    # -- bulk reads -------------------------------------------------------------------
    def stats(self) -> list[tuple[Any, dict[str, Any]]]:
        """(domain, statistics) for every domain, or for the one named (none when it vanished)."""
        if self.request.name is None:
            return self._bulk("list the domains", self.conn.getAllDomainStats, *_stats_request())
        domain = lookup_domain(self.conn, self.uri, self.request.name)
        return self._bulk(f"read the state of domain '{self.request.name}'",
                          self.conn.domainListGetStats, [domain], *_stats_request())

    def uuids(self, flag: int) -> set[str]:
        domains = self._bulk("list the domains", self.conn.listAllDomains, flag)
        return {domain.UUIDString() for domain in domains}

    def _bulk(self, what: str, func, *args):
        try:
            return func(*args)
        except libvirt.libvirtError as err:
            raise VirtOpsError(f"Cannot {what} at URI '{self.uri}': {error_text(err)}", uri=self.uri) from err

    # -- one domain ---------------------------------------------------------------------
    def describe(self, domain, values: dict[str, Any], flags: dict[str, set[str]]) -> dict[str, Any] | None:
        """The domain's entry, or None when the state filter leaves it out."""
        uuid = domain.UUIDString()
        status = status_from_codes(values.get("state.state", 0), values.get("state.reason", 0),
                                   uuid in flags["managed_save"])
        if self.request.states and status.state not in self.request.states:
            return None
        name = domain.name()
        active = status.state not in ("shutoff", "saved")
        persistent = uuid in flags["persistent"]
        domain_id = domain.ID()
        vcpus, memory_kib = self.size(domain, name, values)
        root = dxml.parse_domain(self.read(name, "read its definition", persistent_xml, domain),
                                 f"libvirt's definition of domain '{name}'")
        entry = {
            "name": name,
            "uuid": uuid,
            "id": domain_id if active and domain_id >= 0 else None,
            "state": status.state,
            "reason": status.reason,
            "state_text": f"{STATE_TEXT[status.state]} ({status.reason})",
            "persistent": persistent,
            "autostart": uuid in flags["autostart"],
            "vcpus": vcpus,
            "memory_mib": memory_kib // 1024,
            "managed_save": uuid in flags["managed_save"],
            "pending_restart": bool(active and persistent
                                    and self.read(name, "compare its definitions", pending_restart, domain)),
            "tags": tags(root),
        }
        if self.request.definition:
            entry["definition"] = dxml.to_text(root)
        return entry

    def size(self, domain, name: str, values: dict[str, Any]) -> tuple[int, int]:
        """vCPUs and memory (KiB) from the statistics, or from one info() call
        where the driver's statistics lack them."""
        if "vcpu.current" in values and "balloon.maximum" in values:
            return int(values["vcpu.current"]), int(values["balloon.maximum"])
        info = self.read(name, "read its vCPUs and memory", domain.info)
        return int(info[3]), int(info[1])

    def read(self, name: str, what: str, func, *args):
        try:
            return func(*args)
        except libvirt.libvirtError as err:
            if is_no_domain(err):
                raise DomainVanishedError(f"Domain '{name}' vanished while trying to {what}.") from err
            raise VirtOpsError(f"Domain '{name}' at URI '{self.uri}': cannot {what}: {error_text(err)}",
                               uri=self.uri) from err


def tags(root) -> list[str]:
    """The domain's tags: <virtops:tag> elements of <virtops:tags> in its <metadata>."""
    return [element.text.strip() for element in root.iterfind(TAG_PATH) if element.text and element.text.strip()]


def run(module) -> None:
    """Run virt_domain_info for the module's parameters; never returns."""
    require_libvirt(module)
    if dxml.etree is None:
        module.fail_json(msg=missing_required_lib("lxml"), exception=dxml.LXML_IMPORT_ERROR)
    params = module.params
    request = InfoRequest(name=params["name"], states=tuple(params["state"] or ()), definition=params["definition"])
    try:
        conn = open_connection(params["uri"])
        try:
            domains = DomainLister(conn, params["uri"], request).run()
        finally:
            conn.close()
    except VirtOpsError as err:
        module.fail_json(msg=err.msg, changed=False, **err.result)
    module.exit_json(changed=False, domains=domains)
