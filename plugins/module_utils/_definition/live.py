# Copyright: (c) 2026, virtops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Whether a running domain runs on an older definition than its persistent one
(a restart is pending). Reads only; shared by virt_domain and virt_domain_info."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ansible_collections.virtops.libvirt.plugins.module_utils._core import xml as dxml
from ansible_collections.virtops.libvirt.plugins.module_utils._core.client import Connection, libvirt
from ansible_collections.virtops.libvirt.plugins.module_utils._definition import match
from ansible_collections.virtops.libvirt.plugins.module_utils._definition import record as drecord
from ansible_collections.virtops.libvirt.plugins.module_utils._definition.compare import describe, differences, differences_between

# What libvirt adds to a running domain's XML that is not part of its definition.
_RUNTIME_ATTRIBUTES = {("domain", "id"), ("graphics", "port"), ("graphics", "websocket"), ("graphics", "tlsPort")}


def runtime_free(live):
    """A running domain's XML without what only exists while it runs."""
    copy = dxml.copy(live)
    for tag, attribute in _RUNTIME_ATTRIBUTES:
        for element in copy.iter(tag):
            element.attrib.pop(attribute, None)
    for element in copy.iterfind(".//alias"):
        element.getparent().remove(element)
    for element in copy.iterfind("seclabel"):
        copy.remove(element)
    for element in copy.iterfind("devices/interface/target"):
        element.getparent().remove(element)
    # The backing chain libvirt reads from the images when the domain starts.
    for element in copy.iterfind("devices/disk/backingStore"):
        element.getparent().remove(element)
    for element in copy.iterfind("devices/disk/source[@index]"):
        element.attrib.pop("index")
    for element in copy.iterfind("devices/*/source[@path]"):
        if element.getparent().get("type") == "pty":
            element.attrib.pop("path")
    return copy


def persistent_xml(conn: Connection, domain: Any, name: str) -> str:
    """The persistent definition, secrets included (masked only when shown)."""
    return conn.call("read its definition", domain.XMLDesc, libvirt.VIR_DOMAIN_XML_SECURE | libvirt.VIR_DOMAIN_XML_INACTIVE, domain=name)


@dataclass
class RestartPlan:
    """What a restart of a running domain would do: apply ``pending`` (the persistent
    definition says it, the running domain does not have it), lose ``live_only``
    (devices hot-plugged into the running domain and in no definition)."""

    pending: list[str] = field(default_factory=list)
    live_only: list[str] = field(default_factory=list)


def restart_plan(conn: Connection, domain: Any, name: str) -> RestartPlan:
    """The restart plan of an active, persistent domain (empty for any other)."""
    if not conn.call("read whether it is active", domain.isActive, domain=name) or not conn.call(
        "read whether it is persistent", domain.isPersistent, domain=name
    ):
        return RestartPlan()
    # MIGRATABLE formats both without the devices libvirt adds implicitly and with
    # the CPU as defined, not as expanded when the domain started.
    migratable = libvirt.VIR_DOMAIN_XML_MIGRATABLE | libvirt.VIR_DOMAIN_XML_SECURE
    stored = dxml.parse_domain(
        conn.call("read its definition", domain.XMLDesc, migratable | libvirt.VIR_DOMAIN_XML_INACTIVE, domain=name), "libvirt's definition"
    )
    record, _damage = drecord.read(stored)
    removed = set(record.removed) if record is not None else set()
    persistent = drecord.without_record(stored)
    running = drecord.without_record(
        dxml.parse_domain(conn.call("read its live definition", domain.XMLDesc, migratable, domain=name), "libvirt's live definition")
    )
    plan = RestartPlan(pending=differences(persistent, running))
    live = runtime_free(running)
    kept = match.elements(persistent.find("devices"))
    live_devices = live.find("devices")
    for device in match.elements(live_devices):
        if any(not differences_between(device, other) for other in kept):
            continue
        key = match.device_key(device)
        if key is not None and any(match.device_key(other) == key for other in kept):
            continue  # a device the definition changed: already pending
        label = describe(device) if key is None else f"{describe(device)} ({key})"
        if key in removed:
            plan.pending.append(f"devices: {label} is removed from the definition; it goes when the domain next starts")
        else:
            plan.live_only.append(label)
        live_devices.remove(device)
    reported = {line.split(":", 1)[0] for line in plan.pending}
    plan.pending += [line for line in differences(live, persistent) if line.split(":", 1)[0] not in reported]
    return plan


def pending_restart(conn: Connection, domain: Any, name: str) -> bool:
    """Whether an active domain runs on an older definition than its persistent one."""
    return bool(restart_plan(conn, domain, name).pending)
