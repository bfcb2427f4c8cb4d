# Copyright: (c) 2026, virtops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading a domain's snapshots: what each one captured, and their order.

libvirt lists a domain's snapshots parents first (topologically); each one's XML
says when it was taken (whole seconds), the state it captured, and where its memory
and each disk went (internal, external, no). Oldest first means by creation time,
ties broken by that topological order. Nothing here ever changes a snapshot."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from ansible_collections.virtops.libvirt.plugins.module_utils._core import xml as core_xml
from ansible_collections.virtops.libvirt.plugins.module_utils._core.client import Connection, libvirt
from ansible_collections.virtops.libvirt.plugins.module_utils._core.errors import LibvirtCallError


@dataclass
class Snapshot:
    """One snapshot as libvirt describes it; ``handle`` is None for one not taken yet."""

    name: str
    handle: Any = None
    parent: str | None = None
    creation_epoch: int | None = None
    state: str | None = None
    memory: str = "no"  # where the memory went: internal, external or no
    disks: list[dict[str, str]] = field(default_factory=list)
    description: str | None = None
    current: bool = False

    @property
    def kind(self) -> str:
        """V(external) when its memory or any disk went to a file of its own, else V(internal)."""
        places = {self.memory, *(disk["snapshot"] for disk in self.disks)}
        return "external" if "external" in places else "internal"

    def as_result(self) -> dict[str, Any]:
        created = None
        if self.creation_epoch is not None:
            created = datetime.fromtimestamp(self.creation_epoch, timezone.utc).isoformat()
        return {
            "name": self.name,
            "parent": self.parent,
            "creation_time": created,
            "creation_epoch": self.creation_epoch,
            "state": self.state,
            "kind": self.kind,
            "memory": self.memory == "internal" or self.memory == "external",
            "disks": [dict(disk) for disk in self.disks],
            "description": self.description,
            "current": self.current,
        }


def parse_snapshot(text: str, handle: Any = None, current: bool = False) -> Snapshot:
    """A Snapshot from libvirt's XML of it."""
    root = core_xml.parse(text, "libvirt's description of a snapshot", "domainsnapshot")
    epoch = root.findtext("creationTime")
    memory = root.find("memory")
    return Snapshot(
        name=root.findtext("name") or "",
        handle=handle,
        parent=root.findtext("parent/name"),
        creation_epoch=int(epoch) if epoch and epoch.strip().isdigit() else None,
        state=root.findtext("state"),
        memory=memory.get("snapshot", "no") if memory is not None else "no",
        disks=[{"name": disk.get("name", ""), "snapshot": disk.get("snapshot", "no")} for disk in root.iterfind("disks/disk")],
        description=root.findtext("description"),
        current=current,
    )


def current_name(conn: Connection, domain: Any, name: str) -> str | None:
    """The name of the domain's current snapshot, or None when it has none."""
    try:
        handle = conn.call("read its current snapshot", domain.snapshotCurrent, 0, domain=name)
    except LibvirtCallError as err:
        if err.code in (libvirt.VIR_ERR_NO_DOMAIN_SNAPSHOT, libvirt.VIR_ERR_NO_SUPPORT):
            return None
        raise
    return snapshot_name(conn, handle, name)


def snapshot_name(conn: Connection, handle: Any, name: str) -> str:
    """A snapshot handle's name (read locally by libvirt-python, through the layer all the same)."""
    return conn.call("read a snapshot's name", handle.getName, domain=name)


def listed(conn: Connection, domain: Any, name: str) -> list[Any]:
    """The domain's snapshot handles, parents before their children."""
    return conn.call("list its snapshots", domain.listAllSnapshots, libvirt.VIR_DOMAIN_SNAPSHOT_LIST_TOPOLOGICAL, domain=name)


def read_all(conn: Connection, domain: Any, name: str) -> list[Snapshot]:
    """Every snapshot of the domain, oldest first: one call per snapshot, plus two."""
    current = current_name(conn, domain, name)
    found = []
    for handle in listed(conn, domain, name):
        label = snapshot_name(conn, handle, name)
        text = conn.call(f"read its snapshot {label!r}", handle.getXMLDesc, 0, domain=name)
        found.append(parse_snapshot(text, handle, label == current))
    order = {snapshot.name: index for index, snapshot in enumerate(found)}
    return sorted(found, key=lambda snapshot: (snapshot.creation_epoch or 0, order[snapshot.name]))


def summary(conn: Connection, domain: Any, name: str) -> list[dict[str, Any]]:
    """Names and the current flag of the domain's snapshots, parents first, in two calls
    (no snapshot's XML is read): what virt_domain_info reports."""
    current = current_name(conn, domain, name)
    names = [snapshot_name(conn, handle, name) for handle in listed(conn, domain, name)]
    return [{"name": label, "current": label == current} for label in names]
