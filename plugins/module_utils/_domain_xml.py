# Copyright: (c) 2026, virtops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The domain XML: safe parsing, carrying identity (UUID, MACs) into a new
definition, comparing a desired definition with libvirt's, and rendering both
for --diff with secrets masked.

One comparison, ``differences()``, decides ``changed``, check mode and the diff.
"""

from __future__ import annotations

import difflib
import hashlib
import re
import traceback

from ansible_collections.virtops.libvirt.plugins.module_utils._errors import VirtOpsError

try:
    from lxml import etree
except ImportError:
    etree = None
    LXML_IMPORT_ERROR: str | None = traceback.format_exc()
else:
    LXML_IMPORT_ERROR = None

VIRTOPS_NS = "https://virtops.dev/xmlns/libvirt/1"
MASK = "********"
# Attributes that hold secrets libvirt only shows with VIR_DOMAIN_XML_SECURE.
SECRET_ATTRIBUTES = {("graphics", "passwd")}
_DECLARATIONS = re.compile(r"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
_UNITS = {
    "b": 1, "bytes": 1, "kb": 1000, "k": 1024, "kib": 1024, "mb": 1000 ** 2, "m": 1024 ** 2, "mib": 1024 ** 2,
    "gb": 1000 ** 3, "g": 1024 ** 3, "gib": 1024 ** 3, "tb": 1000 ** 4, "t": 1024 ** 4, "tib": 1024 ** 4,
}
# Attributes scaled by a sibling unit attribute (e.g. NUMA <cell memory= unit=>).
_SCALED_ATTRIBUTES = ("memory", "size")


def _parser():
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
                           remove_comments=True, remove_pis=True, huge_tree=False)


def parse_domain(text: str, source: str = "xml"):
    """Parse a domain definition without ever reading a file or URL through it."""
    if _DECLARATIONS.search(text):
        raise VirtOpsError(
            f"The domain XML in {source} declares a DTD or entities (<!DOCTYPE> / <!ENTITY>); such XML is "
            "refused so that nothing is ever read or expanded through it. Remove the declaration.")
    try:
        root = etree.fromstring(text.encode("utf-8"), _parser())
    except etree.XMLSyntaxError as err:
        raise VirtOpsError(f"The domain XML in {source} is not well-formed: {err}.") from err
    if root.tag != "domain":
        raise VirtOpsError(f"The XML in {source} is a <{root.tag}>, not a <domain> definition.")
    return root


def to_text(root, mask: bool = True) -> str:
    """Pretty XML for diffs and results, with secrets masked."""
    copy = _copy(root)
    if mask:
        for element in copy.iter():
            for tag, attribute in SECRET_ATTRIBUTES:
                if element.tag == tag and element.get(attribute) is not None:
                    element.set(attribute, MASK)
    etree.indent(copy, space="  ")
    return etree.tostring(copy, encoding="unicode") + "\n"


def _copy(root):
    return etree.fromstring(etree.tostring(root), _parser())


def domain_name(root) -> str | None:
    element = root.find("name")
    return element.text.strip() if element is not None and element.text else None


def with_identity(desired, current):
    """The desired definition carrying the current UUID and the MAC of every NIC
    the user left without one (matched in order), so a re-define keeps them."""
    result = _copy(desired)
    current_uuid = current.findtext("uuid")
    if result.find("uuid") is None and current_uuid:
        uuid = etree.Element("uuid")
        uuid.text = current_uuid
        name = result.find("name")
        (name.addnext(uuid) if name is not None else result.insert(0, uuid))
    written = {mac.get("address", "").lower() for mac in result.iterfind("devices/interface/mac")}
    spare = [mac.get("address") for mac in current.iterfind("devices/interface/mac")
             if mac.get("address", "").lower() not in written]
    for nic, mac in zip([nic for nic in result.iterfind("devices/interface") if nic.find("mac") is None], spare):
        nic.insert(0, etree.Element("mac", address=mac))
    _carry_generated(result, current)
    return result


def _carry_generated(result, current) -> None:
    """Values libvirt generates anew on every define when left empty: the VM
    generation ID and Open vSwitch port IDs (matched by NIC MAC address)."""
    genid, current_genid = result.find("genid"), current.findtext("genid")
    if genid is not None and not (genid.text or "").strip() and current_genid:
        genid.text = current_genid
    port_ids = {nic.find("mac").get("address", "").lower(): nic.find("virtualport/parameters").get("interfaceid")
                for nic in current.iterfind("devices/interface")
                if nic.find("mac") is not None and nic.find("virtualport/parameters[@interfaceid]") is not None}
    for nic in result.iterfind("devices/interface"):
        mac, port = nic.find("mac"), nic.find("virtualport[@type='openvswitch']")
        if mac is None or port is None or port.find("parameters[@interfaceid]") is not None:
            continue
        interface_id = port_ids.get(mac.get("address", "").lower())
        if interface_id:
            parameters = port.find("parameters")
            if parameters is None:
                parameters = etree.SubElement(port, "parameters")
            parameters.set("interfaceid", interface_id)


# -- comparison -----------------------------------------------------------------
def differences(desired, current) -> list[str]:
    """Where ``current`` does not hold what ``desired`` says (empty: it holds it all).

    Attributes and text the desired definition sets must be equal (after libvirt's
    normalisations: units, hex/decimal numbers, machine aliases, case of MACs and
    UUIDs); child elements are matched by tag, each desired child to a distinct
    current child that holds all of it, in any order. Whatever else the current
    definition has (what libvirt adds by itself) is not a difference.
    """
    found: list[str] = []
    _compare(desired, current, f"/{desired.tag}", found)
    return found


def _compare(desired, current, path: str, found: list[str]) -> None:
    _compare_values(desired, current, path, found)
    have = _elements(current)
    used: set[int] = set()  # positions in ``have`` (lxml element proxies have no stable id())
    for index, child in enumerate(_elements(desired)):
        match = _find_match(child, have, used)
        if match is not None:
            used.add(match)
            continue
        if _libvirt_drops(child):
            continue
        child_path = f"{path}/{_local(child.tag)}"
        same_tag = [c for position, c in enumerate(have) if position not in used and c.tag == child.tag]
        if len(same_tag) == 1:  # one candidate: say exactly what differs in it
            _compare(child, same_tag[0], child_path, found)
        else:
            found.append(f"{child_path}[{index + 1}]: {_describe(child)} is not in the current definition as written")


_QEMU_CHANNEL_DIR = "/var/lib/libvirt/qemu/channel/target/"


def _libvirt_drops(element) -> bool:
    """Elements libvirt accepts but does not keep in the persistent definition."""
    parent = element.getparent()
    if parent is None:
        return False
    if parent.tag == "metadata":
        # libvirt keeps one metadata element per namespace (the first), none without a namespace
        namespace = etree.QName(element).namespace
        return namespace is None or any(etree.QName(sibling).namespace == namespace
                                        for sibling in element.itersiblings(preceding=True))
    # libvirt (re)makes a guest channel's socket path in its own directory when the domain starts
    return (element.tag == "source" and parent.tag == "channel" and parent.get("type") == "unix"
            and set(element.attrib) <= {"mode", "path"} and element.get("mode") == "bind"
            and element.get("path", _QEMU_CHANNEL_DIR).startswith(_QEMU_CHANNEL_DIR))


def _find_match(child, have: list, used: set[int]) -> int | None:
    for position, candidate in enumerate(have):
        if position not in used and candidate.tag == child.tag and not differences_between(child, candidate):
            return position
    return None


def differences_between(desired, current) -> list[str]:
    found: list[str] = []
    _compare(desired, current, _local(desired.tag), found)
    return found


def _compare_values(desired, current, path: str, found: list[str]) -> None:
    unit = desired.get("unit")
    for name, value in desired.attrib.items():
        if name == "unit" and _scalable(desired):
            continue
        have = current.get(name)
        if name in _SCALED_ATTRIBUTES and unit is not None:
            same = _scaled(value, unit) == _scaled(have, current.get("unit", "KiB"))
        else:
            same = have is not None and _same_value(desired.tag, name, value, have)
        if not same:
            found.append(f"{path}/@{name}: want {value!r}, have {have!r}")
    want_text = (desired.text or "").strip()
    if want_text:
        have_text = (current.text or "").strip()
        if want_text.isdigit() and (desired.get("unit") is not None or current.get("unit") is not None):
            same = _scaled(want_text, desired.get("unit", "KiB")) == _scaled(have_text, current.get("unit", "KiB"))
        else:
            same = _same_value(desired.tag, None, want_text, have_text)
        if not same:
            found.append(f"{path}: want {want_text!r}, have {have_text!r}")


def _scalable(element) -> bool:
    return bool((element.text or "").strip()) or any(name in element.attrib for name in _SCALED_ATTRIBUTES)


def _scaled(value: str | None, unit: str | None) -> int | None:
    """The amount in KiB, rounded up as libvirt stores it."""
    try:
        return -(-int(value) * _UNITS[(unit or "KiB").lower()] // 1024)
    except (TypeError, ValueError, KeyError):
        return None


def _same_value(tag: str, attribute: str | None, want: str, have: str) -> bool:
    if want == have:
        return True
    if (tag, attribute) in (("mac", "address"), ("uuid", None)):
        return want.lower() == have.lower()
    if (tag, attribute) == ("type", "machine"):
        return _machine_matches(want, have)
    return _number(want) is not None and _number(want) == _number(have)


def _machine_matches(want: str, have: str) -> bool:
    """libvirt turns the aliases 'pc' and 'q35' into the versioned machine type."""
    aliases = {"pc": "pc-i440fx-", "q35": "pc-q35-"}
    return want in aliases and have.startswith(aliases[want])


def _number(value: str | None) -> int | None:
    try:
        return int(value, 0)
    except (TypeError, ValueError):
        return None


def _elements(element):
    return [child for child in element if isinstance(child.tag, str)]


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _describe(element) -> str:
    attributes = " ".join(f"{_local(k)}={v!r}" for k, v in list(element.attrib.items())[:3])
    return f"<{_local(element.tag)}{' ' + attributes if attributes else ''}>"


# -- rendering ---------------------------------------------------------------------
def unified_diff(before: str, after: str, name: str) -> str:
    return "".join(difflib.unified_diff(before.splitlines(True), after.splitlines(True),
                                        f"{name} (persistent definition before)", f"{name} (after)"))


# -- match=exact: what was applied, recorded in the domain's own metadata -----------
APPLIED = f"{{{VIRTOPS_NS}}}applied"


def fingerprint(root) -> str:
    """A stable hash of a definition, leaving out the applied record itself."""
    return hashlib.sha256(etree.tostring(without_applied(root), method="c14n")).hexdigest()


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


# -- live definitions -----------------------------------------------------------------
# What libvirt adds to a running domain's XML that is not part of its definition.
_RUNTIME_ATTRIBUTES = {("domain", "id"), ("graphics", "port"), ("graphics", "websocket"), ("graphics", "tlsPort")}


def runtime_free(live):
    """A running domain's XML without what only exists while it runs."""
    copy = _copy(live)
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
