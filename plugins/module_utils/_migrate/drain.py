# Copyright: (c) 2026, virtops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Empty a hypervisor onto others (drain), and bring its domains back (undrain):
placement by free memory, a few migrations at a time, stop at the first failure.
Each migration is virt_migrate's (MigrateRunner), pre-flight checks included."""

from __future__ import annotations

import concurrent.futures
import fnmatch
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from ansible_collections.virtops.libvirt.plugins.module_utils._core import xml as core_xml
from ansible_collections.virtops.libvirt.plugins.module_utils._core.client import Connection
from ansible_collections.virtops.libvirt.plugins.module_utils._core.errors import VirtOpsError, redact_uri
from ansible_collections.virtops.libvirt.plugins.module_utils._core.states import read_all
from ansible_collections.virtops.libvirt.plugins.module_utils._migrate.locate import NotFoundError, host_uuid
from ansible_collections.virtops.libvirt.plugins.module_utils._migrate.preflight import domain_memory_kib, free_memory_mib
from ansible_collections.virtops.libvirt.plugins.module_utils._migrate.request import MigrationRequest
from ansible_collections.virtops.libvirt.plugins.module_utils._migrate.runner import MigrateRunner

MAX_PARALLEL = 16
LIVE_STATES = ("running", "paused")


@dataclass(frozen=True)
class Target:
    uri: str
    peer_uri: str | None = None
    migrate_uri: str | None = None

    @property
    def shown(self) -> str:
        return redact_uri(self.uri)


@dataclass(frozen=True)
class DrainRequest:
    state: str
    targets: tuple[Target, ...]
    migration: MigrationRequest  # the options every migration shares
    include_shutoff: bool = False
    exclude_names: tuple[str, ...] = ()
    include_names: tuple[str, ...] = ()
    parallel: int = 2
    record: tuple[dict[str, Any], ...] = ()


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value.strip() or "\x00" in value or any(ch.isspace() for ch in value):
        raise VirtOpsError(f"{what} must be a URI without spaces or NUL characters, not {value!r}. Nothing was done.")
    return value


def targets_of(raw: Any) -> tuple[Target, ...]:
    """The checked targets: URIs, or dicts with uri, peer_uri and migrate_uri."""
    if not raw:
        raise VirtOpsError("Option targets is empty: name at least one hypervisor the domains may go to. Nothing was done.")
    found: list[Target] = []
    for index, item in enumerate(raw):
        where = f"targets[{index}]"
        if isinstance(item, str):
            found.append(Target(_text(item, where)))
            continue
        if not isinstance(item, dict) or "uri" not in item or set(item) - {"uri", "peer_uri", "migrate_uri"}:
            raise VirtOpsError(f"{where} must be a URI or a dict with uri and optionally peer_uri and migrate_uri, not {item!r}. Nothing was done.")
        found.append(
            Target(
                _text(item["uri"], f"{where}.uri"),
                _text(item["peer_uri"], f"{where}.peer_uri") if item.get("peer_uri") is not None else None,
                _text(item["migrate_uri"], f"{where}.migrate_uri") if item.get("migrate_uri") is not None else None,
            )
        )
    if len({target.uri for target in found}) != len(found):
        raise VirtOpsError("Option targets names a hypervisor twice. Nothing was done.")
    return tuple(found)


def record_of(raw: Any) -> tuple[dict[str, Any], ...]:
    """The checked record of a drain: entries with name, uuid and to."""
    entries: list[dict[str, Any]] = []
    for index, item in enumerate(raw or ()):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not isinstance(item.get("to"), str):
            raise VirtOpsError(f"record[{index}] must be a dict with name and to (an entry of a drain's moved list), not {item!r}. Nothing was done.")
        uuid = item.get("uuid")
        if uuid is not None and not isinstance(uuid, str):
            raise VirtOpsError(f"record[{index}].uuid must be a UUID string, not {uuid!r}. Nothing was done.")
        entries.append({"name": item["name"], "uuid": uuid, "to": item["to"]})
    return tuple(entries)


