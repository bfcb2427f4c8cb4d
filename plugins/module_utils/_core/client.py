# Copyright: (c) 2026, virtops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one way this collection talks to libvirt.

- ``Connection``: opens a connection within a deadline (libvirt has no connect
  timeout of its own), is a context manager, finds domains, reconnects after the
  daemon restarted, and makes every call through ``call()``.
- ``call()``: calls a libvirt function and turns any ``libvirtError`` into a
  VirtOpsError naming the domain, the URI (redacted) and what to do; a domain that
  vanished and a connection that broke get their own exception types.

No other file of the collection catches ``libvirt.libvirtError`` or calls a
libvirt method directly (a unit test walks the source to make sure).
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from ansible_collections.virtops.libvirt.plugins.module_utils._core.errors import (
    ConnectionLostError,
    DomainVanishedError,
    LibvirtCallError,
    VirtOpsError,
    redact_uri,
)

try:
    import libvirt
except ImportError:
    libvirt = None
    LIBVIRT_IMPORT_ERROR: str | None = traceback.format_exc()
else:
    LIBVIRT_IMPORT_ERROR = None
    # libvirt-python prints every error to stderr unless a handler is installed.
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)

VirConnect = Any  # libvirt.virConnect (libvirt-python ships no type stubs)
VirDomain = Any  # libvirt.virDomain

DEFAULT_URI = "qemu:///system"
DEFAULT_CONNECT_TIMEOUT = 30.0
# A broken connection is noticed within KEEPALIVE_INTERVAL * (KEEPALIVE_COUNT + 1) s.
KEEPALIVE_INTERVAL = 3
KEEPALIVE_COUNT = 3

_event_loop_lock = threading.Lock()
_event_loop_started = False


def start_event_loop() -> None:
    """Run libvirt's default event loop in a daemon thread (once per process).

    Must happen before a connection is opened for that connection to deliver
    domain events and keepalive messages.
    """
    global _event_loop_started
    with _event_loop_lock:
        if _event_loop_started:
            return
        libvirt.virEventRegisterDefaultImpl()

        def _run() -> None:
            while True:
                libvirt.virEventRunDefaultImpl()

        threading.Thread(target=_run, name="libvirt-events", daemon=True).start()
        _event_loop_started = True


# -- errors -------------------------------------------------------------------------
def error_text(err: Any) -> str:
    """libvirt's own message, on one line, without the document line a libxml2 parse
    error quotes above its caret (``^``) line: that line may be the content of any
    file (a test:///<file> URI names one)."""
    lines = (err.get_error_message() or str(err) or "").strip().splitlines()
    kept: list[str] = []
    for line in lines:
        if line.strip() and set(line.strip()) == {"^"}:
            if kept:
                kept.pop()  # the quoted document line
            continue
        if line.strip():
            kept.append(line.strip())
    return "; ".join(kept) or "unknown libvirt error"


def _lost_connection(err: Any) -> bool:
    code = err.get_error_code()
    if code in (libvirt.VIR_ERR_NO_CONNECT, libvirt.VIR_ERR_RPC):
        return True
    if code in (libvirt.VIR_ERR_SYSTEM_ERROR, libvirt.VIR_ERR_INTERNAL_ERROR):
        text = error_text(err).lower()
        return any(
            marker in text
            for marker in (
                "client socket is closed",
                "end of file while reading data",
                "cannot recv data",
                "cannot write data",
                "connection reset by peer",
                "broken pipe",
                "no connection",
            )
        )
    return False


def _advice(code: int) -> str:
    """What a person can do about a libvirt error, by its code."""
    if code == libvirt.VIR_ERR_OPERATION_INVALID:
        return "The domain's state does not allow it right now (it may have changed meanwhile); run the task again."
    if code in (libvirt.VIR_ERR_AUTH_FAILED, libvirt.VIR_ERR_AUTH_CANCELLED, libvirt.VIR_ERR_ACCESS_DENIED):
        return "Check the credentials and the permissions of this user on the libvirt daemon."
    if code == libvirt.VIR_ERR_OPERATION_TIMEOUT:
        return "libvirt timed out; the domain or its guest may be busy. Try again later."
    if code == libvirt.VIR_ERR_NO_SUPPORT:
        return "This hypervisor driver does not support it."
    if code in (libvirt.VIR_ERR_XML_ERROR, libvirt.VIR_ERR_XML_DETAIL, libvirt.VIR_ERR_CONFIG_UNSUPPORTED, libvirt.VIR_ERR_INVALID_ARG):
        return "Correct the definition or the option named."
    return "See the libvirt daemon's log for details."


