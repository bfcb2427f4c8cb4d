# Copyright: (c) 2026, virtops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""XML in and out of libvirt: the one safe parse every module and the inventory
use, and the one list of secret-bearing places masked in everything shown.

Safety is decided on the parsed document, never on a text search: lxml parses
with entity resolution, DTD loading and network access off, and a document that
has a document type declaration (internal or external) is refused. Comments and
CDATA may say anything. The text is always read as UTF-8 (a Python str), whatever
encoding its XML declaration names.
"""

from __future__ import annotations

import traceback
from copy import deepcopy as _deepcopy
from typing import Any

from ansible_collections.virtops.libvirt.plugins.module_utils._core.errors import VirtOpsError

try:
    from lxml import etree
except ImportError:
    etree = None
    LXML_IMPORT_ERROR: str | None = traceback.format_exc()
else:
    LXML_IMPORT_ERROR = None

Element = Any  # an lxml.etree._Element (lxml ships no stubs usable on every supported version)

VIRTOPS_NS = "https://virtops.dev/xmlns/libvirt/1"
MASK = "********"

# Every place of a domain definition that holds a secret, as (element tag, attribute),
# attribute None meaning the element's text; elements of libvirt's own vocabulary
# only (no namespace: an application's <metadata> is its own business). libvirt
# shows the first two only with VIR_DOMAIN_XML_SECURE; this collection never shows
# any of them, anywhere (definition, diff, differences, messages).
SECRET_PLACES: tuple[tuple[str, str | None], ...] = (
    ("graphics", "passwd"),  # VNC / SPICE / RDP password
    ("cookie", None),  # disk <source protocol='http(s)'><cookies><cookie name='..'>value</cookie>
    ("source", "query"),  # disk <source protocol='http(s)' query='..'>: often a signed URL's token
    ("session", None),  # <launchSecurity type='sev'><session>: the guest owner's session blob
)


def is_secret(tag: Any, attribute: str | None) -> bool:
    """Whether the value of ``attribute`` (None: the text) of a ``tag`` element is a secret."""
    return isinstance(tag, str) and not tag.startswith("{") and (tag, attribute) in SECRET_PLACES


def secret_values(root: Element) -> set[str]:
    """The secrets a definition holds (the values at SECRET_PLACES), to scrub them from
    any text that might quote them (libvirt's error messages)."""
    found: set[str] = set()
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        values = [value for name, value in element.attrib.items() if is_secret(element.tag, name)]
        if is_secret(element.tag, None) and element.text:
            values += [element.text, element.text.strip()]
        found.update(value for value in values if value.strip())
    return found


def scrub(text: str, secrets: set[str]) -> str:
    """``text`` with every occurrence of a secret replaced by MASK (longest first)."""
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def _parser():
    return etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False, remove_comments=True, remove_pis=True, huge_tree=False, encoding="utf-8"
    )


def parse(text: Any, source: str, root_tag: str | None = None) -> Element:
    """Parse XML text safely; VirtOpsError naming ``source`` when it is not usable."""
    if etree is None:
        raise VirtOpsError("The Python library lxml is not installed; install it (pip install lxml or the python3-lxml package) where the module runs.")
    if not isinstance(text, str):
        raise VirtOpsError(f"The XML in {source} must be a string, not {type(text).__name__}.")
    if "\x00" in text:
        raise VirtOpsError(f"The XML in {source} contains a NUL character; XML cannot hold one.")
    try:
        root = etree.fromstring(text.encode("utf-8", "surrogatepass"), _parser())
    except (etree.XMLSyntaxError, ValueError, UnicodeError) as err:
        raise VirtOpsError(f"The XML in {source} is not well-formed: {err}.") from err
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.system_url or docinfo.public_id:
        raise VirtOpsError(
            f"The XML in {source} has a document type declaration (<!DOCTYPE ...>), which may declare "
            "entities; such XML is refused so that nothing is ever read or expanded through it. Remove it."
        )
    if root_tag is not None and root.tag != root_tag:
        raise VirtOpsError(f"The XML in {source} is a <{_local(str(root.tag))}>, not a <{root_tag}>.")
    return root


def parse_domain(text: Any, source: str = "xml") -> Element:
    """A domain definition, parsed safely."""
    return parse(text, source, "domain")


def copy(root: Element) -> Element:
    """A deep copy of ``root``, standalone (without the text that followed it)."""
    result = _deepcopy(root)
    result.tail = None
    return result


def masked(root: Element) -> Element:
    """A copy of ``root`` with every secret replaced by MASK."""
    result = copy(root)
    for element in result.iter():
        if not isinstance(element.tag, str):
            continue
        for name in element.attrib:
            if is_secret(element.tag, name):
                element.set(name, MASK)
        if is_secret(element.tag, None) and (element.text or "").strip():
            element.text = MASK
    return result


SECRET_TAGS = tuple(sorted({tag for tag, _attribute in SECRET_PLACES}))


def serialised_masked(root: Element, method: str = "xml") -> bytes:
    """``root`` serialised with every secret replaced by MASK, without copying it: the
    secrets are swapped out for the serialisation and put back afterwards."""
    swapped: list[tuple[Element, str | None, str]] = []
    for element in root.iter(*SECRET_TAGS):
        for name, value in element.attrib.items():
            if is_secret(element.tag, name):
                swapped.append((element, name, value))
        if is_secret(element.tag, None) and (element.text or "").strip():
            swapped.append((element, None, element.text))
    try:
        for element, name, _value in swapped:
            _put(element, name, MASK)
        return etree.tostring(root, method=method)
    finally:
        for element, name, value in swapped:
            _put(element, name, value)


def _put(element: Element, attribute: str | None, value: str) -> None:
    """Set ``attribute`` of ``element`` (None: its text) to ``value``."""
    if attribute is None:
        element.text = value
    else:
        element.set(attribute, value)


def to_text(root: Element) -> str:
    """Pretty XML for diffs and results, secrets masked."""
    result = masked(root)
    etree.indent(result, space="  ")
    return etree.tostring(result, encoding="unicode") + "\n"


def to_libvirt(root: Element) -> str:
    """The XML text to hand to libvirt (no declaration, secrets kept)."""
    return etree.tostring(root, encoding="unicode")


def domain_name(root: Element) -> str | None:
    """The text of <name> exactly as written (None when there is none)."""
    element = root.find("name")
    return element.text if element is not None and element.text else None


def local_name(tag: str) -> str:
    return _local(tag)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]
