# Copyright: (c) 2026, virtops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What state a domain is in: libvirt's state and reason codes, named.

The names returned here are the collection's vocabulary for observed states
(``running``, ``paused``, ``in_shutdown``, ``shutoff``, ``saved``, ``crashed``,
``pmsuspended``); ``saved`` is a shut-off domain holding a managed-save image.

A domain paused for a moment while libvirt or QEMU works on it (starting up,
migrating, saving, ...) is ``paused`` with ``transient`` set: it leaves that state
by itself, so it is waited out, never acted on as if a user had paused it. The
reasons of a job (migrating, saving, dumping, a snapshot, post-copy) count only
while libvirt reports a job under way: a domain restored or migrated in paused
keeps the reason "migrating" for good.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, replace
from typing import Any

from ansible_collections.virtops.libvirt.plugins.module_utils._core.client import Connection, libvirt
from ansible_collections.virtops.libvirt.plugins.module_utils._core.errors import DomainVanishedError, LibvirtCallError

# libvirt's virDomainState values, named as this collection reports them.
STATE_NAMES = {
    0: "running",  # VIR_DOMAIN_NOSTATE: QEMU reports it only transiently around start
    1: "running",  # VIR_DOMAIN_RUNNING
    2: "running",  # VIR_DOMAIN_BLOCKED: running, waiting on a resource
    3: "paused",  # VIR_DOMAIN_PAUSED
    4: "in_shutdown",  # VIR_DOMAIN_SHUTDOWN
    5: "shutoff",  # VIR_DOMAIN_SHUTOFF
    6: "crashed",  # VIR_DOMAIN_CRASHED
    7: "pmsuspended",  # VIR_DOMAIN_PMSUSPENDED
}

OBSERVED_STATES = ("running", "paused", "in_shutdown", "shutoff", "saved", "crashed", "pmsuspended")

# libvirt's per-state reason enums (virDomain<State>Reason), as virsh names them.
REASON_NAMES = {
    0: ("unknown",),
    1: (
        "unknown",
        "booted",
        "migrated",
        "restored",
        "from snapshot",
        "unpaused",
        "migration canceled",
        "save canceled",
        "event wakeup",
        "crashed",
        "post-copy",
        "post-copy failed",
    ),
    2: ("unknown",),
    3: (
        "unknown",
        "user",
        "migrating",
        "saving",
        "dumping",
        "I/O error",
        "watchdog",
        "from snapshot",
        "shutting down",
        "creating snapshot",
        "crashed",
        "starting up",
        "post-copy",
        "post-copy failed",
        "api error",
    ),
    4: ("unknown", "user"),
    5: ("unknown", "shutdown", "destroyed", "crashed", "migrated", "saved", "failed", "from snapshot", "daemon"),
    6: ("unknown", "panicked"),
    7: ("unknown",),
}


def _job_pauses() -> frozenset[int]:
    """The transient pause reasons that last only while a job runs (migration, save, dump, snapshot)."""
    if libvirt is None:
        return frozenset()
    return frozenset(
        {
            libvirt.VIR_DOMAIN_PAUSED_MIGRATION,
            libvirt.VIR_DOMAIN_PAUSED_SAVE,
            libvirt.VIR_DOMAIN_PAUSED_DUMP,
            libvirt.VIR_DOMAIN_PAUSED_SNAPSHOT,
            libvirt.VIR_DOMAIN_PAUSED_POSTCOPY,
        }
    )


def _transient_pauses() -> frozenset[int]:
    """The pause reasons of an operation under way (libvirt resumes or stops the domain when it ends)."""
    if libvirt is None:
        return frozenset()
    return _job_pauses() | {libvirt.VIR_DOMAIN_PAUSED_STARTING_UP, libvirt.VIR_DOMAIN_PAUSED_SHUTTING_DOWN}


TRANSIENT_PAUSES = _transient_pauses()
JOB_PAUSES = _job_pauses()

# Who or what paused a domain that stays paused, by reason name (for messages).
PAUSED_BY = {
    "user": "paused by a user or a tool (for example virsh suspend)",
    "migrating": "left paused by an incoming migration or a restore (for example virsh restore --paused)",
    "I/O error": "paused by the hypervisor after a disk I/O error",
    "watchdog": "paused by its watchdog device",
    "from snapshot": "paused by reverting to a paused snapshot",
    "crashed": "paused after its guest crashed",
    "post-copy failed": "paused because a post-copy migration failed",
    "api error": "paused after a failed libvirt operation",
}


