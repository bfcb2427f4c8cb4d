# Copyright: (c) 2026, virtops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the libvirt inventory reads from one hypervisor, and how many libvirt
calls that takes.

The core facts cost a constant number of calls whatever the number of domains:
one statistics call (state, reason, vCPUs, memory, and the domain objects, whose
name, UUID and ID are then read locally) and three filtered listings (persistent,
autostart, managed save). Per-domain calls are made only for what the statistics
lack or the user asks for (tags, IP addresses of active domains), in a bounded
thread pool. Nothing here ever changes anything on the hypervisor.
"""

from __future__ import annotations

import ipaddress
import re
import threading
from collections import Counter
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any, Callable

from ansible_collections.virtops.libvirt.plugins.module_utils import _domain_xml as dxml
from ansible_collections.virtops.libvirt.plugins.module_utils._domain_state import status_from_codes
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import VirtOpsError
from ansible_collections.virtops.libvirt.plugins.module_utils._libvirt_connection import (
    error_text,
    is_no_domain,
    libvirt,
)
from ansible_collections.virtops.libvirt.plugins.module_utils._threads import in_threads

IP_SOURCES = ("lease", "agent", "arp")
_SOURCE_FLAGS = {
    "lease": "VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_LEASE",
    "agent": "VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_AGENT",
    "arp": "VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_ARP",
}
# One listing per yes/no question, answered for every domain at once.
# Each listing returns the (usually few) domains the flag is true of: transient
# rather than persistent domains, so a large fleet of defined domains costs little.
_FLAG_LISTINGS = {
    "transient": "VIR_CONNECT_LIST_DOMAINS_TRANSIENT",
    "autostart": "VIR_CONNECT_LIST_DOMAINS_AUTOSTART",
    "managed_save": "VIR_CONNECT_LIST_DOMAINS_MANAGEDSAVE",
}
_INACTIVE = ("shutoff", "saved")
_SHUTOFF_CODE = 5  # VIR_DOMAIN_SHUTOFF
_STATS_KEYS = {"state.state", "vcpu.current", "balloon.maximum"}
_DECLARATIONS = re.compile(r"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


@dataclass(frozen=True)
class ReadRequest:
    """What to read, from the inventory plugin's options."""

    include_names: tuple[str, ...] = ()
    exclude_names: tuple[str, ...] = ()
    states: tuple[str, ...] = ()
    read_tags: bool = False
    ip_sources: tuple[str, ...] = ("lease",)
    max_workers: int = 8

    def wants_name(self, name: str) -> bool:
        """Whether the name passes include_names and exclude_names (fnmatch globs, case-sensitive)."""
        if self.include_names and not any(fnmatchcase(name, pattern) for pattern in self.include_names):
            return False
        return not any(fnmatchcase(name, pattern) for pattern in self.exclude_names)

    @property
    def needs_write_access(self) -> bool:
        """libvirt answers guest-agent queries on read-write connections only."""
        return "agent" in self.ip_sources


