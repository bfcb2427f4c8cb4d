# Copyright: (c) 2026, virtops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""virt_migrate's run: find the domain, check the destination, migrate, report.
Used as it is by virt_drain for each domain it moves."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ansible_collections.virtops.libvirt.plugins.module_utils._core import xml as core_xml
from ansible_collections.virtops.libvirt.plugins.module_utils._core.client import Connection, libvirt
from ansible_collections.virtops.libvirt.plugins.module_utils._core.errors import VirtOpsError
from ansible_collections.virtops.libvirt.plugins.module_utils._core.states import read_status
from ansible_collections.virtops.libvirt.plugins.module_utils._migrate.job import MigrationJob
from ansible_collections.virtops.libvirt.plugins.module_utils._migrate.locate import DONE, UNDEFINE_SOURCE, Found, host_uuid, locate
from ansible_collections.virtops.libvirt.plugins.module_utils._migrate.preflight import run_preflight
from ansible_collections.virtops.libvirt.plugins.module_utils._migrate.request import MigrationRequest, flags_and_params

MOVABLE = ("running", "paused", "shutoff")


def same_host(source: Connection, dest: Connection) -> str | None:
    """The host UUID both URIs reach, "" when they are the same URI of a hypervisor without
    one, or None when they are two hypervisors."""
    if source.uri == dest.uri:
        return host_uuid(source)
    mine, theirs = host_uuid(source), host_uuid(dest)
    return mine if mine and mine == theirs else None


def same_host_error(source: Connection, dest: Connection) -> VirtOpsError | None:
    """An error when both URIs reach the same hypervisor (libvirt would refuse later, less clearly)."""
    uuid = same_host(source, dest)
    if uuid is None:
        return None
    known = f" (host UUID {uuid})" if uuid else ""
    return VirtOpsError(
        f"uri '{source.shown_uri}' and dest_uri '{dest.shown_uri}' reach the same hypervisor{known}. Give the destination's URI as dest_uri. Nothing was moved."
    )


