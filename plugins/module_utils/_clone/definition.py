# Copyright: (c) 2026, virtops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The clone's definition, made from the source's persistent one: the same domain
under a new name, without the source's identity, so libvirt gives it its own.

- ``<uuid>`` goes (libvirt makes a new one), and so does a UUID written in
  ``<sysinfo>`` (libvirt refuses one that is not the domain's);
- every NIC's ``<mac>`` goes (libvirt assigns a new 52:54:00 address), with the
  Open vSwitch port ID tied to it and a host-side device name (libvirt names one);
- a VM generation ID becomes empty (libvirt makes a new one);
- virt_domain's last-applied record goes: the clone is a domain of its own, and its
  first virt_domain apply adopts it as any domain defined elsewhere;
- other metadata, graphics settings and everything else stay as they are.

Disks and NVRAM are rewritten by disks.py and nvram.py. ``identity_free`` is what
two definitions are compared on when a clone exists already."""

from __future__ import annotations

from typing import Any

from ansible_collections.virtops.libvirt.plugins.module_utils._core import xml as dxml
from ansible_collections.virtops.libvirt.plugins.module_utils._definition import compare
from ansible_collections.virtops.libvirt.plugins.module_utils._definition import record as drecord

# Each element is removed (None) or its attribute dropped.
_IDENTITY: tuple[tuple[str, str | None], ...] = (
    ("uuid", None),
    ("sysinfo/system/entry[@name='uuid']", None),
    ("devices/interface/mac", None),
    ("devices/interface/target", None),
    ("devices/interface/virtualport/parameters", "interfaceid"),
)


def clone_of(source: Any, name: str) -> Any:
    """The definition of a clone of ``source`` named ``name``, before its disks and NVRAM are placed."""
    root = drecord.without_record(source)
    root.attrib.pop("id", None)
    root.find("name").text = name
    for path, attribute in _IDENTITY:
        for element in root.findall(path):
            if attribute is None:
                element.getparent().remove(element)
            else:
                element.attrib.pop(attribute, None)
    genid = root.find("genid")
    if genid is not None:
        genid.text = None
    return root


def identity_free(root: Any) -> Any:
    """A copy of ``root`` without what every clone has of its own: its name, identity,
    disk sources, image formats and backing chains, NVRAM path, the applied record."""
    result = clone_of(root, "")
    for disk in result.iterfind("devices/disk"):
        for child in disk.findall("source") + disk.findall("backingStore"):
            disk.remove(child)
        driver = disk.find("driver")
        if driver is not None:
            driver.attrib.pop("type", None)
    for nvram in result.findall("os/nvram"):
        nvram.getparent().remove(nvram)
    return result


def differences(fresh: Any, existing: Any) -> list[str]:
    """What a fresh clone would define that the existing clone does not hold, identity aside."""
    return compare.differences(identity_free(fresh), identity_free(existing))


def file_outputs(root: Any) -> list[str]:
    """Files the domain writes that are not disks (a serial or console log): a clone writes the same ones."""
    found = []
    for element in root.iterfind("devices/*"):
        source = element.find("source")
        if element.get("type") == "file" and element.tag != "disk" and source is not None and source.get("path"):
            found.append(f"<{dxml.local_name(element.tag)}> {source.get('path')}")
        log = element.find("log")
        if log is not None and log.get("file"):
            found.append(f"<{dxml.local_name(element.tag)}><log> {log.get('file')}")
    return found
