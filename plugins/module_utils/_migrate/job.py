# Copyright: (c) 2026, virtops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One migration under way: libvirt's migration call runs in a thread while this one
watches its job statistics and the lifecycle events of both hypervisors, and acts
when the timeout is reached (abort, switch to post-copy, or pause to complete)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ansible_collections.virtops.libvirt.plugins.module_utils._core.client import Connection, libvirt
from ansible_collections.virtops.libvirt.plugins.module_utils._core.errors import LibvirtCallError, VirtOpsError
from ansible_collections.virtops.libvirt.plugins.module_utils._migrate.request import MigrationRequest

POLL_SECONDS = 0.25
# After the timeout's action, how long the migration may still take before this run stops waiting.
GRACE_AFTER_ACTION = 120.0
MAX_SAMPLES = 40

_EVENTS = {0: "defined", 1: "undefined", 2: "started", 3: "suspended", 4: "resumed", 5: "stopped", 6: "shutdown", 7: "pmsuspended", 8: "crashed"}
# The details that tell a migration's story (others are shown as numbers).
_DETAILS = {
    (2, 1): "migrated",
    (3, 1): "migrated",
    (3, 7): "postcopy",
    (3, 0): "paused",
    (4, 1): "migrated",
    (4, 3): "postcopy",
    (4, 0): "unpaused",
    (5, 3): "migrated",
    (0, 0): "added",
    (0, 1): "updated",
    (1, 0): "removed",
}


@dataclass
class Outcome:
    """What the job did and what libvirt measured."""

    seconds: float = 0.0
    timeout_action: str | None = None
    stats: dict[str, Any] = field(default_factory=dict)
    progress: list[dict[str, Any]] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    error: VirtOpsError | None = None
    dest_domain: Any = None
    action_error: str | None = None


