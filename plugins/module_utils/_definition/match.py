# Copyright: (c) 2026, virtops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which element of one definition is which element of another: devices by their
identity (MAC, target dev, controller index, alias, address, ...), other elements
by tag and naming attribute, then by content, then by position. Removing one of
two NICs therefore moves no MAC address."""

from __future__ import annotations

from ansible_collections.virtops.libvirt.plugins.module_utils._core import xml as dxml
from ansible_collections.virtops.libvirt.plugins.module_utils._definition.compare import differences_between, number

# Attributes that name an element among its siblings of the same tag (outside <devices>).
_NAMING = ("name", "id", "vcpu", "iothread", "dev", "model")
# Devices told apart by their <target>: which of its attributes.
_TARGETED = {"serial": ("type", "port"), "console": ("type", "port"), "parallel": ("port",), "channel": ("type", "name")}


def elements(parent) -> list:
    return [child for child in parent if isinstance(child.tag, str)] if parent is not None else []


def device_key(device) -> str | None:
    """A device's identity, when the device says enough to have one."""
    tag = dxml.local_name(device.tag)
    alias = device.find("alias")
    if alias is not None and (alias.get("name") or "").startswith("ua-"):
        return f"{tag} alias={alias.get('name')}"
    if tag == "interface":
        mac = device.find("mac")
        return f"interface mac={mac.get('address', '').lower()}" if mac is not None and mac.get("address") else None
    if tag == "disk":
        target = device.find("target")
        return f"disk dev={target.get('dev')}" if target is not None and target.get("dev") else None
    if tag == "controller":
        index = number(device.get("index"))
        return f"controller {device.get('type', 'pci')} {index}" if index is not None else None
    if tag == "filesystem":
        target = device.find("target")
        return f"filesystem dir={target.get('dir')}" if target is not None and target.get("dir") else None
    if tag in _TARGETED:
        target = device.find("target")
        if target is not None and any(target.get(name) for name in _TARGETED[tag]):
            return f"{tag} target=" + ":".join(target.get(name, "") for name in _TARGETED[tag])
    if tag == "hostdev" and device.find("source/address") is not None:
        return f"hostdev source={_address(device.find('source/address'))}"
    address = device.find("address")
    if address is not None and len(address.attrib) > 1:
        return f"{tag} address={_address(address)}"
    return None


def _address(address) -> str:
    return ",".join(f"{name}={_value(value)}" for name, value in sorted(address.attrib.items()))


def _value(value: str) -> str:
    parsed = number(value)
    return str(parsed) if parsed is not None else value


def full_keys(devices: list) -> list[str]:
    """Every device's key, those without one named by their tag and place among that tag."""
    counts: dict[str, int] = {}
    keys = []
    for device in devices:
        tag = dxml.local_name(device.tag)
        counts[tag] = counts.get(tag, 0) + 1
        keys.append(device_key(device) or f"{tag} #{counts[tag]}")
    return keys


def child_key(element) -> str | None:
    for name in _NAMING:
        if element.get(name) is not None:
            return f"{element.tag} {name}={element.get(name)}"
    return None


def pair(wanted: list, have: list, key, by_content: bool = True, by_position: bool = True, taken: set[int] | None = None) -> dict[int, int]:
    """Positions in ``have`` for positions in ``wanted``: first the same key, then (with
    ``by_content``) an element that holds all a wanted one says, then (with
    ``by_position``) the next one of the same tag. Positions in ``taken`` are not used."""
    used = set(taken or ())
    found: dict[int, int] = {}
    by_key: dict[str, list[int]] = {}
    for candidate, element in enumerate(have):
        candidate_key = key(element)
        if candidate_key is not None and candidate not in used:
            by_key.setdefault(candidate_key, []).append(candidate)
    for position, element in enumerate(wanted):
        candidates = by_key.get(key(element) or "", [])
        if candidates:
            found[position] = candidates.pop(0)
            used.add(found[position])
    passes = [lambda w, h: not differences_between(w, h)] if by_content else []
    if by_position:
        passes.append(lambda w, h: key(w) is None or key(h) is None or key(w) == key(h))
    for test in passes:
        for position, element in enumerate(wanted):
            if position in found:
                continue
            for candidate, other in enumerate(have):
                if candidate not in used and other.tag == element.tag and test(element, other):
                    found[position] = candidate
                    used.add(candidate)
                    break
    return found


def canonical(element) -> bytes:
    """An element's content in one form (secrets masked), to tell equal ones apart from others."""
    return dxml.etree.tostring(dxml.masked(element), method="c14n")


def pair_templates(wanted: list, applied: list, key) -> dict[int, int]:
    """Elements of the desired template for elements of the applied one: the same
    key, then exactly the same content, then the next one of the same tag."""
    found = pair(wanted, applied, key, by_content=False, by_position=False)
    used = set(found.values())
    forms = [canonical(element) for element in applied]
    for position, element in enumerate(wanted):
        if position in found:
            continue
        form = canonical(element)
        for candidate, other in enumerate(forms):
            if candidate not in used and other == form:
                found[position] = candidate
                used.add(candidate)
                break
    rest = pair(
        [element for position, element in enumerate(wanted) if position not in found],
        applied,
        key,
        by_content=False,
        taken=used,
    )
    unpaired = [position for position in range(len(wanted)) if position not in found]
    found.update({unpaired[index]: candidate for index, candidate in rest.items()})
    return found
