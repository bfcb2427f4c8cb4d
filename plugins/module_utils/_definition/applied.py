# Copyright: (c) 2026, virtops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""match=exact: what was applied, recorded in the domain's own metadata (the
collection's namespace) as fingerprints of the desired and the canonical definition.

A fingerprint is taken with the secrets masked: the record is readable by anyone
who may read the definition, and a hash of a short password is easily guessed.
A changed secret is still found, by the comparison of values (differences())."""

from __future__ import annotations

import hashlib

from ansible_collections.virtops.libvirt.plugins.module_utils._core.xml import VIRTOPS_NS, etree, masked
from ansible_collections.virtops.libvirt.plugins.module_utils._core.xml import copy as _copy
from ansible_collections.virtops.libvirt.plugins.module_utils._definition.compare import differences

APPLIED = f"{{{VIRTOPS_NS}}}applied"


def fingerprint(root) -> str:
    """A stable hash of a definition with its secrets masked, leaving out the applied record itself."""
    return hashlib.sha256(etree.tostring(masked(without_applied(root)), method="c14n")).hexdigest()


def without_applied(root):
    copy = _copy(root)
    for element in copy.iterfind(f"metadata/{APPLIED}"):
        element.getparent().remove(element)
    metadata = copy.find("metadata")
    if metadata is not None and not len(metadata):
        copy.remove(metadata)
    return copy


def applied_record(root) -> dict[str, str]:
    element = root.find(f"metadata/{APPLIED}")
    return dict(element.attrib) if element is not None else {}


def with_applied(root, desired: str, canonical: str = ""):
    """``root`` recording the fingerprints of the desired and the canonical definition."""
    copy = without_applied(root)
    metadata = copy.find("metadata")
    if metadata is None:
        metadata = etree.SubElement(copy, "metadata")
    etree.SubElement(metadata, APPLIED, nsmap={"virtops": VIRTOPS_NS}, desired=desired, canonical=canonical)
    return copy


def exact_differences(desired, current) -> list[str]:
    """match=exact: the current definition must be what libvirt made of exactly
    this desired definition, with nothing changed or added since."""
    record = applied_record(current)
    if not record:
        return ["the definition was not applied with match=exact yet (no virtops applied record)"]
    found = []
    if record.get("desired") != fingerprint(desired):
        found.append("the desired definition differs from the one last applied")
    if record.get("canonical") != fingerprint(current):
        found.append("the definition was changed since it was applied")
    return found + differences(desired, without_applied(current))