class MigrateRunner:
    """Moves one domain from ``source`` to ``dest``, or says why not."""

    def __init__(self, source: Connection, dest: Connection, request: MigrationRequest, check_mode: bool, clock: Callable[[], float] = time.monotonic) -> None:
        self.source, self.dest, self.request, self.check_mode, self.clock = source, dest, request, check_mode, clock
        self.action_error: str | None = None
        self.result: dict[str, Any] = {
            "changed": False,
            "name": request.name,
            "uuid": request.uuid,
            "action": "none",
            "mode": None,
            "source_uri": source.shown_uri,
            "dest_uri": dest.shown_uri,
            "duration": 0.0,
            "downtime_ms": None,
            "data_transferred": None,
            "iterations": None,
            "timeout_action": None,
            "preflight": None,
            "progress": [],
            "events": [],
            "warnings": [],
        }

    def run(self, check_hosts: bool = True) -> dict[str, Any]:
        request = self.request
        if check_hosts:
            error = same_host_error(self.source, self.dest)
            if error is not None:
                raise error
        where = locate(self.source, self.dest, request.name, request.uuid, request.undefine_source)
        found = where.source or where.dest
        self.result.update(name=self._name(found), uuid=found.uuid if found else None)
        if where.action == DONE or where.source is None:
            return self._finish(where.dest, where.source)
        if where.action == UNDEFINE_SOURCE and where.dest is not None:
            return self._undefine_leftover(where.source, where.dest)
        return self._migrate(where.source)

    # -- pieces -------------------------------------------------------------------------
    def _name(self, found: Found | None) -> str | None:
        if self.request.name is not None or found is None:
            return self.request.name
        return self.source.call("read its name", found.domain.name) if found.domain is not None else None

    def _host(self) -> dict[str, Any]:
        return {
            "host": self.dest.call("read the destination's host name", self.dest.raw.getHostname),
            "host_uuid": host_uuid(self.dest),
        }

    def _finish(self, dest_found: Found | None, source_found: Found | None) -> dict[str, Any]:
        where = dest_found if dest_found is not None else source_found
        self.result.update(self._host() if dest_found is not None else {"host": None, "host_uuid": None})
        self.result["state"] = where.status.state if where is not None else None
        return self.result

    def _undefine_leftover(self, src: Found, dst: Found) -> dict[str, Any]:
        """The domain runs on the destination; an inactive definition of it stayed on the source."""
        if src.status.state == "saved":
            raise VirtOpsError(
                f"Domain {self.request.label} runs on '{self.dest.shown_uri}', and its old definition on '{self.source.shown_uri}' holds a "
                "managed-save image (a saved memory state), which this module never deletes. If it is stale, remove it there "
                f"(virsh managedsave-remove {self.request.label}) and run again. Nothing was done.",
                **{**self.result, "state": dst.status.state},
            )
        self.result.update(changed=True, action="undefine_source")
        if not self.check_mode:
            flags = getattr(libvirt, "VIR_DOMAIN_UNDEFINE_KEEP_NVRAM", 0) | getattr(libvirt, "VIR_DOMAIN_UNDEFINE_KEEP_TPM", 0)
            self.source.call("undefine its old definition on the source (disks and NVRAM are kept)", src.domain.undefineFlags, flags, domain=self.request.label)
        return self._finish(dst, None)

    def _migrate(self, src: Found) -> dict[str, Any]:
        request, label = self.request, self.request.label
        state = src.status.state
        if state not in MOVABLE:
            advice = {
                "saved": "It has a managed-save image, which cannot move: start it (virt_power state=running) or discard the image first.",
                "in_shutdown": "It is shutting down: wait until it is shut off or running.",
            }.get(state, "Bring it to running, paused or shut off first.")
            raise VirtOpsError(f"Domain {label} is {src.status} on the source and cannot be migrated. {advice} Nothing was moved.", uuid=src.uuid)
        offline = state == "shutoff"
        if offline and request.copy_storage != "none":
            raise VirtOpsError(
                f"Domain {label} is shut off, so it moves offline (its definition only), and libvirt copies no storage then. Copy its disks "
                "yourself (or start it and migrate it live with copy_storage). Nothing was moved.",
                uuid=src.uuid,
            )
        if offline and not src.persistent:
            raise VirtOpsError(f"Domain {label} is not defined anywhere to move. Nothing was moved.")
        flags = libvirt.VIR_DOMAIN_XML_INACTIVE if offline else 0
        root = core_xml.parse_domain(self.source.call("read its definition", src.domain.XMLDesc, flags, domain=label), f"the definition of {label}")
        preflight = run_preflight(self.source, self.dest, request, root, offline)
        self.result["preflight"] = preflight.as_result()
        if preflight.unchecked:
            self.result["warnings"].append(f"Not checked before moving {label}: " + "; ".join(preflight.unchecked) + ".")
        if preflight.problems:
            raise VirtOpsError(
                f"Domain {label} cannot move to '{self.dest.shown_uri}': " + "; ".join(preflight.problems) + " Nothing was moved.",
                **{**self.result, "changed": False, "state": state},
            )
        mode = "offline" if offline else ("live" if request.live else "paused")
        self.result.update(changed=True, action="migrate", mode=mode)
        if self.check_mode:
            self.result.update(state=state, host=None, host_uuid=None)
            return self.result
        migration_flags, params = flags_and_params(request, offline)
        job = MigrationJob(self.source, self.dest, src.domain, src.uuid, request, migration_flags, params, self.clock)
        outcome = job.run()
        self.result.update(duration=outcome.seconds, timeout_action=outcome.timeout_action, progress=outcome.progress, events=outcome.events)
        if outcome.error is not None:
            self.action_error = outcome.action_error
            self._failed(outcome.error, src)
        dest_domain = outcome.dest_domain or self.dest.find(uuid=src.uuid)
        if dest_domain is None:
            raise VirtOpsError(f"libvirt reported the migration of {label} done, yet the destination has no domain with UUID {src.uuid}.", **self.result)
        status = read_status(self.dest, dest_domain, label)
        if outcome.timeout_action == "suspend" and state == "running" and status.state == "paused":
            self.dest.call("resume it after the migration completed paused", dest_domain.resume, domain=label)
            self.result["events"].append("destination: resumed (paused to complete, resumed by virt_migrate)")
            status = read_status(self.dest, dest_domain, label)
        stats = job.completed_stats(dest_domain)
        self.result.update(
            downtime_ms=stats.get("downtime"),
            data_transferred=stats.get("data_processed", stats.get("memory_processed")),
            iterations=stats.get("memory_iteration"),
        )
        self.result["state"] = status.state
        self.result.update(self._host())
        return self.result

    def _failed(self, error: VirtOpsError, src: Found) -> None:
        """Raise the migration's error with where the domain is now."""
        label = self.request.label
        try:
            back = self.source.find(uuid=src.uuid)
            there = self.dest.find(uuid=src.uuid)
            now = read_status(self.source, back, label) if back is not None else None
        except VirtOpsError:
            back, there, now = None, None, None
        if back is not None and there is None:
            where = f"It is still on the source, {now.state if now else 'in an unknown state'}."
        elif back is None and there is not None:
            where = "It is on the destination now."
        else:
            where = "Check where it is with virsh list --all on both hypervisors."
        if self.result["timeout_action"] == "abort":
            why = f" ({self.action_error})" if self.action_error else ""
            raise VirtOpsError(
                f"The migration of {label} did not finish within {self.request.timeout:g} s (option timeout) and was aborted{why}. {where} "
                "Raise timeout or bandwidth, or set timeout_action=postcopy or suspend to complete it.",
                **{**self.result, "changed": False, "state": now.state if now else None},
            )
        raise VirtOpsError(f"{error.msg} {where}", **{**self.result, "changed": there is not None, "state": now.state if now else None})