def check_parallel(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_PARALLEL:
        raise VirtOpsError(f"Option parallel must be a whole number of migrations at once from 1 to {MAX_PARALLEL}, not {value!r}. Nothing was done.")
    return value


class DrainRunner:
    """Drains ``host`` onto the targets, or brings the recorded domains back to it."""

    def __init__(
        self,
        host: Connection,
        request: DrainRequest,
        check_mode: bool,
        connect: Callable[[str], Connection],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.host, self.request, self.check_mode, self.connect, self.clock = host, request, check_mode, connect, clock
        self.conns: dict[Target, Connection] = {}
        self.moved: list[dict[str, Any]] = []
        self.untouched: list[dict[str, str]] = []
        self.failed: dict[str, Any] | None = None
        self.warnings: list[str] = []
        self.free: dict[Target, int] = {}
        self.placed: dict[Target, int] = {}

    # -- set-up -------------------------------------------------------------------------
    def _open(self) -> None:
        own = host_uuid(self.host)
        seen: dict[str, Target] = {}
        for target in self.request.targets:
            conn = self.connect(target.uri)
            self.conns[target] = conn
            uuid = host_uuid(conn) or target.uri  # a driver without host UUIDs: tell them apart by URI
            if uuid == (own or self.host.uri):
                raise VirtOpsError(f"Target '{target.shown}' is the hypervisor being drained (host UUID {uuid}). Remove it from targets. Nothing was done.")
            if uuid in seen:
                raise VirtOpsError(f"Targets '{seen[uuid].shown}' and '{target.shown}' are one hypervisor (host UUID {uuid}). Name it once; nothing was done.")
            seen[uuid] = target
            self.placed[target] = 0

    def close(self) -> None:
        for conn in self.conns.values():
            conn.close()

    def run(self) -> dict[str, Any]:
        start = self.clock()
        try:
            self._open()
            if self.request.state == "drained":
                self._drain()
            else:
                self._undrain()
        finally:
            self.close()
        return self._result(self.clock() - start)

    # -- drain --------------------------------------------------------------------------
    def _candidates(self) -> list[tuple[str, Any, int, str]]:
        """(name, domain, memory MiB, mode) of each domain to move, biggest first; the rest go to untouched."""
        found = []
        for name, listed in sorted(read_all(self.host).items()):
            why = self._excluded(name)
            if why:
                self.untouched.append({"name": name, "reason": why})
                continue
            state = listed.status.state if listed.status is not None else "unknown"
            if state in LIVE_STATES:
                mode = "live" if self.request.migration.live else "paused"
            elif state == "shutoff" and listed.persistent:
                if not self.request.include_shutoff:
                    self.untouched.append({"name": name, "reason": "shut off (include_shutoff is false)"})
                    continue
                mode = "offline"
            else:
                self.untouched.append({"name": name, "reason": f"{state}: cannot be migrated in this state"})
                continue
            root = core_xml.parse_domain(self.host.call("read its definition", listed.domain.XMLDesc, 0, domain=name), f"the definition of {name}")
            found.append((name, listed.domain, -(-domain_memory_kib(root) // 1024), mode))
        found.sort(key=lambda item: (-item[2], item[0]))
        return found

    def _order(self, needed: int, mode: str) -> list[Target]:
        """Targets with room, the most free memory left first."""
        headroom = self.request.migration.memory_headroom_mib
        left = {target: self.free[target] - self.placed[target] for target in self.conns}
        checked = "memory" in self.request.migration.preflight  # without the memory check, room only orders the targets
        fits = [target for target in self.conns if mode == "offline" or not checked or left[target] >= needed + headroom]
        return sorted(fits, key=lambda target: -left[target])

    def _request_for(self, name: str, target: Target) -> MigrationRequest:
        base = self.request.migration
        return replace(base, name=name, uuid=None, dest_uri=target.uri, peer_uri=target.peer_uri if base.peer_to_peer else None, migrate_uri=target.migrate_uri)

    def _drain(self) -> None:
        for target, conn in self.conns.items():
            self.free[target] = free_memory_mib(conn)
        work = self._candidates()
        with concurrent.futures.ThreadPoolExecutor(max_workers=self.request.parallel) as pool:
            running: dict[concurrent.futures.Future, tuple[str, str, str]] = {}
            for name, _domain, needed, mode in work:
                self._reap(running, block=len(running) >= self.request.parallel)
                if self.failed is not None:
                    break
                chosen = self._place(name, needed, mode)
                if chosen is None:
                    break
                target = chosen
                self.placed[target] += needed if mode != "offline" else 0
                if self.check_mode:
                    planned = {"name": name, "uuid": None, "mode": mode, "duration": 0.0, "downtime_ms": None}
                    self.moved.append(self._entry(planned, self.host.shown_uri, target.shown))
                    continue
                request = self._request_for(name, target)
                future = pool.submit(MigrateRunner(self.host, self.conns[target], request, False, self.clock).run, False)
                running[future] = (name, self.host.shown_uri, target.shown)
            while running:
                self._reap(running, block=True)

    def _place(self, name: str, needed: int, mode: str) -> Target | None:
        """The target for ``name``: the least loaded one with room whose pre-flight passes."""
        reasons: list[str] = []
        for target in self._order(needed, mode):
            try:
                MigrateRunner(self.host, self.conns[target], self._request_for(name, target), True, self.clock).run(False)
            except VirtOpsError as err:
                reasons.append(f"'{target.shown}': {err.msg}")
                continue
            return target
        if not reasons:
            room = ", ".join(f"'{t.shown}' {self.free[t] - self.placed[t]} MiB" for t in self.conns)
            reasons.append(f"no target has room for its {needed} MiB (+{self.request.migration.memory_headroom_mib} MiB headroom); free now: {room}")
        self.failed = {"name": name, "to": None, "msg": f"Domain {name} cannot go anywhere: " + " | ".join(reasons)}
        return None

    def _reap(self, running: dict[concurrent.futures.Future, tuple[str, str, str]], block: bool) -> None:
        """Collect finished migrations (``running`` maps each to its name, from and to URIs)."""
        if not running:
            return
        done, _pending = concurrent.futures.wait(list(running), timeout=None if block else 0, return_when=concurrent.futures.FIRST_COMPLETED)
        for future in done:
            name, origin, to = running.pop(future)
            try:
                result = future.result()
            except NotFoundError:
                self.untouched.append({"name": name, "reason": f"found neither on '{origin}' nor on '{to}'"})
                continue
            except VirtOpsError as err:
                if self.failed is None:
                    self.failed = {"name": name, "to": to, "msg": err.msg}
                if err.result.get("changed"):  # it did reach the destination
                    self.moved.append(self._entry(err.result, origin, to))
                continue
            self.warnings.extend(result.get("warnings", ()))
            if result["changed"]:
                self.moved.append(self._entry(result, origin, to))

    @staticmethod
    def _entry(result: dict[str, Any], origin: str, to: str) -> dict[str, Any]:
        return {
            "name": result.get("name"),
            "uuid": result.get("uuid"),
            "from": origin,
            "to": to,
            "mode": result.get("mode"),
            "duration": result.get("duration"),
            "downtime_ms": result.get("downtime_ms"),
        }

    # -- undrain ------------------------------------------------------------------------
    def _undrain(self) -> None:
        by_uri = {target.shown: target for target in self.conns}
        base = self.request.migration
        with concurrent.futures.ThreadPoolExecutor(max_workers=self.request.parallel) as pool:
            running: dict[concurrent.futures.Future, tuple[str, str, str]] = {}
            for entry in self.request.record:
                self._reap(running, block=len(running) >= self.request.parallel)
                if self.failed is not None:
                    break
                target = by_uri.get(entry["to"])
                if target is None:
                    self.untouched.append({"name": entry["name"], "reason": f"it went to '{entry['to']}', which is not among targets"})
                    continue
                request = replace(
                    base,
                    name=entry["name"] if entry.get("uuid") is None else None,
                    uuid=entry.get("uuid"),
                    dest_uri=self.host.uri,
                    peer_uri=self.request.migration.peer_uri if base.peer_to_peer else None,
                )
                runner = MigrateRunner(self.conns[target], self.host, request, self.check_mode, self.clock)
                future = pool.submit(runner.run, False)
                running[future] = (entry["name"], target.shown, self.host.shown_uri)
            while running:
                self._reap(running, block=True)

    # -- result -------------------------------------------------------------------------
    def _remaining(self) -> list[str]:
        if self.request.state == "undrained":
            back = {entry["name"] for entry in self.moved}
            gone = {entry["name"] for entry in self.untouched}
            return [entry["name"] for entry in self.request.record if entry["name"] not in back and entry["name"] not in gone and not self._is_home(entry)]
        by_choice = {entry["name"] for entry in self.untouched if entry["reason"].startswith(("excluded", "not matched", "shut off"))}
        moved = {entry["name"] for entry in self.moved}
        try:
            here = read_all(self.host)
        except VirtOpsError:
            return []
        return [
            name
            for name, listed in sorted(here.items())
            if name not in by_choice and not self._left_by_choice(name, listed) and (self.check_mode is False or name not in moved)
        ]

    def _excluded(self, name: str) -> str:
        """Why include_names (when given) or exclude_names leave ``name`` out; "" when they do not."""
        if self.request.include_names and not any(fnmatch.fnmatchcase(name, pattern) for pattern in self.request.include_names):
            return "not matched by include_names"
        if any(fnmatch.fnmatchcase(name, pattern) for pattern in self.request.exclude_names):
            return "excluded by exclude_names"
        return ""

    def _left_by_choice(self, name: str, listed: Any) -> bool:
        """Whether the options leave ``name`` where it is (also a domain that came meanwhile)."""
        if self._excluded(name):
            return True
        shut_off = listed.status is not None and listed.status.state == "shutoff"
        return shut_off and not self.request.include_shutoff

    def _is_home(self, entry: dict[str, Any]) -> bool:
        found = self.host.find(uuid=entry["uuid"]) if entry.get("uuid") else self.host.find(entry["name"])
        return found is not None

    def _result(self, seconds: float) -> dict[str, Any]:
        remaining = self._remaining()
        live = sum(1 for entry in self.moved if entry["mode"] != "offline")
        verbs = {"drained": ("moved", "would move"), "undrained": ("brought back", "would bring back")}
        verb = verbs[self.request.state][self.check_mode]
        where = "off" if self.request.state == "drained" else "to"
        summary = (
            f"{verb} {len(self.moved)} domain(s) {where} '{self.host.shown_uri}' ({live} live, {len(self.moved) - live} offline) in {seconds:.1f} s; "
            f"{len(self.untouched)} left alone; {len(remaining)} remaining"
        )
        if self.failed is not None:
            summary += f"; stopped at {self.failed['name']}: {self.failed['msg']}"
        result = {
            "changed": bool(self.moved),
            "uri": self.host.shown_uri,
            "moved": self.moved,
            "failure": self.failed,
            "untouched": self.untouched,
            "remaining": remaining,
            "summary": summary,
            "duration": round(seconds, 3),
            "targets": [{"uri": t.shown, "free_mib": self.free.get(t), "placed_mib": self.placed.get(t, 0)} for t in self.conns],
            "warnings": self.warnings,
        }
        if self.failed is not None:
            raise VirtOpsError(summary, **{key: value for key, value in result.items() if key != "warnings"})
        return result
