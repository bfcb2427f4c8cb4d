# Copyright: (c) 2026, virtops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What virt_domain checks before it writes anything, in check mode too, so that
check mode does not predict success where the real run would fail: the UUID of the
template against the domain's and every other domain's, two devices with one
identity, and (in check mode, where libvirt does not validate for us) libvirt's own
schema."""

from __future__ import annotations

import re
from typing import Any

from ansible_collections.virtops.libvirt.plugins.module_utils._core.client import Connection
from ansible_collections.virtops.libvirt.plugins.module_utils._core.errors import VirtOpsError
from ansible_collections.virtops.libvirt.plugins.module_utils._core.schema import schema_problems
from ansible_collections.virtops.libvirt.plugins.module_utils._definition import match

_UUID = re.compile(r"^[0-9a-fA-F]{32}$")


def check(conn: Connection, name: str, desired: Any, current: Any, merged: Any, check_mode: bool) -> None:
    """VirtOpsError naming the conflict when the definition could not be written."""
    _check_uuid(conn, name, desired, current)
    if merged is not None:
        _check_devices(name, merged)
    if check_mode and merged is not None:
        problems = schema_problems(merged, conn)
        if problems:
            raise VirtOpsError(
                f"The definition of domain '{name}' does not follow libvirt's schema (domain.rng), so libvirt would "
                f"refuse it: {'; '.join(problems)}. Correct the template; see https://libvirt.org/formatdomain.html."
            )


def _check_devices(name: str, merged: Any) -> None:
    """Two devices with one identity (a disk's target dev, a NIC's MAC): libvirt refuses them."""
    seen: set[str] = set()
    for device in match.elements(merged.find("devices")):
        key = match.device_key(device)
        if key is not None and key.startswith(("disk ", "interface ")):
            if key in seen:
                raise VirtOpsError(
                    f"The definition of domain '{name}' would have two devices with the identity '{key}', which libvirt "
                    "refuses. Give each disk its own target dev and each NIC its own MAC address in the template (a device "
                    "added out of band keeps its own: see differences)."
                )
            seen.add(key)


def _check_uuid(conn: Connection, name: str, desired: Any, current: Any) -> None:
    wanted = (desired.findtext("uuid") or "").strip()
    if not wanted or not _UUID.match(wanted.replace("-", "")):
        return  # none given (the domain keeps or gets one), or malformed (libvirt's own error says so)
    have = (current.findtext("uuid") or "").strip() if current is not None else ""
    if have and have.replace("-", "").lower() != wanted.replace("-", "").lower():
        raise VirtOpsError(
            f"The XML gives domain '{name}' the UUID {wanted}, but it has the UUID {have}, and a domain's UUID cannot "
            "change. Remove <uuid> from the template (the domain keeps its own) or write its UUID."
        )
    if current is None:
        other = conn.find(uuid=wanted)
        if other is not None:
            owner = conn.call("read its name", other.name, domain=name)
            raise VirtOpsError(
                f"The XML gives domain '{name}' the UUID {wanted}, which domain '{owner}' already has. Give the new "
                "domain another UUID, or leave <uuid> out and libvirt makes one."
            )