def map_error(err: Any, what: str, uri: str | None = None, domain: str | None = None) -> LibvirtCallError:
    """The VirtOpsError for a libvirtError raised while trying to ``what``."""
    code = err.get_error_code()
    text = error_text(err)
    at = f" at URI '{redact_uri(uri)}'" if uri else ""
    subject = f"Domain '{domain}'{at}" if domain is not None else f"libvirt{at}"
    if code == libvirt.VIR_ERR_NO_DOMAIN and domain is not None:
        return DomainVanishedError(
            f"Domain '{domain}'{at} vanished while trying to {what} (it was undefined elsewhere, or it was transient and stopped).", code, text
        )
    if _lost_connection(err):
        return ConnectionLostError(
            f"The connection to libvirt{at} broke while trying to {what}"
            f"{f' (domain {domain!r})' if domain is not None else ''}: {text}. Check that the libvirt "
            "daemon is running; it may have been restarted.",
            code,
            text,
        )
    return LibvirtCallError(f"{subject}: cannot {what}: {text}. {_advice(code)}", code, text)


def call(what: str, func: Callable[..., Any], *args: Any, uri: str | None = None, domain: str | None = None) -> Any:
    """``func(*args)``; a libvirtError becomes a VirtOpsError saying we could not ``what``."""
    try:
        return func(*args)
    except libvirt.libvirtError as err:
        raise map_error(err, what, uri, domain) from None
    except ValueError as err:  # libvirt-python refuses a str holding NUL before calling libvirt
        if "null character" not in str(err):
            raise
        raise VirtOpsError(f"Cannot {what}: a value holds a NUL character, which libvirt cannot take.") from None


# -- connecting -------------------------------------------------------------------------
def check_timeout(seconds: Any, option: str = "connect_timeout") -> float:
    """A connection timeout: a finite number of seconds above 0."""
    try:
        value = float(seconds)
    except (TypeError, ValueError):
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise VirtOpsError(f"Option {option} must be a finite number of seconds above 0, not {seconds!r}.")
    return value


def open_raw(uri: str, readonly: bool = False, timeout: float | None = DEFAULT_CONNECT_TIMEOUT) -> VirConnect:
    """A raw virConnect to ``uri``, made within ``timeout`` seconds (None: no limit,
    in this thread). A connection made after the deadline is closed when it arrives."""
    opener = libvirt.openReadOnly if readonly else libvirt.open
    shown = redact_uri(uri)
    outcome: dict[str, Any] = {}
    lock = threading.Lock()

    def _open() -> None:
        try:
            conn = call("connect", opener, uri, uri=uri)
        except VirtOpsError as err:
            conn, outcome["error"] = None, err
        with lock:
            if "late" not in outcome:
                outcome["conn"] = conn
                return
        if conn is not None:  # nobody waits for it any more
            with contextlib.suppress(libvirt.libvirtError):
                conn.close()

    if timeout is None:
        _open()
    else:
        thread = threading.Thread(target=_open, name="libvirt-connect", daemon=True)
        thread.start()
        thread.join(timeout)
    with lock:
        if "conn" not in outcome:
            outcome["late"] = True
            raise VirtOpsError(
                f"The libvirt daemon at URI '{shown}' did not answer within {timeout:g} s (option connect_timeout). "
                "Check that its host and daemon are up and reachable, or raise connect_timeout.",
                uri=shown,
            )
    if "error" in outcome:
        err = outcome["error"]
        raise VirtOpsError(
            f"Cannot connect to libvirt at URI '{shown}': {getattr(err, 'text', '') or err.msg}. Check the URI "
            "and that the libvirt daemon is running and reachable by this user.",
            uri=shown,
        )
    return outcome["conn"]


