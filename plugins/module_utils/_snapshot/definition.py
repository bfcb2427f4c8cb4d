# Copyright: (c) 2026, virtops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The <domainsnapshot> XML this collection hands to libvirt: a new snapshot, or an
existing one redefined (its description changed, or made current).

Built with lxml, so any name or description (``<``, ``&``, quotes) is escaped; the
text of an existing snapshot is only ever changed where asked."""

from __future__ import annotations

from typing import Any

from ansible_collections.virtops.libvirt.plugins.module_utils._core import xml as core_xml
from ansible_collections.virtops.libvirt.plugins.module_utils._snapshot.disks import Disk


def new_snapshot(name: str, description: str | None, external: bool, disks: list[Disk], files: dict[str, str]) -> str:
    """A new snapshot: internal (libvirt decides about memory: with it while the domain
    runs), or external disk-only with an overlay per writable disk (at ``files[target]``
    where given, else where libvirt chooses) and every other disk left out."""
    root = core_xml.etree.Element("domainsnapshot")
    core_xml.etree.SubElement(root, "name").text = name
    if description is not None:
        core_xml.etree.SubElement(root, "description").text = description
    if external:
        core_xml.etree.SubElement(root, "memory", snapshot="no")
        listed = core_xml.etree.SubElement(root, "disks")
        for disk in disks:
            if not disk.target:
                continue
            element = core_xml.etree.SubElement(listed, "disk", name=disk.target, snapshot="external" if disk.writable else "no")
            if disk.writable and disk.target in files:
                core_xml.etree.SubElement(element, "source", file=files[disk.target])
    return core_xml.to_libvirt(root)


def redefined(text: str, description: str | None) -> str:
    """libvirt's own XML of a snapshot (read with its secrets, as a redefinition needs),
    with its description replaced when ``description`` is not None."""
    root: Any = core_xml.parse(text, "libvirt's description of a snapshot", "domainsnapshot")
    if description is not None:
        element = root.find("description")
        if element is None:
            element = core_xml.etree.Element("description")
            root.find("name").addnext(element)
        element.text = description
    return core_xml.to_libvirt(root)
