# Copyright: (c) 2026, virtops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Whether a running domain runs on an older definition than its persistent one
(a restart is pending). Reads only; shared by virt_domain and virt_domain_info."""

from __future__ import annotations

from typing import Any

from ansible_collections.virtops.libvirt.plugins.module_utils._core import xml as dxml
from ansible_collections.virtops.libvirt.plugins.module_utils._core.client import Connection, libvirt
from ansible_collections.virtops.libvirt.plugins.module_utils._definition.applied import without_applied
from ansible_collections.virtops.libvirt.plugins.module_utils._definition.compare import differences

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
    for element in copy.iterfind("devices/*/source[@path]"):
        if element.getparent().get("type") == "pty":
            element.attrib.pop("path")
    return copy


def persistent_xml(conn: Connection, domain: Any, name: str) -> str:
    """The persistent definition, secrets included (masked only when shown)."""
    return conn.call("read its definition", domain.XMLDesc, libvirt.VIR_DOMAIN_XML_SECURE | libvirt.VIR_DOMAIN_XML_INACTIVE, domain=name)


def pending_restart(conn: Connection, domain: Any, name: str) -> bool:
    """Whether an active domain's persistent definition differs from the running one."""
    if not conn.call("read whether it is active", domain.isActive, domain=name) or not conn.call(
        "read whether it is persistent", domain.isPersistent, domain=name
    ):
        return False
    # MIGRATABLE formats both without the devices libvirt adds implicitly and with
    # the CPU as defined, not as expanded when the domain started.
    migratable = libvirt.VIR_DOMAIN_XML_MIGRATABLE | libvirt.VIR_DOMAIN_XML_SECURE
    persistent = dxml.parse_domain(
        conn.call("read its definition", domain.XMLDesc, migratable | libvirt.VIR_DOMAIN_XML_INACTIVE, domain=name), "libvirt's definition"
    )
    live = dxml.parse_domain(conn.call("read its live definition", domain.XMLDesc, migratable, domain=name), "libvirt's live definition")
    return bool(differences(without_applied(persistent), live) or differences(runtime_free(live), persistent))