class Connection:
    """One libvirt connection; every call to libvirt goes through ``call()``."""

    def __init__(self, uri: str, readonly: bool = False, events: bool = False, timeout: float | None = DEFAULT_CONNECT_TIMEOUT) -> None:
        self.uri = uri
        # Called with each libvirt function before it is called (the inventory counts them).
        self.observe: Callable[[Callable[..., Any]], None] | None = None
        self.shown_uri = redact_uri(uri)
        self.readonly = readonly
        self.events = events
        self.timeout = timeout
        self._reconnecting = threading.Lock()
        # How often the connection was opened again: a handle got before that belongs to a dead connection.
        self.generation = 0
        if events:
            start_event_loop()
        self.raw: VirConnect = open_raw(uri, readonly, timeout)
        self._keepalive()

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _keepalive(self) -> None:
        """With events, ask the daemon for keepalive messages, so a daemon that stops
        answering breaks the connection instead of hanging a call."""
        if self.events:  # local drivers (test:///) have no keepalive: nothing can hang there
            with contextlib.suppress(libvirt.libvirtError):
                self.raw.setKeepAlive(KEEPALIVE_INTERVAL, KEEPALIVE_COUNT)

    def call(self, what: str, func: Callable[..., Any], *args: Any, domain: str | None = None) -> Any:
        if self.observe is not None:
            self.observe(func)
        return call(what, func, *args, uri=self.uri, domain=domain)

    def close(self) -> None:
        raw, self.raw = self.raw, None
        if raw is not None:  # closing a broken connection fails: nothing left to release then
            with contextlib.suppress(libvirt.libvirtError):
                raw.close()

    def reconnect(
        self, deadline: float, clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep, since: int | None = None
    ) -> None:
        """Open the connection again, with backoff, until ``deadline`` (a ``clock()``
        value); ConnectionLostError when the daemon is not back by then.

        Threads sharing the connection may all find it broken: ``since`` is the
        ``generation`` the caller's handles come from; when another thread has opened
        the connection again since then, the caller goes on with that one."""
        with self._reconnecting:
            if since is not None and since != self.generation and self.raw is not None:
                return
            self._reopen(deadline, clock, sleep)
            self.generation += 1

    def _reopen(self, deadline: float, clock: Callable[[], float], sleep: Callable[[float], None]) -> None:
        self.close()
        delay = 0.25
        last = ""
        while True:
            left = deadline - clock()
            if left <= 0:
                raise ConnectionLostError(
                    f"The libvirt daemon at URI '{self.shown_uri}' did not come back in time{f' (last error: {last})' if last else ''}.", None, last
                )
            try:
                self.raw = open_raw(self.uri, self.readonly, min(self.timeout or left, max(left, 0.1)))
                self._keepalive()
                return
            except VirtOpsError as err:
                last = err.msg
            sleep(min(delay, max(deadline - clock(), 0)))
            delay = min(delay * 2, 2.0)

    # -- domains ------------------------------------------------------------------------
    def find(self, name: str | None = None, uuid: str | None = None) -> VirDomain | None:
        """The domain named ``name`` (or with ``uuid``), or None when there is none."""
        wanted = f"named '{name}'" if name is not None else f"with UUID '{uuid}'"
        try:
            if name is not None:
                return self.call(f"look up the domain {wanted}", self.raw.lookupByName, name)
            return self.call(f"look up the domain {wanted}", self.raw.lookupByUUIDString, uuid)
        except LibvirtCallError as err:
            if err.code == libvirt.VIR_ERR_NO_DOMAIN:
                return None
            raise

    def lookup(self, name: str | None = None, uuid: str | None = None) -> VirDomain:
        """The domain named ``name`` (or with ``uuid``), or VirtOpsError saying there is none."""
        domain = self.find(name, uuid)
        if domain is None:
            wanted = f"named '{name}'" if name is not None else f"with UUID '{uuid}'"
            raise VirtOpsError(
                f"No domain {wanted} at URI '{self.shown_uri}'. List the defined domains with: virsh -c '{self.shown_uri}' list --all", uri=self.shown_uri
            )
        return domain
