# Copyright: (c) 2026, virtops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the libvirt inventory reads from one hypervisor, and how many libvirt
calls that takes.

The core facts cost a constant number of calls whatever the number of domains:
one statistics call (state, reason, vCPUs, memory, and the domain objects, whose
name, UUID and ID are then read locally) and three filtered listings (persistent,
autostart, managed save). Per-domain calls are made only for what the statistics
lack or the user asks for (tags, IP addresses of active domains, and the NICs of
the definition when ansible_host_networks names a network or bridge), in a bounded
thread pool. Nothing here ever changes anything on the hypervisor.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any, Callable

from ansible_collections.virtops.libvirt.plugins.module_utils._core import xml as dxml
from ansible_collections.virtops.libvirt.plugins.module_utils._core.client import Connection, libvirt
from ansible_collections.virtops.libvirt.plugins.module_utils._core.errors import (
    DomainVanishedError,
    LibvirtCallError,
    VirtOpsError,
)
from ansible_collections.virtops.libvirt.plugins.module_utils._info.addresses import (
    Address,
    HostNetwork,
    on_networks,
    read_addresses,
    read_nics,
)
from ansible_collections.virtops.libvirt.plugins.module_utils._info.facts import INACTIVE_STATES, FactsReader, Record
from ansible_collections.virtops.libvirt.plugins.plugin_utils._threads import in_threads


@dataclass(frozen=True)
class ReadRequest:
    """What to read, from the inventory plugin's options."""

    include_names: tuple[str, ...] = ()
    exclude_names: tuple[str, ...] = ()
    states: tuple[str, ...] = ()
    read_tags: bool = False
    ip_sources: tuple[str, ...] = ("lease",)
    host_networks: tuple[HostNetwork, ...] = ()
    max_workers: int = 8

    def wants_name(self, name: str) -> bool:
        """Whether the name passes include_names and exclude_names (fnmatch globs, case-sensitive)."""
        if self.include_names and not any(fnmatchcase(name, pattern) for pattern in self.include_names):
            return False
        return not any(fnmatchcase(name, pattern) for pattern in self.exclude_names)

    @property
    def reads_nics(self) -> bool:
        """Whether the networks of the NICs are read (a name in host_networks needs them; a CIDR does not)."""
        return any(network.needs_nics for network in self.host_networks)

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

    def __call__(self, func: Callable) -> None:
        with self._lock:
            self.counts[getattr(func, "__name__", "call")] += 1

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def connect(uri: str, request: ReadRequest, calls: CallCounter) -> Connection:
    """A connection to ``uri`` (read-only unless the request needs more) whose calls
    ``calls`` counts, made in this thread (the caller limits the wait); VirtOpsError
    naming the URI when it cannot be made."""
    conn = Connection(uri, readonly=not request.needs_write_access, timeout=None)
    calls.counts["open" if request.needs_write_access else "openReadOnly"] += 1
    conn.observe = calls
    return conn


def read_connection(conn: Connection, request: ReadRequest, log: Callable[[str], None]) -> dict[str, Any]:
    """Read the domains of an open connection, then close it (whatever happens)."""
    try:
        return HypervisorReader(conn, request, log).read()
    finally:
        if conn.observe is not None:
            conn.observe(conn.close)
        conn.close()