class CallCounter:
    """Counts libvirt calls by function name (each one can be a round trip to the
    daemon); thread-safe. Local getters (name, UUIDString, ID) are not calls."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()

    def __call__(self, func: Callable, *args):
        with self._lock:
            self.counts[func.__name__] += 1
        return func(*args)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


class _Vanished(Exception):
    """The domain was undefined or stopped (transient) while it was being read."""


def _stats_request() -> tuple[int, int]:
    """State, vCPUs and memory, without waiting for a domain that is busy: a hung
    domain cannot stall the inventory."""
    return (libvirt.VIR_DOMAIN_STATS_STATE | libvirt.VIR_DOMAIN_STATS_VCPU | libvirt.VIR_DOMAIN_STATS_BALLOON,
            libvirt.VIR_CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT)


def read_hypervisor(uri: str, request: ReadRequest, log: Callable[[str], None]) -> tuple[dict[str, Any], CallCounter]:
    """Connect to ``uri``, read its domains and disconnect; raise VirtOpsError
    naming the URI when it cannot be reached or refuses a bulk call."""
    calls = CallCounter()
    return read_connection(connect(uri, request, calls), uri, request, calls, log), calls


def connect(uri: str, request: ReadRequest, calls: CallCounter):
    """A connection to ``uri`` (read-only unless the request needs more); VirtOpsError
    naming the URI when it cannot be made."""
    opener = libvirt.open if request.needs_write_access else libvirt.openReadOnly
    try:
        return calls(opener, uri)
    except libvirt.libvirtError as err:
        raise VirtOpsError(f"Cannot connect to libvirt at URI '{uri}': {error_text(err)}. Check the URI "
                           "(option uris) and that the libvirt daemon is running and reachable by this user.",
                           uri=uri) from err


def read_connection(conn, uri: str, request: ReadRequest, calls: CallCounter, log: Callable[[str], None]) -> dict[str, Any]:
    """Read the domains of an open connection, then close it (whatever happens)."""
    try:
        return HypervisorReader(conn, uri, request, calls, log).read()
    finally:
        close(conn, uri, calls, log)


def close(conn, uri: str, calls: CallCounter, log: Callable[[str], None]) -> None:
    try:
        calls(conn.close)
    except libvirt.libvirtError as err:  # what was read is read: say it, quietly
        log(f"{uri}: closing the connection failed: {error_text(err)}")


class HypervisorReader:
    """Reads the domains of one connection as JSON-ready data (what the
    inventory cache stores): ``names``, every domain name before any filter, and
    ``domains``, the facts of each domain the filters keep."""

    def __init__(self, conn, uri: str, request: ReadRequest, calls: CallCounter, log: Callable[[str], None]) -> None:
        self.conn = conn
        self.uri = uri
        self.request = request
        self.calls = calls
        self.log = log
        self._lock = threading.Lock()
        self._failures: dict[str, list[str]] = {}
        self._unsupported: set[str] = set()
        self._statuses: dict[tuple[int, int, bool], Any] = {}

    def read(self) -> dict[str, Any]:
        records = [(domain.name(), domain, values) for domain, values in self._records()]
        flags = {key: self._uuids(getattr(libvirt, flag)) for key, flag in _FLAG_LISTINGS.items()}
        names = sorted(name for name, _domain, _values in records)
        if self.request.include_names or self.request.exclude_names:
            records = [record for record in records if self.request.wants_name(record[0])]
        # Only domains that need calls of their own may go to threads; the others are
        # described first (a helper whose call returned would wait for the GIL while
        # this thread describes them).
        calling, described = [], []
        for record in records:
            if self._needs_calls(record[2]):
                calling.append(record)
            else:
                described.append(self._describe(*record, flags))
        # Guest-agent calls wait on guests, each maybe for long: those start in parallel.
        described += in_threads(lambda record: self._describe(*record, flags), calling, self.request.max_workers,
                                eager="agent" in self.request.ip_sources)
        self._log_failures()
        domains = sorted((entry for entry in described if entry is not None), key=lambda entry: entry["name"])
        return {"names": names, "domains": domains}

    def _needs_calls(self, values: dict[str, Any]) -> bool:
        """Whether describing a domain takes libvirt calls beyond the bulk reads."""
        if self.request.read_tags or not values.keys() >= _STATS_KEYS:
            return True
        return bool(self.request.ip_sources) and values["state.state"] != _SHUTOFF_CODE

    # -- bulk reads: a constant number, whatever the number of domains ----------------
    def _records(self) -> list[tuple[Any, dict[str, Any]]]:
        try:
            return self.calls(self.conn.getAllDomainStats, *_stats_request())
        except libvirt.libvirtError as err:
            if err.get_error_code() != libvirt.VIR_ERR_NO_SUPPORT:
                raise self._bulk_error(err) from err
        self.log(f"{self.uri}: no bulk domain statistics in this driver; asking each domain for its state and size")
        return [(domain, {}) for domain in self._bulk(self.conn.listAllDomains, 0)]

    def _uuids(self, flag: int) -> set[str]:
        return {domain.UUIDString() for domain in self._bulk(self.conn.listAllDomains, flag)}

    def _bulk(self, func, *args):
        try:
            return self.calls(func, *args)
        except libvirt.libvirtError as err:
            raise self._bulk_error(err) from err

    def _bulk_error(self, err) -> VirtOpsError:
        return VirtOpsError(f"Cannot list the domains at URI '{self.uri}': {error_text(err)}", uri=self.uri)

    # -- one domain: only what the statistics lack or the user asks for --------------------
    def _describe(self, name: str, domain, values: dict[str, Any], flags: dict[str, set[str]]) -> dict[str, Any] | None:
        uuid = domain.UUIDString()
        try:
            status = self._status(domain, values, uuid in flags["managed_save"])
            if status is None or (self.request.states and status.state not in self.request.states):
                return None
            state = status.state
            active = state not in _INACTIVE
            persistent = uuid not in flags["transient"]
            if "vcpu.current" in values and "balloon.maximum" in values:
                vcpus, memory_kib = values["vcpu.current"], values["balloon.maximum"]
            else:
                vcpus, memory_kib = self._size(domain)
            domain_id = domain.ID() if active else -1
            entry: dict[str, Any] = {
                "name": name,
                "uuid": uuid,
                "id": domain_id if domain_id >= 0 else None,
                "state": state,
                "state_reason": status.reason,
                "persistent": persistent,
                "autostart": uuid in flags["autostart"],
                "vcpus": vcpus,
                "memory_mib": None if memory_kib is None else memory_kib // 1024,
                "ips": self._addresses(domain, state) if active else [],
            }
            if self.request.read_tags:
                entry["tags"] = self._tags(domain, persistent)
            return entry
        except _Vanished:
            return None

    def _status(self, domain, values: dict[str, Any], managed_save: bool):
        if "state.state" in values:
            codes = (values["state.state"], values.get("state.reason", 0), managed_save)
            if codes not in self._statuses:  # a fleet has few distinct states: name each once
                self._statuses[codes] = status_from_codes(*codes)
            return self._statuses[codes]
        state = self._ask(domain, "read the state", domain.state)
        return None if state is None else status_from_codes(state[0], state[1], managed_save)

    def _size(self, domain) -> tuple[int | None, int | None]:
        """vCPUs and memory (KiB) from one info() call, where the driver's statistics
        lack them (libvirt's test driver; QEMU has them)."""
        info = self._ask(domain, "read the vCPUs and memory", domain.info)
        return (None, None) if info is None else (int(info[3]), int(info[1]))

    def _tags(self, domain, persistent: bool) -> list[str]:
        """The tags of the persistent definition (the live one of a transient domain),
        as virt_domain_info reports them: one small metadata read, not the whole XML."""
        scope = libvirt.VIR_DOMAIN_AFFECT_CONFIG if persistent else libvirt.VIR_DOMAIN_AFFECT_CURRENT
        try:
            text = self.calls(domain.metadata, libvirt.VIR_DOMAIN_METADATA_ELEMENT, dxml.VIRTOPS_NS, scope)
        except libvirt.libvirtError as err:
            if err.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN_METADATA:
                return []
            self._failed(domain, "read the tags", err)
            return []
        try:
            return tags_from_metadata(text)
        except ValueError as err:
            self._note("read the tags", f"'{domain.name()}': {err}")
            return []

    def _addresses(self, domain, state: str) -> list[str]:
        """The addresses of the first source in ip_sources that knows any."""
        for source in self.request.ip_sources:
            if source in self._unsupported or (source == "agent" and state != "running"):
                continue
            try:
                interfaces = self.calls(domain.interfaceAddresses, getattr(libvirt, _SOURCE_FLAGS[source]))
            except libvirt.libvirtError as err:
                if err.get_error_code() == libvirt.VIR_ERR_NO_SUPPORT:
                    self._unsupported.add(source)  # the whole hypervisor lacks it: stop asking
                self._failed(domain, f"read the addresses from source {source}", err)
                continue
            found = usable_addresses(interfaces)
            if found:
                return found
        return []

    # -- errors: a domain that vanished is left out; any other failure is summed up quietly
    def _ask(self, domain, what: str, func, *args):
        try:
            return self.calls(func, *args)
        except libvirt.libvirtError as err:
            self._failed(domain, what, err)
            return None

    def _failed(self, domain, what: str, err) -> None:
        if is_no_domain(err):
            raise _Vanished() from err
        self._note(what, f"'{domain.name()}': {error_text(err)}")

    def _note(self, what: str, detail: str) -> None:
        with self._lock:
            self._failures.setdefault(what, []).append(detail)

    def _log_failures(self) -> None:
        for what, details in sorted(self._failures.items()):
            self.log(f"{self.uri}: could not {what} of {len(details)} domain(s), first {details[0]}")


def tags_from_metadata(text: str) -> list[str]:
    """The tags in the element libvirt returns for the collection's metadata
    namespace (``<tags><tag>web</tag></tags>``): stripped, empty ones left out."""
    if dxml.etree is None:
        raise ValueError("lxml is not installed")
    if _DECLARATIONS.search(text):
        raise ValueError("the metadata declares a DTD or entities")
    parser = dxml.etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    try:
        root = dxml.etree.fromstring(text.encode("utf-8"), parser)
    except dxml.etree.XMLSyntaxError as err:
        raise ValueError(f"the metadata is not well-formed: {err}") from err
    return [element.text.strip() for element in root.iterfind("{*}tag") if element.text and element.text.strip()]


def usable_addresses(interfaces: dict[str, Any] | None) -> list[str]:
    """Addresses from interfaceAddresses(), IPv4 before IPv6, each in interface
    order, without loopback and link-local ones."""
    found: dict[int, list[str]] = {4: [], 6: []}
    for interface in (interfaces or {}).values():
        for entry in (interface or {}).get("addrs") or []:
            try:
                address = ipaddress.ip_address(str(entry.get("addr", "")).partition("%")[0])  # fe80::1%eth0
            except ValueError:
                continue
            text = str(address)
            if not (address.is_loopback or address.is_link_local) and text not in found[address.version]:
                found[address.version].append(text)
    return found[4] + found[6]
