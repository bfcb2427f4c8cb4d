# Copyright: (c) 2026, virtops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Who uses a storage volume: the one answer virt_domain's remove_storage and
virt_volume's state=absent share.

- A domain of the connection (active or not; its persistent definition and, while
  it runs, its live one) uses a volume when it names it, by path (any attribute or
  text that is an absolute path) or by pool and volume.
- A volume of an active pool uses another when that one is its backing file.

Reads only. Users on other hosts (shared storage) cannot be seen."""

from __future__ import annotations

import posixpath
from typing import Any, Protocol

from ansible_collections.virtops.libvirt.plugins.module_utils._core import xml as dxml
from ansible_collections.virtops.libvirt.plugins.module_utils._core.client import Connection, libvirt
from ansible_collections.virtops.libvirt.plugins.module_utils._core.errors import DomainVanishedError, LibvirtCallError


class VolumeRef(Protocol):
    """What names a volume: its normalised path, its pool's name and its own."""

    path: str
    pool: str
    name: str


def normal(path: str) -> str:
    return posixpath.normpath(path)


def used_by_domains(conn: Connection, volumes: list[Any], skip_uuid: str | None = None) -> dict[str, str]:
    """Why each of ``volumes`` (VolumeRef) that a domain names is in use, by volume
    path (for example ``used by domain 'web1'``); the domain ``skip_uuid`` is not asked."""
    users: dict[str, list[str]] = {}
    keys = {volume.path: {("path", volume.path), ("volume", volume.pool, volume.name)} for volume in volumes}
    active = {domain.UUIDString() for domain in conn.call("list the active domains", conn.raw.listAllDomains, libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE)}
    for other in conn.call("list the domains", conn.raw.listAllDomains, 0):
        if other.UUIDString() == skip_uuid:
            continue
        named = references(conn, other, other.UUIDString() in active)
        for volume in volumes:
            if keys[volume.path] & named and other.name() not in users.get(volume.path, []):
                users.setdefault(volume.path, []).append(other.name())
    return {path: f"used by domain{'s' if len(names) > 1 else ''} {', '.join(repr(n) for n in sorted(names))}" for path, names in users.items()}


def references(conn: Connection, domain: Any, active: bool) -> set[tuple[str, ...]]:
    """Every path (any attribute or text that is an absolute path) and every pool and
    volume pair the definitions of ``domain`` name."""
    name = domain.name()
    found: set[tuple[str, ...]] = set()
    flags = [libvirt.VIR_DOMAIN_XML_INACTIVE] + ([0] if active else [])
    for flag in flags:
        try:
            text = conn.call("read its definition", domain.XMLDesc, flag, domain=name)
        except DomainVanishedError:
            break  # gone meanwhile: it uses nothing any more
        root = dxml.parse_domain(text, f"libvirt's definition of domain '{name}'")
        for element in root.iter():
            if not isinstance(element.tag, str):
                continue
            for value in [*element.attrib.values(), (element.text or "").strip()]:
                if value.startswith("/"):
                    found.add(("path", normal(value)))
            if element.tag == "source" and element.get("pool") and element.get("volume"):
                found.add(("volume", element.get("pool"), element.get("volume")))
    return found


def backing_map(conn: Connection) -> dict[str, set[str]]:
    """For every backing file of a volume of an active pool, the paths of the volumes it backs."""
    backed_by: dict[str, set[str]] = {}
    pools = conn.call("list the active storage pools", conn.raw.listAllStoragePools, libvirt.VIR_CONNECT_LIST_STORAGE_POOLS_ACTIVE)
    for pool in pools:
        for volume in conn.call(f"list the volumes of storage pool {pool.name()!r}", pool.listAllVolumes, 0):
            try:
                text = conn.call(f"describe volume {volume.name()!r} of storage pool {pool.name()!r}", volume.XMLDesc, 0)
            except LibvirtCallError as err:
                if err.code == libvirt.VIR_ERR_NO_STORAGE_VOL:
                    continue  # deleted meanwhile
                raise
            root = dxml.parse(text, f"libvirt's description of volume {volume.name()!r}", "volume")
            path, backing = root.findtext("target/path"), root.findtext("backingStore/path")
            if path and backing:
                backing = posixpath.join(posixpath.dirname(path), backing)  # relative to the overlay
                backed_by.setdefault(normal(backing), set()).add(normal(path))
    return backed_by
