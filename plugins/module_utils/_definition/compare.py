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

UNITS = {
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
SCALED_ATTRIBUTES = ("memory", "size")


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
        if libvirt_drops(child):
            continue
        child_path = f"{path}/{_local(child.tag)}"
        same_tag = [c for position, c in enumerate(have) if position not in used and c.tag == child.tag]
        if len(same_tag) == 1:  # one candidate: say exactly what differs in it
            _compare(child, same_tag[0], child_path, found)
        else:
            found.append(f"{child_path}[{index + 1}]: {describe(child)} is not in the current definition as written")


_QEMU_CHANNEL_DIR = "/var/lib/libvirt/qemu/channel/target/"


def libvirt_drops(element) -> bool:
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
        if name == "unit" and scalable(desired):
            continue
        have = current.get(name)
        if name in SCALED_ATTRIBUTES and unit is not None:
            same = scaled(value, unit) == scaled(have, current.get("unit", "KiB"))
        else:
            same = have is not None and same_value(desired.tag, name, value, have)
        if not same:
            shown = (MASK, MASK) if is_secret(desired.tag, name) else (value, have)
            found.append(f"{path}/@{name}: want {shown[0]!r}, have {shown[1]!r}")
    want_text = (desired.text or "").strip()
    if want_text:
        have_text = (current.text or "").strip()
        if want_text.isdigit() and (desired.get("unit") is not None or current.get("unit") is not None):
            same = scaled(want_text, desired.get("unit", "KiB")) == scaled(have_text, current.get("unit", "KiB"))
        else:
            same = same_value(desired.tag, None, want_text, have_text)
        if not same:
            shown = (MASK, MASK) if is_secret(desired.tag, None) else (want_text, have_text)
            found.append(f"{path}: want {shown[0]!r}, have {shown[1]!r}")


def scalable(element) -> bool:
    return bool((element.text or "").strip()) or any(name in element.attrib for name in SCALED_ATTRIBUTES)


def scaled(value: str | None, unit: str | None) -> int | None:
    """The amount in KiB, rounded up as libvirt stores it."""
    if value is None:
        return None
    try:
        return -(-int(value) * UNITS[(unit or "KiB").lower()] // 1024)
    except (ValueError, KeyError):
        return None


def same_value(tag: str, attribute: str | None, want: str, have: str) -> bool:
    """Whether libvirt holds ``want`` as ``have`` (its rewrites: case, dashes of a UUID,
    machine aliases, CPU lists, numbers in another base or with leading zeros)."""
    if want == have:
        return True
    if (tag, attribute) == ("mac", "address"):
        return want.lower() == have.lower()
    if (tag, attribute) == ("uuid", None):
        return want.replace("-", "").lower() == have.replace("-", "").lower()
    if (tag, attribute) == ("type", "machine"):
        return _machine_matches(want, have)
    if attribute in _CPU_LISTS:
        return cpu_list(want) is not None and cpu_list(want) == cpu_list(have)
    return bool(_readings(want) & _readings(have))


def _readings(value: str) -> set[int]:
    """The integers libvirt may read ``value`` as: a leading zero means octal where it
    reads base 0 (PCI addresses), decimal where it reads base 10 (counts)."""
    found = {number(value)} - {None}
    text = value.strip()
    if len(text) > 1 and text[0] == "0" and text.isdigit():
        found.add(int(text, 10))
    return found  # type: ignore[return-value]


# Attributes holding a list of CPUs or NUMA nodes ('0-3,^2'), which libvirt rewrites ('0-1,3').
_CPU_LISTS = ("cpuset", "cpus", "nodeset")
_MAX_CPUS = 16384


def cpu_list(value: str) -> frozenset[int] | None:
    """The CPUs of a libvirt CPU list ('0,1', '0-3,^2'); None when it is not one."""
    chosen: set[int] = set()
    excluded: set[int] = set()
    for part in value.replace(" ", "").split(","):
        target = excluded if part.startswith("^") else chosen
        low, _sep, high = part.lstrip("^").partition("-")
        if not low.isdigit() or (high and not high.isdigit()) or (high and not 0 <= int(high) - int(low) <= _MAX_CPUS):
            return None
        target.update(range(int(low), int(high or low) + 1))
    return frozenset(chosen - excluded)


def _machine_matches(want: str, have: str) -> bool:
    """libvirt turns the aliases 'pc' and 'q35' into the versioned machine type."""
    aliases = {"pc": "pc-i440fx-", "q35": "pc-q35-"}
    return want in aliases and have.startswith(aliases[want])


def number(value: str | None) -> int | None:
    """An integer as libvirt reads it (base 0 of strtol: '0x07', '07' octal, '7')."""
    if value is None:
        return None
    text = value.strip()
    try:
        if len(text) > 1 and text[0] == "0" and text.isdigit():
            return int(text, 8) if "8" not in text and "9" not in text else int(text, 10)
        return int(text, 0)
    except ValueError:
        return None


def _elements(element):
    return [child for child in element if isinstance(child.tag, str)]


def describe(element) -> str:
    attributes = " ".join(f"{_local(k)}={MASK if is_secret(element.tag, k) else v!r}" for k, v in list(element.attrib.items())[:3])
    return f"<{_local(element.tag)}{' ' + attributes if attributes else ''}>"
