# Copyright: (c) 2026, virtops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one reader of domain facts, shared by virt_domain_info and the inventory.

The core facts of every domain (state and reason, vCPUs, memory, persistence,
autostart, managed-save image, ID) cost a constant number of libvirt calls,
whatever the number of domains: one statistics call, which returns the domain
objects whose name, UUID and ID are then read locally, and three filtered
listings (transient, autostart, managed save). Only drivers whose statistics lack
the size (libvirt's test driver; QEMU has it) cost one ``info()`` call per domain.
Nothing here ever changes a domain.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ansible_collections.virtops.libvirt.plugins.module_utils._core.client import Connection, VirDomain, libvirt
from ansible_collections.virtops.libvirt.plugins.module_utils._core.errors import LibvirtCallError
from ansible_collections.virtops.libvirt.plugins.module_utils._core.states import DomainStatus, status_from_codes

INACTIVE_STATES = ("shutoff", "saved")
_SIZE_KEYS = ("vcpu.current", "balloon.maximum")
# One listing per yes/no question, answered for every domain at once. Each returns
# the (usually few) domains the flag is true of: transient rather than persistent
# domains, so a large fleet of defined domains costs little.
_FLAG_LISTINGS = {
    "transient": "VIR_CONNECT_LIST_DOMAINS_TRANSIENT",
    "autostart": "VIR_CONNECT_LIST_DOMAINS_AUTOSTART",
    "managed_save": "VIR_CONNECT_LIST_DOMAINS_MANAGEDSAVE",
}


@dataclass(frozen=True)
class Record:
    """One domain as the bulk read found it."""

    name: str
    domain: VirDomain
    values: dict[str, Any]

    @property
    def has_size(self) -> bool:
        return all(key in self.values for key in _SIZE_KEYS)

    @property
    def shut_off(self) -> bool:
        return self.values.get("state.state") == libvirt.VIR_DOMAIN_SHUTOFF


def _stats_request() -> tuple[int, int]:
    """State, vCPUs and memory, without waiting for a domain that is busy: a hung
    domain cannot stall the read."""
    return (libvirt.VIR_DOMAIN_STATS_STATE | libvirt.VIR_DOMAIN_STATS_VCPU | libvirt.VIR_DOMAIN_STATS_BALLOON, libvirt.VIR_CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT)


class FactsReader:
    """Reads the core facts of the domains of one connection."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.flags: dict[str, set[str]] = {}
        self._statuses: dict[tuple[int, int, bool], DomainStatus] = {}

    # -- bulk reads: a constant number, whatever the number of domains -------------------
    def records(self, domains: list[VirDomain] | None = None) -> list[Record]:
        """Every domain (or those given) with its statistics; reads the flag listings too."""
        if domains is None:
            try:
                found = self.conn.call("list the domains", self.conn.raw.getAllDomainStats, *_stats_request())
            except LibvirtCallError as err:
                if err.code != libvirt.VIR_ERR_NO_SUPPORT:
                    raise
                found = [(domain, {}) for domain in self.conn.call("list the domains", self.conn.raw.listAllDomains, 0)]
        else:
            found = self.conn.call("read the domains' state", self.conn.raw.domainListGetStats, domains, *_stats_request())
        self.flags = {
            key: {domain.UUIDString() for domain in self.conn.call("list the domains", self.conn.raw.listAllDomains, getattr(libvirt, flag))}
            for key, flag in _FLAG_LISTINGS.items()
        }
        return [Record(domain.name(), domain, values) for domain, values in found]

    # -- one domain: only what the statistics lack ------------------------------------------
    def status(self, record: Record) -> DomainStatus:
        managed_save = record.domain.UUIDString() in self.flags["managed_save"]
        values = record.values
        if "state.state" in values:
            codes = (values["state.state"], values.get("state.reason", 0), managed_save)
        else:
            state, reason = self.conn.call("read its state", record.domain.state, domain=record.name)
            codes = (state, reason, managed_save)
        if codes not in self._statuses:  # a fleet has few distinct states: name each once
            self._statuses[codes] = status_from_codes(*codes)
        return self._statuses[codes]

    def size(self, record: Record) -> tuple[int, int]:
        """vCPUs and memory (KiB)."""
        if record.has_size:
            return int(record.values["vcpu.current"]), int(record.values["balloon.maximum"])
        info = self.conn.call("read its vCPUs and memory", record.domain.info, domain=record.name)
        return int(info[3]), int(info[1])

    def facts(self, record: Record, status: DomainStatus) -> dict[str, Any]:
        """The core facts of one domain (raises DomainVanishedError when it is gone)."""
        uuid = record.domain.UUIDString()
        active = status.state not in INACTIVE_STATES
        domain_id = record.domain.ID() if active else -1
        vcpus, memory_kib = self.size(record)
        return {
            "name": record.name,
            "uuid": uuid,
            "id": domain_id if domain_id >= 0 else None,
            "state": status.state,
            "reason": status.reason,
            "persistent": uuid not in self.flags["transient"],
            "autostart": uuid in self.flags["autostart"],
            "managed_save": uuid in self.flags["managed_save"],
            "vcpus": vcpus,
            "memory_mib": memory_kib // 1024,
        }
