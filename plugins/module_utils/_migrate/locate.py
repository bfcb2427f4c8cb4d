# Copyright: (c) 2026, virtops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where the domain is now, and so what a migration has left to do: the one
decision behind virt_migrate's idempotency."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ansible_collections.virtops.libvirt.plugins.module_utils._core.client import Connection
from ansible_collections.virtops.libvirt.plugins.module_utils._core.errors import VirtOpsError
from ansible_collections.virtops.libvirt.plugins.module_utils._core.states import DomainStatus, read_status

# What is left to do
MIGRATE = "migrate"  # on the source only (or defined but inactive on the destination)
DONE = "done"  # on the destination, not on the source
UNDEFINE_SOURCE = "undefine_source"  # running on the destination, an old definition left on the source


class NotFoundError(VirtOpsError):
    """The domain is on neither hypervisor."""


@dataclass
class Found:
    """One hypervisor's view of the domain."""

    domain: Any
    uuid: str
    status: DomainStatus
    persistent: bool


@dataclass
class Whereabouts:
    action: str
    source: Found | None
    dest: Found | None


def host_uuid(conn: Connection) -> str:
    """The hypervisor's host UUID, from its capabilities (needs lxml)."""
    from ansible_collections.virtops.libvirt.plugins.module_utils._core import xml as core_xml

    caps = core_xml.parse(conn.call("read the host's capabilities", conn.raw.getCapabilities), f"the capabilities of '{conn.shown_uri}'")
    return (caps.findtext("host/uuid") or "").strip()


def _found(conn: Connection, name: str | None, uuid: str | None) -> Found | None:
    domain = conn.find(name, uuid)
    if domain is None:
        return None
    label = name if name is not None else str(uuid)
    return Found(
        domain=domain,
        uuid=conn.call("read its UUID", domain.UUIDString, domain=label),
        status=read_status(conn, domain, label),
        persistent=bool(conn.call("read whether it is persistent", domain.isPersistent, domain=label)),
    )


def locate(source: Connection, dest: Connection, name: str | None, uuid: str | None, undefine_source: bool = True) -> Whereabouts:
    """Find the domain on both hypervisors and decide what is left to do; VirtOpsError
    when the answer is that nobody can tell (split brain, a namesake, nowhere)."""
    label = name if name is not None else f"with UUID {uuid}"
    src = _found(source, name, uuid)
    dst = _found(dest, name, uuid)
    where = f"at '{source.shown_uri}' or '{dest.shown_uri}'"
    if src is None and dst is None:
        raise NotFoundError(f"No domain {label!s} {where}. Check the name, and the URIs (uri is the source, dest_uri the destination). Nothing was done.")
    if src is not None and dst is not None and src.uuid != dst.uuid:
        raise VirtOpsError(
            f"Domain {label} on the destination '{dest.shown_uri}' is another domain (UUID {dst.uuid}) than the one on the source "
            f"(UUID {src.uuid}). Rename or remove one of them; nothing was moved.",
            uuid=src.uuid,
        )
    if src is None:
        return Whereabouts(DONE, None, dst)
    if dst is None:
        return Whereabouts(MIGRATE, src, None)
    src_active = src.status.state != "shutoff" and src.status.state != "saved"
    dst_active = dst.status.state != "shutoff" and dst.status.state != "saved"
    if src_active and dst_active:
        raise VirtOpsError(
            f"Domain {label} (UUID {src.uuid}) runs on both '{source.shown_uri}' and '{dest.shown_uri}'. A migration may be under way, or "
            "two copies were started by hand; look with virsh domjobinfo on both and stop one copy yourself. Nothing was done.",
            uuid=src.uuid,
        )
    if src_active:
        return Whereabouts(MIGRATE, src, dst)  # an old inactive definition on the destination is replaced
    if dst_active:
        return Whereabouts(UNDEFINE_SOURCE if undefine_source else DONE, src, dst)
    if not undefine_source:
        return Whereabouts(DONE, src, dst)  # moved offline before, keeping the source's definition as asked
    raise VirtOpsError(
        f"Domain {label} (UUID {src.uuid}) is defined and shut off on both '{source.shown_uri}' and '{dest.shown_uri}': it is not "
        "clear which definition is current. Compare them (virsh dumpxml --inactive) and undefine the stale one yourself. Nothing was done.",
        uuid=src.uuid,
    )