class MigrationJob:
    """Runs one migration call and watches it."""

    def __init__(
        self,
        source: Connection,
        dest: Connection,
        domain: Any,
        uuid: str,
        request: MigrationRequest,
        flags: int,
        params: dict[str, Any],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.source, self.dest, self.domain, self.uuid = source, dest, domain, uuid
        self.request, self.flags, self.params = request, flags, params
        self.clock = clock
        self.outcome = Outcome()
        self._lock = threading.Lock()
        self._callbacks: list[tuple[Any, int]] = []

    # -- events -------------------------------------------------------------------------
    def _note(self, where: str, event: int, detail: int) -> None:
        name = _EVENTS.get(event, str(event))
        how = _DETAILS.get((event, detail), str(detail))
        with self._lock:
            self.outcome.events.append(f"{where}: {name} ({how})")

    def _watch(self) -> None:
        def on_source(_conn, _dom, event, detail, _opaque) -> None:
            self._note("source", event, detail)

        def on_dest(_conn, dom, event, detail, _opaque) -> None:
            with contextlib.suppress(VirtOpsError):
                if self.dest.call("read an event's domain UUID", dom.UUIDString) == self.uuid:
                    self._note("destination", event, detail)

        for conn, target, callback in ((self.source, self.domain, on_source), (self.dest, None, on_dest)):
            if not conn.events:
                continue
            with contextlib.suppress(VirtOpsError):
                handle = conn.call("watch lifecycle events", conn.raw.domainEventRegisterAny, target, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, callback, None)
                self._callbacks.append((conn, handle))

    def _unwatch(self) -> None:
        for conn, handle in self._callbacks:
            if conn.raw is not None:
                with contextlib.suppress(VirtOpsError):
                    conn.call("stop watching events", conn.raw.domainEventDeregisterAny, handle)
        self._callbacks.clear()

    # -- the call -----------------------------------------------------------------------
    def _migrate(self) -> None:
        label = self.request.label
        try:
            if self.request.peer_to_peer:
                target = self.request.peer_uri or self.request.dest_uri
                self.source.call("migrate it", self.domain.migrateToURI3, target, self.params, self.flags, domain=label)
            else:
                self.outcome.dest_domain = self.source.call("migrate it", self.domain.migrate3, self.dest.raw, self.params, self.flags, domain=label)
        except VirtOpsError as err:
            self.outcome.error = err

    def _sample(self, elapsed: float) -> None:
        try:
            stats = self.source.call("read the migration's progress", self.domain.jobStats, 0, domain=self.request.label)
        except VirtOpsError:
            return  # the job ended meanwhile, or the domain left: the thread tells
        if not stats or stats.get("type", 0) == libvirt.VIR_DOMAIN_JOB_NONE:
            return
        sample = {
            "elapsed": round(elapsed, 2),
            "data_processed": stats.get("data_processed"),
            "data_remaining": stats.get("data_remaining"),
            "iteration": stats.get("memory_iteration"),
        }
        progress = self.outcome.progress
        progress.append(sample)
        if len(progress) > MAX_SAMPLES:  # keep the first and an even spread of the rest
            del progress[1::2]

    def _act(self, action: str) -> None:
        label = self.request.label
        what = {"abort": ("abort the migration", self.domain.abortJob), "postcopy": ("switch to post-copy", self.domain.migrateStartPostCopy)}
        try:
            if action == "suspend":
                self.source.call("pause it so that the migration completes", self.domain.suspend, domain=label)
            elif action == "postcopy":
                self.source.call(what[action][0], what[action][1], 0, domain=label)
            else:
                self.source.call(what[action][0], what[action][1], domain=label)
        except LibvirtCallError as err:
            if err.code != libvirt.VIR_ERR_OPERATION_INVALID:  # finished meanwhile
                raise

    def _on_timeout(self) -> None:
        """Take the timeout's action; when it cannot be taken, abort instead (never leave
        a migration running that this run stops watching)."""
        action = self.request.timeout_action
        self.outcome.timeout_action = action
        try:
            self._act(action)
        except VirtOpsError as err:
            if action == "abort":
                raise
            self.outcome.action_error = f"timeout_action={action} could not be taken ({err.msg}), so the migration was aborted"
            self.outcome.timeout_action = "abort"
            self._act("abort")

    def run(self) -> Outcome:
        """Migrate and watch; the outcome holds an error instead of raising for the call itself."""
        self._watch()
        thread = threading.Thread(target=self._migrate, name="libvirt-migrate", daemon=True)
        start = self.clock()
        acted_at: float | None = None
        try:
            thread.start()
            while True:
                thread.join(POLL_SECONDS)
                elapsed = self.clock() - start
                if not thread.is_alive():
                    break
                self._sample(elapsed)
                if acted_at is None and self.request.timeout > 0 and elapsed >= self.request.timeout:
                    acted_at = elapsed
                    self._on_timeout()
                elif acted_at is not None and elapsed - acted_at > GRACE_AFTER_ACTION:
                    raise VirtOpsError(
                        f"The migration of {self.request.label} was still under way {GRACE_AFTER_ACTION:g} s after timeout_action="
                        f"{self.request.timeout_action}; this run stops waiting. Look at it with: virsh -c '{self.source.shown_uri}' "
                        f"domjobinfo {self.request.label}",
                        timeout_action=self.outcome.timeout_action,
                    )
            self.outcome.seconds = round(self.clock() - start, 3)
        finally:
            self._unwatch()
        return self.outcome

    def completed_stats(self, dest_domain: Any) -> dict[str, Any]:
        """libvirt's statistics of the finished migration (the destination keeps them)."""
        for conn, domain in ((self.dest, dest_domain), (self.source, self.domain)):
            if domain is None:
                continue
            with contextlib.suppress(VirtOpsError):
                stats = conn.call(
                    "read the finished migration's statistics", domain.jobStats, libvirt.VIR_DOMAIN_JOB_STATS_COMPLETED, domain=self.request.label
                )
                if stats and stats.get("type", 0) != libvirt.VIR_DOMAIN_JOB_NONE:
                    return dict(stats)
        return {}
