# Copyright: (c) 2026, virtops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A domain's IP addresses, shared by virt_power (wait_for, the addresses it returns)
and the inventory (libvirt_ips, libvirt_addresses, ansible_host).

- ``read_addresses()`` asks the sources of ``ip_sources`` in order (one call each);
  the first that knows a usable address gives the addresses.
- ``usable()`` turns libvirt's answer into Address records: without loopback and
  link-local addresses, IPv4 first, each family in interface order.
- ``nics()`` reads which libvirt network or bridge each NIC (by MAC) is on, from the
  domain XML; ``on_networks()`` names each address's network with it.
- ``host_networks()`` checks the entries of a network choice (network or bridge
  names, CIDRs) and ``pick()`` is the one rule for the address a host is reached
  at: the inventory's ``ansible_host`` and virt_power's ``ip``.

Nothing here changes a domain.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from ansible_collections.virtops.libvirt.plugins.module_utils._core import xml as dxml
from ansible_collections.virtops.libvirt.plugins.module_utils._core.client import Connection, libvirt
from ansible_collections.virtops.libvirt.plugins.module_utils._core.errors import LibvirtCallError, VirtOpsError

IP_SOURCES = ("lease", "agent", "arp")
_SOURCE_FLAGS = {
    "lease": "VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_LEASE",
    "agent": "VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_AGENT",
    "arp": "VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_ARP",
}


@dataclass(frozen=True)
class Nic:
    """One ``<interface>`` of the domain XML: its MAC and what it is plugged into."""

    mac: str
    network: str | None = None  # a libvirt network (type='network')
    bridge: str | None = None  # the host bridge (type='bridge', or a network's bridge in the live XML)

    @property
    def label(self) -> str | None:
        return self.network or self.bridge


@dataclass(frozen=True)
class Address:
    """One usable address of a domain, as the modules and the inventory return it."""

    interface: str
    mac: str | None
    family: str  # ipv4 or ipv6
    address: str
    prefix: int | None
    source: str
    network: str | None = None  # the libvirt network of its NIC, else the NIC's bridge, when known
    bridge: str | None = None  # the host bridge of its NIC, when known

    def as_dict(self) -> dict[str, Any]:
        return {
            "interface": self.interface,
            "mac": self.mac,
            "network": self.network,
            "bridge": self.bridge,
            "family": self.family,
            "address": self.address,
            "prefix": self.prefix,
            "source": self.source,
        }


@dataclass(frozen=True)
class SourceFailure:
    """A source that could not answer for a domain, in libvirt's words."""

    source: str
    error: LibvirtCallError


def read_addresses(
    conn: Connection, domain: Any, name: str, sources: Iterable[str], skip: Iterable[str] = (), stale: dict[tuple[str, str], int] | None = None
) -> tuple[list[Address], list[SourceFailure]]:
    """The usable addresses of the first source in ``sources`` that knows any (none
    from ``skip``), and the sources that failed on the way. Only for an active domain;
    ``agent`` answers for a running one only.

    A DHCP server keeps the lease of a guest's earlier life (a VM made again with the
    same MAC) until it expires, next to the new one: of several leases of one NIC only
    the newest counts. With ``stale`` (lease_expiries() read before the guest started),
    a lease still exactly as it was then does not count at all."""
    failures: list[SourceFailure] = []
    for source in sources:
        if source in skip:
            continue
        try:
            interfaces = conn.call(f"read the addresses from source {source}", domain.interfaceAddresses, getattr(libvirt, _SOURCE_FLAGS[source]), domain=name)
        except LibvirtCallError as err:
            failures.append(SourceFailure(source, err))
            continue
        found = usable(interfaces, source)
        if found and source == "lease":
            found = _current_leases(conn, domain, name, found, stale)
        if found:
            return found, failures
    return [], failures


def lease_expiries(conn: Connection, domain: Any, name: str) -> dict[tuple[str, str], int]:
    """The expiry time of each DHCP lease of the domain's NICs on libvirt networks,
    by (MAC, address): one call per network (none for a network that cannot tell)."""
    expiries: dict[tuple[str, str], int] = {}
    known = read_nics(conn, domain, name)
    macs = {nic.mac for nic in known}
    for network_name in sorted({nic.network for nic in known if nic.network}):
        try:
            network = conn.call(f"look up network {network_name!r}", conn.raw.networkLookupByName, network_name, domain=name)
            leases = conn.call(f"read the DHCP leases of network {network_name!r}", network.DHCPLeases, None, 0, domain=name) or []
        except LibvirtCallError:
            continue  # a network gone or a driver without leases: nothing to tell leases apart by
        for lease in leases:
            mac = str(lease.get("mac") or "").lower()
            if mac in macs:
                expiries[(mac, str(lease.get("ipaddr")))] = int(lease.get("expirytime") or 0)
    return expiries


def _current_leases(conn: Connection, domain: Any, name: str, found: list[Address], stale: dict[tuple[str, str], int] | None) -> list[Address]:
    several = len({(address.mac, address.family) for address in found}) < len(found)
    if stale is None and not several:
        return found  # the usual case costs nothing more
    return current_leases(found, lease_expiries(conn, domain, name), stale)


