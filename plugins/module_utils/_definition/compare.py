# Copyright: (c) 2026, virtops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Comparing a desired domain definition with libvirt's: one comparison,
``differences()``, decides ``changed``, check mode and the diff. Secret values
never appear in what it reports."""

from __future__ import annotations

from ansible_collections.virtops.libvirt.plugins.module_utils._core.xml import (
    MASK,
    etree,
    is_secret,
)
from ansible_collections.virtops.libvirt.plugins.module_utils._core.xml import (
    local_name as _local,
)

_UNITS = {
    "b": 1,
    "bytes": 1,
    "kb": 1000,
    "k": 1024,
    "kib": 1024,
    "mb": 1000**2,
    "m": 1024**2,
    "mib": 1024**2,
    "gb": 1000**3,
    "g": 1024**3,
    "gib": 1024**3,
    "tb": 1000**4,
    "t": 1024**4,
    "tib": 1024**4,
}
# Attributes scaled by a sibling unit attribute (e.g. NUMA <cell memory= unit=>).
_SCALED_ATTRIBUTES = ("memory", "size")


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
        return namespace is None or any(etree.QName(sibling).namespace == namespace for sibling in element.itersiblings(preceding=True))
    # libvirt (re)makes a guest channel's socket path in its own directory when the domain starts
    return (
        element.tag == "source"
        and parent.tag == "channel"
        and parent.get("type") == "unix"
        and set(element.attrib) <= {"mode", "path"}
        and element.get("mode") == "bind"
        and element.get("path", _QEMU_CHANNEL_DIR).startswith(_QEMU_CHANNEL_DIR)
    )


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
            shown = (MASK, MASK) if is_secret(desired.tag, name) else (value, have)
            found.append(f"{path}/@{name}: want {shown[0]!r}, have {shown[1]!r}")
    want_text = (desired.text or "").strip()
    if want_text:
        have_text = (current.text or "").strip()
        if want_text.isdigit() and (desired.get("unit") is not None or current.get("unit") is not None):
            same = _scaled(want_text, desired.get("unit", "KiB")) == _scaled(have_text, current.get("unit", "KiB"))
        else:
            same = _same_value(desired.tag, None, want_text, have_text)
        if not same:
            shown = (MASK, MASK) if is_secret(desired.tag, None) else (want_text, have_text)
            found.append(f"{path}: want {shown[0]!r}, have {shown[1]!r}")


def _scalable(element) -> bool:
    return bool((element.text or "").strip()) or any(name in element.attrib for name in _SCALED_ATTRIBUTES)


def _scaled(value: str | None, unit: str | None) -> int | None:
    """The amount in KiB, rounded up as libvirt stores it."""
    if value is None:
        return None
    try:
        return -(-int(value) * _UNITS[(unit or "KiB").lower()] // 1024)
    except (ValueError, KeyError):
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
    if value is None:
        return None
    try:
        return int(value, 0)
    except ValueError:
        return None


def _elements(element):
    return [child for child in element if isinstance(child.tag, str)]


def _describe(element) -> str:
    attributes = " ".join(f"{_local(k)}={MASK if is_secret(element.tag, k) else v!r}" for k, v in list(element.attrib.items())[:3])
    return f"<{_local(element.tag)}{' ' + attributes if attributes else ''}>"
