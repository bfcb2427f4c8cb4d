# Copyright: (c) 2026, virtops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Connecting to libvirt: the URI option, opening a connection, finding a domain,
the event loop thread, and turning libvirt errors into actionable messages."""

from __future__ import annotations

import threading
import traceback
from typing import Any

from ansible.module_utils.basic import env_fallback, missing_required_lib

from ansible_collections.virtops.libvirt.plugins.module_utils._errors import (
    DomainVanishedError,
    VirtOpsError,
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

DEFAULT_URI = "qemu:///system"

URI_ARGUMENT_SPEC: dict[str, Any] = {
    "uri": {
        "type": "str",
        "default": DEFAULT_URI,
        "fallback": (env_fallback, ["LIBVIRT_DEFAULT_URI"]),
    },
}

DOMAIN_IDENTITY_ARGUMENT_SPEC: dict[str, Any] = {
    "name": {"type": "str", "aliases": ["domain"]},
    "uuid": {"type": "str"},
}
DOMAIN_IDENTITY_RULES: dict[str, Any] = {
    "required_one_of": [("name", "uuid")],
    "mutually_exclusive": [("name", "uuid")],
}

_event_loop_lock = threading.Lock()
_event_loop_started = False


def require_libvirt(module) -> None:
    """Fail the module with install advice when libvirt-python is missing."""
    if libvirt is None:
        module.fail_json(
            msg=missing_required_lib("libvirt-python", url="https://pypi.org/project/libvirt-python/"),
            exception=LIBVIRT_IMPORT_ERROR,
        )


def start_event_loop() -> None:
    """Run libvirt's default event loop in a daemon thread (once per process).

    Must happen before a connection is opened for that connection to deliver
    domain events.
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


def open_connection(uri: str, readonly: bool = False, events: bool = False):
    """Open a libvirt connection or raise VirtOpsError naming the URI."""
    if events:
        start_event_loop()
    try:
        return libvirt.openReadOnly(uri) if readonly else libvirt.open(uri)
    except libvirt.libvirtError as err:
        raise VirtOpsError(
            f"Cannot connect to libvirt at URI '{uri}': {error_text(err)}. "
            "Check the URI (option uri or LIBVIRT_DEFAULT_URI) and that the libvirt "
            "daemon is running and reachable by this user.",
            uri=uri,
        ) from err


def lookup_domain(conn, uri: str, name: str | None = None, uuid: str | None = None):
    """Return the domain named ``name`` (or with ``uuid``) or raise VirtOpsError."""
    try:
        return conn.lookupByName(name) if name is not None else conn.lookupByUUIDString(uuid)
    except libvirt.libvirtError as err:
        wanted = f"named '{name}'" if name is not None else f"with UUID '{uuid}'"
        if is_no_domain(err):
            raise VirtOpsError(
                f"No domain {wanted} at URI '{uri}'. "
                f"List the defined domains with: virsh -c {uri} list --all",
                uri=uri,
            ) from err
        raise VirtOpsError(f"Cannot look up domain {wanted} at URI '{uri}': {error_text(err)}", uri=uri) from err


def is_no_domain(err) -> bool:
    """True when a libvirt error says the domain does not exist (any more)."""
    return err.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN


def error_text(err) -> str:
    """libvirt's own message for an error, without its decorations."""
    return (err.get_error_message() or str(err)).strip()


def call(domain_name: str, what: str, func, *args):
    """Call a libvirt function for a domain; turn its error into VirtOpsError."""
    try:
        return func(*args)
    except libvirt.libvirtError as err:
        if is_no_domain(err):
            raise DomainVanishedError(f"Domain '{domain_name}' vanished while trying to {what}.") from err
        raise VirtOpsError(f"Domain '{domain_name}': cannot {what}: {error_text(err)}") from err