def current_leases(found: list[Address], expiries: dict[tuple[str, str], int], stale: dict[tuple[str, str], int] | None = None) -> list[Address]:
    """Of the lease addresses ``found``, those that are not ``stale`` (unchanged since
    then) and, of several of one NIC and family, the one that expires last."""
    if stale is not None:
        found = [address for address in found if _expiry(expiries, address) != stale.get((address.mac or "", address.address))]
    newest: dict[tuple[str | None, str], Address] = {}
    for address in found:
        key = (address.mac, address.family)
        if key not in newest or _expiry(expiries, address) > _expiry(expiries, newest[key]):
            newest[key] = address
    return [address for address in found if newest[(address.mac, address.family)] is address]


def _expiry(expiries: dict[tuple[str, str], int], address: Address) -> int:
    return expiries.get((address.mac or "", address.address), 0)


def usable(interfaces: dict[str, Any] | None, source: str) -> list[Address]:
    """The addresses of an interfaceAddresses() answer, IPv4 before IPv6, each in
    interface order, without loopback and link-local ones, each address once."""
    found: dict[int, list[Address]] = {4: [], 6: []}
    seen: set[str] = set()
    for interface, details in (interfaces or {}).items():
        mac = (details or {}).get("hwaddr")
        for entry in (details or {}).get("addrs") or []:
            try:
                address = ipaddress.ip_address(str(entry.get("addr", "")).partition("%")[0])  # fe80::1%eth0
            except ValueError:
                continue
            text = str(address)
            if address.is_loopback or address.is_link_local or text in seen:
                continue
            seen.add(text)
            prefix = entry.get("prefix")
            found[address.version].append(
                Address(str(interface), str(mac).lower() if mac else None, f"ipv{address.version}", text, prefix if isinstance(prefix, int) else None, source)
            )
    return found[4] + found[6]


def nics(xml_text: str, source: str = "the domain XML") -> list[Nic]:
    """The NICs of a domain XML in their order; VirtOpsError when it cannot be parsed safely."""
    root = dxml.parse(xml_text, source, "domain")
    found = []
    for interface in root.iterfind("devices/interface"):
        mac = interface.find("mac")
        if mac is None or not mac.get("address"):
            continue
        origin = interface.find("source")
        network = origin.get("network") if origin is not None and interface.get("type") == "network" else None
        bridge = origin.get("bridge") if origin is not None else None
        found.append(Nic(mac.get("address").lower(), network or None, bridge or None))
    return found


def read_nics(conn: Connection, domain: Any, name: str) -> list[Nic]:
    """The NICs of the domain's live definition (one call)."""
    return nics(conn.call("read its definition", domain.XMLDesc, 0, domain=name), f"the definition of domain '{name}'")


def on_networks(addresses: Sequence[Address], known: Sequence[Nic]) -> list[Address]:
    """The addresses with the network (or bridge) of their NIC, matched by MAC, IPv4
    first, then in the order of the domain's NICs (as listed before for a NIC not found)."""
    index = {nic.mac: position for position, nic in enumerate(known)}
    labelled = [
        replace(address, network=known[index[address.mac]].label, bridge=known[index[address.mac]].bridge) if address.mac in index else address
        for address in addresses
    ]
    return sorted(labelled, key=lambda address: (address.family != "ipv4", index.get(address.mac or "", len(known))))


@dataclass(frozen=True)
class HostNetwork:
    """One entry of a network choice: a libvirt network or bridge name, or a CIDR."""

    text: str
    cidr: ipaddress.IPv4Network | ipaddress.IPv6Network | None = None

    def holds(self, address: Address) -> bool:
        if self.cidr is not None:
            return ipaddress.ip_address(address.address) in self.cidr
        return self.text in (address.network, address.bridge)

    @property
    def needs_nics(self) -> bool:
        """Whether matching it needs the NICs of the domain XML (a name does, a CIDR does not)."""
        return self.cidr is None


def host_networks(entries: Iterable[Any], option: str) -> tuple[HostNetwork, ...]:
    """The entries of a network choice, checked; VirtOpsError naming a bad one."""
    checked = []
    for position, entry in enumerate(entries, 1):
        where = f"Entry {position} of option {option}"
        if not isinstance(entry, str) or not entry.strip():
            raise VirtOpsError(f"{where} is {entry!r}: give a libvirt network name, a bridge name or a CIDR such as 192.168.122.0/24.")
        text = entry.strip()
        if "/" in text:
            try:
                checked.append(HostNetwork(text, ipaddress.ip_network(text)))
            except ValueError as err:
                raise VirtOpsError(f"{where}, {text!r}, is not a valid CIDR ({err}); for example 192.168.122.0/24 or fd00::/64.") from None
            continue
        try:
            ipaddress.ip_address(text)
        except ValueError:
            checked.append(HostNetwork(text))
            continue
        raise VirtOpsError(f"{where}, {text!r}, is an address, not a network: give a CIDR ({text}/{32 if '.' in text else 128} for that address alone).")
    return tuple(checked)


def pick(addresses: Sequence[Address], networks: Sequence[HostNetwork] = ()) -> Address | None:
    """The address a host is reached at: the first of ``addresses`` (IPv4 first, then
    NIC order), or with ``networks``, the first on the first entry that holds one."""
    if not networks:
        return addresses[0] if addresses else None
    for network in networks:
        for address in addresses:
            if network.holds(address):
                return address
    return None