class HypervisorReader:
    """Reads the domains of one connection as JSON-ready data (what the
    inventory cache stores): ``names``, every domain name before any filter, and
    ``domains``, the facts of each domain the filters keep."""

    def __init__(self, conn: Connection, request: ReadRequest, log: Callable[[str], None]) -> None:
        self.conn = conn
        self.uri = conn.shown_uri
        self.request = request
        self.log = log
        self.facts = FactsReader(conn)
        self._lock = threading.Lock()
        self._failures: dict[str, list[str]] = {}
        self._unsupported: set[str] = set()

    def read(self) -> dict[str, Any]:
        try:
            records = self.facts.records()
        except LibvirtCallError as err:
            raise VirtOpsError(f"Cannot list the domains at URI '{self.uri}': {err.text}", uri=self.uri) from err
        names = sorted(record.name for record in records)
        if self.request.include_names or self.request.exclude_names:
            records = [record for record in records if self.request.wants_name(record.name)]
        # Only domains that need calls of their own may go to threads; the others are
        # described first (a helper whose call returned would wait for the GIL while
        # this thread describes them).
        calling, described = [], []
        for record in records:
            if self._needs_calls(record):
                calling.append(record)
            else:
                described.append(self._describe(record))
        # Guest-agent calls wait on guests, each maybe for long: those start in parallel.
        described += in_threads(self._describe, calling, self.request.max_workers, eager="agent" in self.request.ip_sources)
        self._log_failures()
        domains = sorted((entry for entry in described if entry is not None), key=lambda entry: entry["name"])
        return {"names": names, "domains": domains}

    def _needs_calls(self, record: Record) -> bool:
        """Whether describing a domain takes libvirt calls beyond the bulk reads."""
        if self.request.read_tags or not record.has_size or "state.state" not in record.values:
            return True
        return bool(self.request.ip_sources) and not record.shut_off

    # -- one domain: only what the statistics lack or the user asks for --------------------
    def _describe(self, record: Record) -> dict[str, Any] | None:
        try:
            status = self.facts.status(record)
            if self.request.states and status.state not in self.request.states:
                return None
            facts = self.facts.facts(record, status)
        except DomainVanishedError:
            return None
        except LibvirtCallError as err:
            self._note("read the state and size", f"'{record.name}': {err.text}")
            return None
        active = status.state not in INACTIVE_STATES
        entry: dict[str, Any] = {
            "name": facts["name"],
            "uuid": facts["uuid"],
            "id": facts["id"],
            "state": facts["state"],
            "state_reason": facts["reason"],
            "persistent": facts["persistent"],
            "autostart": facts["autostart"],
            "vcpus": facts["vcpus"],
            "memory_mib": facts["memory_mib"],
        }
        found = self._addresses(record, status.state) if active else []
        entry["ips"] = [address.address for address in found]
        entry["addresses"] = [address.as_dict() for address in found]
        if self.request.read_tags:
            entry["tags"] = self._tags(record, facts["persistent"])
        return entry

    def _tags(self, record: Record, persistent: bool) -> list[str]:
        """The tags of the persistent definition (the live one of a transient domain),
        as virt_domain_info reports them: one small metadata read, not the whole XML."""
        scope = libvirt.VIR_DOMAIN_AFFECT_CONFIG if persistent else libvirt.VIR_DOMAIN_AFFECT_CURRENT
        try:
            text = self.conn.call("read the tags", record.domain.metadata, libvirt.VIR_DOMAIN_METADATA_ELEMENT, dxml.VIRTOPS_NS, scope, domain=record.name)
        except LibvirtCallError as err:
            if err.code != libvirt.VIR_ERR_NO_DOMAIN_METADATA:
                self._note("read the tags", f"'{record.name}': {err.text}")
            return []
        try:
            return tags_from_metadata(text)
        except VirtOpsError as err:
            self._note("read the tags", f"'{record.name}': {err.msg}")
            return []

    def _addresses(self, record: Record, state: str) -> list[Address]:
        """The addresses of the first source in ip_sources that knows any; with
        network names to choose from, each with the network of its NIC."""
        skip = self._unsupported | ({"agent"} if state != "running" else set())
        found, failures = read_addresses(self.conn, record.domain, record.name, self.request.ip_sources, skip)
        for failure in failures:
            if failure.error.code == libvirt.VIR_ERR_NO_SUPPORT:
                self._unsupported.add(failure.source)  # the whole hypervisor lacks it: stop asking
            self._note(f"read the addresses from source {failure.source}", f"'{record.name}': {failure.error.text}")
        if not (found and self.request.reads_nics):
            return found
        try:
            return on_networks(found, read_nics(self.conn, record.domain, record.name))
        except LibvirtCallError as err:
            self._note("read the networks of the NICs", f"'{record.name}': {err.text}")
        except VirtOpsError as err:
            self._note("read the networks of the NICs", f"'{record.name}': {err.msg}")
        return found

    # -- errors: a domain that vanished is left out; any other failure is summed up quietly
    def _note(self, what: str, detail: str) -> None:
        with self._lock:
            self._failures.setdefault(what, []).append(detail)

    def _log_failures(self) -> None:
        for what, details in sorted(self._failures.items()):
            self.log(f"{self.uri}: could not {what} of {len(details)} domain(s), first {details[0]}")


def tags_from_metadata(text: str) -> list[str]:
    """The tags in the element libvirt returns for the collection's metadata
    namespace (``<tags><tag>web</tag></tags>``): stripped, empty ones left out.
    VirtOpsError when it cannot be parsed safely."""
    root = dxml.parse(text, "the tags metadata")
    return [element.text.strip() for element in root.iterfind("{*}tag") if element.text and element.text.strip()]
