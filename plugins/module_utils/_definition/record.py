# Copyright: (c) 2026, virtops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The last-applied record: what virt_domain applied to a domain, kept in the
domain's own ``<metadata>`` under the collection's applied namespace (never the
tags' namespace: libvirt keeps one metadata element per namespace).

It holds the desired document as the user gave it (normalised, secrets masked),
the fingerprint of the persistent definition libvirt made of it, and the identity
keys of the devices: those the template owns (in its order), those kept although
nobody owns them (added out of band), all of them at the time of the apply, and
those the template removed (from a running domain they go at its next start).

A fingerprint is taken with the secrets masked: the record is readable by anyone
who may read the definition, and a hash of a short password is easily guessed.
Secrets are compared by value instead (``secrets_held``)."""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
import re
import zlib
from dataclasses import dataclass, field

from ansible_collections.virtops.libvirt.plugins.module_utils._core import xml as dxml
from ansible_collections.virtops.libvirt.plugins.module_utils._core.errors import VirtOpsError

NAMESPACE = "https://virtops.dev/xmlns/libvirt/applied/1"
PREFIX = "virtopsapplied"
TAG = f"{{{NAMESPACE}}}applied"
VERSION = "1"
# A record's document is a user's template: far below this once decompressed.
_MAX_DOCUMENT = 4 * 1024 * 1024
_LISTS = ("owned", "foreign", "seen", "removed")


@dataclass
class Record:
    """What was applied: ``desired`` is the normalised, masked desired document (bytes)."""

    desired: bytes
    fingerprint: str = ""
    owned: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)
    seen: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    def element(self, namespaced: bool = True):
        """The record as an element; without its namespace for setMetadata, which adds it."""
        tag = TAG if namespaced else "applied"
        element = dxml.etree.Element(
            tag, nsmap={PREFIX: NAMESPACE} if namespaced else None, version=VERSION, template=_digest(self.desired), fingerprint=self.fingerprint
        )
        for name in _LISTS:
            element.set(name, json.dumps(getattr(self, name), separators=(",", ":")))
        element.text = base64.b64encode(zlib.compress(self.desired, 9)).decode("ascii")
        return element

    def document(self):
        """The desired document as it was applied (masked)."""
        return dxml.parse_domain(self.desired.decode("utf-8"), "the applied record")


def still_applied(desired, current) -> bool:
    """Whether ``current`` is still what libvirt made of ``desired`` when it was last applied,
    read from the record's attributes alone: the template's digest, the fingerprint, no
    device nobody owns (those are reported on every run), the secrets by value."""
    element = current.find(f"metadata/{TAG}")
    return (
        element is not None
        and element.get("version") == VERSION
        and element.get("foreign", "[]") == "[]"
        and element.get("template") == _digest(normalised(desired))
        and element.get("fingerprint") == fingerprint(current)
        and secrets_held(desired, current)
    )


def _digest(document: bytes) -> str:
    return hashlib.sha256(document).hexdigest()


def normalised(desired) -> bytes:
    """The desired document in one canonical form: secrets masked, blanks between
    elements and the applied record left out, attributes in canonical order (c14n)."""
    with _detached_record(desired):
        return _BLANKS.sub(b"><", dxml.serialised_masked(desired, "c14n")).strip()


def fingerprint(root) -> str:
    """A stable hash of a definition, secrets masked, the applied record left out."""
    with _detached_record(root):
        return hashlib.sha256(dxml.serialised_masked(root)).hexdigest()


_BLANKS = re.compile(rb">\s+<")


@contextlib.contextmanager
def _detached_record(root):
    """``root`` without its applied record (and a <metadata> it alone fills) for a moment:
    reading a definition this way costs no copy of it."""
    metadata = root.find("metadata")
    records = metadata.findall(TAG) if metadata is not None else []
    if not records:
        yield
        return
    places = [(element, metadata.index(element)) for element in records]
    for element, _place in places:
        metadata.remove(element)
    emptied = not len(metadata)
    where = root.index(metadata)
    if emptied:
        root.remove(metadata)
    try:
        yield
    finally:
        if emptied:
            root.insert(where, metadata)
        for element, place in places:
            metadata.insert(place, element)


def without_record(root):
    """A copy of ``root`` without the applied record (and without <metadata> if that empties it)."""
    copy = dxml.copy(root)
    metadata = copy.find("metadata")
    if metadata is None:
        return copy
    for element in metadata.findall(TAG):
        metadata.remove(element)
    if not len(metadata):
        copy.remove(metadata)
    return copy


def with_record(root, record: Record):
    """A copy of ``root`` holding ``record`` in its <metadata>."""
    copy = without_record(root)
    metadata = copy.find("metadata")
    if metadata is None:
        metadata = dxml.etree.SubElement(copy, "metadata")
    metadata.append(record.element())
    return copy


def read(root) -> tuple[Record | None, str]:
    """The record a definition holds, or None and why it is not usable ("" when there is none)."""
    element = root.find(f"metadata/{TAG}")
    if element is None:
        return None, ""
    if element.get("version") != VERSION:
        return None, f"its applied record has version {element.get('version')!r}, this collection writes version {VERSION}"
    try:
        desired = _inflate(element.text or "")
        lists = {name: json.loads(element.get(name) or "[]") for name in _LISTS}
        if not all(isinstance(value, list) and all(isinstance(key, str) for key in value) for value in lists.values()):
            raise ValueError("a key list is not a list of strings")
        record = Record(desired=desired, fingerprint=element.get("fingerprint", ""), **lists)
        record.document()
    except (ValueError, binascii.Error, zlib.error, VirtOpsError) as err:
        return None, f"its applied record is damaged ({err})"
    return record, ""


def _inflate(text: str) -> bytes:
    inflater = zlib.decompressobj()
    data = inflater.decompress(base64.b64decode(text.encode("ascii"), validate=True), _MAX_DOCUMENT)
    if inflater.unconsumed_tail:
        raise ValueError(f"its document is larger than {_MAX_DOCUMENT} bytes")
    return data


def secrets_held(desired, current) -> bool:
    """Whether every secret the desired document sets is in the current definition at the
    same place (tag, attribute), so a fingerprint with masked secrets can stand for it."""
    return _secrets(desired) <= _secrets(current)


def _secrets(root) -> set[tuple[str, str | None, str]]:
    found: set[tuple[str, str | None, str]] = set()
    for element in root.iter(*dxml.SECRET_TAGS):
        found.update((element.tag, name, value) for name, value in element.attrib.items() if dxml.is_secret(element.tag, name))
        if dxml.is_secret(element.tag, None) and (element.text or "").strip():
            found.add((element.tag, None, element.text.strip()))
    return found