@dataclass(frozen=True)
class DomainStatus:
    """A domain's observed state and libvirt's reason for it; ``transient`` when it
    is paused only while an operation is under way."""

    state: str
    reason: str
    transient: bool = False

    def __str__(self) -> str:
        return f"{self.state} ({self.reason})"

    def paused_by(self) -> str:
        """Who or what paused it, in words."""
        return PAUSED_BY.get(self.reason, f"paused (libvirt's reason: {self.reason})")


def status_from_codes(state: int, reason: int, has_managed_save: bool) -> DomainStatus:
    """Name libvirt's (state, reason) pair, folding a managed-save image into ``saved``."""
    name = STATE_NAMES.get(state, "running")
    reasons = REASON_NAMES.get(state, ("unknown",))
    reason_name = reasons[reason] if 0 <= reason < len(reasons) else "unknown"
    if name == "shutoff" and has_managed_save:
        name = "saved"
    transient = libvirt is not None and state == libvirt.VIR_DOMAIN_PAUSED and reason in TRANSIENT_PAUSES
    return DomainStatus(name, reason_name, transient)


def read_status(conn: Connection, domain: Any, name: str) -> DomainStatus:
    """Ask libvirt for the domain's state (one call; two when it is shut off, or paused
    for a reason that lasts only while a job runs)."""
    state, reason = conn.call("read its state", domain.state, domain=name)
    saved = state == libvirt.VIR_DOMAIN_SHUTOFF and bool(conn.call("read whether it has a managed-save image", domain.hasManagedSaveImage, 0, domain=name))
    status = status_from_codes(state, reason, saved)
    if status.transient and reason in JOB_PAUSES and not _job_under_way(conn, domain, name):
        # A domain restored (or migrated in) paused keeps the reason "migrating" for good.
        status = replace(status, transient=False)
    return status


def _job_under_way(conn: Connection, domain: Any, name: str) -> bool:
    try:
        job = conn.call("read its current job", domain.jobInfo, domain=name)
    except LibvirtCallError as err:
        if err.code == libvirt.VIR_ERR_NO_SUPPORT:
            return True  # the driver cannot tell: trust the reason
        raise
    return job[0] != libvirt.VIR_DOMAIN_JOB_NONE


@dataclass(frozen=True)
class Listed:
    """A domain as one listing of the whole connection saw it; ``status`` is None when
    the listing could not say (the domain appeared or vanished meanwhile)."""

    domain: Any
    status: DomainStatus | None
    persistent: bool


def read_all(conn: Connection, names: Collection[str] | None = None) -> dict[str, Listed]:
    """The domains of the connection named in ``names`` (default: all) by name, with
    their states: four calls to libvirt however many domains there are (one per
    domain where the driver cannot report the states of many at once, or one of
    them vanished meanwhile).

    A domain paused by a job keeps ``transient`` set without the job being checked:
    the caller reads such a domain again (read_status) before acting on it."""
    raw = conn.raw
    domains = [domain for domain in conn.call("list the domains", raw.listAllDomains, 0) if names is None or domain.name() in names]
    saved = _uuids(conn.call("list the domains with a managed-save image", raw.listAllDomains, libvirt.VIR_CONNECT_LIST_DOMAINS_MANAGEDSAVE))
    transient = _uuids(conn.call("list the transient domains", raw.listAllDomains, libvirt.VIR_CONNECT_LIST_DOMAINS_TRANSIENT))
    try:
        stats = conn.call("read the states of the domains", raw.domainListGetStats, domains, libvirt.VIR_DOMAIN_STATS_STATE, 0) if domains else []
    except LibvirtCallError as err:
        if err.code not in (libvirt.VIR_ERR_NO_SUPPORT, libvirt.VIR_ERR_NO_DOMAIN):
            raise
        stats = [(domain, _state_stats(conn, domain)) for domain in domains]
    codes = {domain.UUIDString(): (record.get("state.state"), record.get("state.reason")) for domain, record in stats if record}
    listed: dict[str, Listed] = {}
    for domain in domains:
        uuid = domain.UUIDString()
        state, reason = codes.get(uuid, (None, None))
        status = status_from_codes(state, reason, uuid in saved) if isinstance(state, int) and isinstance(reason, int) else None
        listed[domain.name()] = Listed(domain, status, uuid not in transient)
    return listed


def _uuids(domains: list[Any]) -> set[str]:
    return {domain.UUIDString() for domain in domains}


def _state_stats(conn: Connection, domain: Any) -> dict[str, int]:
    """One domain's state as domainListGetStats reports it; {} once it is gone."""
    try:
        state, reason = conn.call("read its state", domain.state, domain=domain.name())
    except DomainVanishedError:
        return {}
    return {"state.state": state, "state.reason": reason}
