# Copyright: (c) 2026, virtops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""virt_domain_info: the shared facts of each domain (see facts.py) plus one
definition read per domain reported, for its tags and, when asked, the
definition itself. Nothing here ever changes a domain."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ansible_collections.virtops.libvirt.plugins.module_utils._core import xml as dxml
from ansible_collections.virtops.libvirt.plugins.module_utils._core.client import Connection
from ansible_collections.virtops.libvirt.plugins.module_utils._core.errors import DomainVanishedError
from ansible_collections.virtops.libvirt.plugins.module_utils._core.module import (
    CONNECTION_ARGUMENT_SPEC,
    check_name,
    run_module,
)
from ansible_collections.virtops.libvirt.plugins.module_utils._core.states import OBSERVED_STATES
from ansible_collections.virtops.libvirt.plugins.module_utils._definition.live import (
    pending_restart,
    persistent_xml,
)
from ansible_collections.virtops.libvirt.plugins.module_utils._info.facts import FactsReader, Record
from ansible_collections.virtops.libvirt.plugins.module_utils._snapshot.read import summary as snapshot_summary

ARGUMENT_SPEC: dict[str, Any] = {
    **CONNECTION_ARGUMENT_SPEC,
    "name": {"type": "str"},
    "state": {"type": "list", "elements": "str", "choices": list(OBSERVED_STATES)},
    "definition": {"type": "bool", "default": False},
    "snapshots": {"type": "bool", "default": False},
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


@dataclass(frozen=True)
class InfoRequest:
    """virt_domain_info's options."""

    name: str | None = None
    states: tuple[str, ...] = ()
    definition: bool = False
    snapshots: bool = False


class DomainLister:
    """Reads the domains of one connection as RV(domains) reports them."""

    def __init__(self, conn: Connection, request: InfoRequest) -> None:
        self.conn = conn
        self.request = request
        self.reader = FactsReader(conn)

    def run(self) -> list[dict[str, Any]]:
        wanted = None if self.request.name is None else [self.conn.lookup(self.request.name)]
        found = []
        vanished = False
        for record in self.reader.records(wanted):
            try:
                entry = self.describe(record)
            except DomainVanishedError:
                vanished = True  # gone since the listing: it is simply not there any more
                continue
            if entry is not None:
                found.append(entry)
        if self.request.name is not None and (vanished or not found) and not self.request.states:
            self.conn.lookup(self.request.name)  # the domain asked for is gone: say so
        return sorted(found, key=lambda entry: entry["name"])

    def describe(self, record: Record) -> dict[str, Any] | None:
        """The domain's entry, or None when the state filter leaves it out."""
        status = self.reader.status(record)
        if self.request.states and status.state not in self.request.states:
            return None
        entry = self.reader.facts(record, status)
        entry["state_text"] = f"{STATE_TEXT[status.state]} ({status.reason})"
        root = dxml.parse_domain(persistent_xml(self.conn, record.domain, record.name), f"libvirt's definition of domain '{record.name}'")
        active = status.state not in ("shutoff", "saved")
        entry["pending_restart"] = bool(active and entry["persistent"] and pending_restart(self.conn, record.domain, record.name))
        entry["tags"] = tags(root)
        if self.request.definition:
            entry["definition"] = dxml.to_text(root)
        if self.request.snapshots:
            entry["snapshots"] = snapshot_summary(self.conn, record.domain, record.name)
        return entry


def tags(root) -> list[str]:
    """The domain's tags: <virtops:tag> elements of <virtops:tags> in its <metadata>."""
    return [element.text.strip() for element in root.iterfind(TAG_PATH) if element.text and element.text.strip()]


def run(module) -> None:
    """Run virt_domain_info for the module's parameters; never returns."""
    params = module.params
    request = InfoRequest(name=params["name"], states=tuple(params["state"] or ()), definition=params["definition"], snapshots=params["snapshots"])

    def body(conn: Connection) -> dict[str, Any]:
        return {"changed": False, "domains": DomainLister(conn, request).run()}

    run_module(module, body, needs_lxml=True, check=lambda: check_name(params["name"]))
