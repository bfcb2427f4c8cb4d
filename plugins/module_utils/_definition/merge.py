# Copyright: (c) 2026, virtops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The three-way apply: from what was last applied (the record's document), what is
desired now and libvirt's persistent definition, the one definition to define.

- What the desired template sets wins (values libvirt holds in another spelling,
  such as 524288 KiB for 512 MiB, are left as libvirt wrote them).
- What the user removed from the template since the last apply is removed.
- What the user never owned (added out of band, or by libvirt) is kept; devices
  added out of band are reported as not owned, and removed only with
  ``unowned=remove``.
- Without a record (a domain defined outside this collection, or before it kept
  one) nothing is removed: the template is compared as a subset, then recorded.

The merge edits a copy of libvirt's definition, so the predicted definition, the
diff and the list of changes all come from this one result, and a one-line change
of the template is a one-line change of the definition."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ansible_collections.virtops.libvirt.plugins.module_utils._core import xml as dxml
from ansible_collections.virtops.libvirt.plugins.module_utils._definition import match
from ansible_collections.virtops.libvirt.plugins.module_utils._definition.compare import (
    SCALED_ATTRIBUTES,
    UNITS,
    describe,
    libvirt_drops,
    same_value,
    scaled,
)
from ansible_collections.virtops.libvirt.plugins.module_utils._definition.identity import with_identity
from ansible_collections.virtops.libvirt.plugins.module_utils._definition.record import Record, fingerprint, without_record


@dataclass
class Plan:
    """The definition to define and why (``changes``), with what is kept unowned (``notes``)."""

    merged: Any
    changes: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    owned: list = field(default_factory=list)  # the merged device each desired device became, in order
    foreign: list = field(default_factory=list)  # merged devices kept that were added out of band
    removed: list[str] = field(default_factory=list)  # keys of the devices removed
    adopted: bool = False
    rebuilt: bool = False


def plan_apply(record: Record | None, desired, current, prune: bool = False) -> Plan:
    """The merge of ``desired`` into ``current`` (libvirt's persistent definition)."""
    return _Merge(record, desired, without_record(current), prune).run()


class _Merge:
    def __init__(self, record: Record | None, desired, current, prune: bool) -> None:
        self.record = record
        self.applied = record.document() if record is not None else None
        self.desired = desired
        self.current = current
        self.prune = prune and record is not None
        # libvirt's definition is still what it made of the applied template: where the
        # template did not change, a value libvirt holds differently is its own spelling
        self.settled = record is not None and record.fingerprint == fingerprint(current)
        self.plan = Plan(merged=dxml.copy(current), adopted=record is None)

    def run(self) -> Plan:
        reason = _rebuild_reason(self.desired, self.current)
        if reason:
            return self.rebuild(reason)
        merged = self.plan.merged
        old_memory = _kib(merged.find("memory"))
        self.element(self.desired, self.applied, merged, "")
        self.follow_memory(old_memory)
        return self.plan

    def rebuild(self, reason: str) -> Plan:
        """A new domain type, architecture or machine family: libvirt's additions no
        longer fit, so the template is defined as it is, with the domain's identity."""
        self.plan.merged = with_identity(self.desired, self.current)
        self.plan.rebuilt = True
        self.plan.changes.append(f"{reason}: the definition is made anew from the template, keeping the UUID and the MAC addresses")
        self.plan.owned = match.elements(self.plan.merged.find("devices"))
        return self.plan

    # -- one element: its values, then its children ------------------------------------
    def element(self, want, applied, have, path: str) -> None:
        if path not in ("", "devices") and self.settled and applied is not None and _unedited(want, applied):
            return
        self.values(want, applied, have, path)
        if path == "devices":
            self.devices(want, applied, have)
        else:
            self.children(want, applied, have, path)

    def values(self, want, applied, have, path: str) -> None:
        settled = self.settled and applied is not None

        def edited(name: str) -> bool:
            """Whether the template changed this value since it was applied (a secret: always compared)."""
            if not settled or dxml.is_secret(want.tag, None if name == "text" else name):
                return True
            if name == "text":
                return (want.text or "").strip() != (applied.text or "").strip()
            return want.get(name) != applied.get(name)

        handled = self.amounts(want, have, path, edited) | {"unit"}  # a unit moves only with its amount
        for name, value in want.attrib.items():
            if name in handled or not edited(name):
                continue
            old = have.get(name)
            if old is None or not same_value(want.tag, name, value, old):
                have.set(name, value)
                self.change(f"{path}/@{name}", want.tag, name, old, value)
        if applied is not None:
            for name in applied.attrib:
                if name not in want.attrib and name not in handled and name != "unit" and name in have.attrib:
                    self.change(f"{path}/@{name}", want.tag, name, have.attrib.pop(name), None)
        text = (want.text or "").strip()
        old_text = (have.text or "").strip()
        if "text" not in handled and text and edited("text") and not same_value(want.tag, None, text, old_text):
            have.text = text
            self.change(path, want.tag, None, old_text or None, text)
        elif not text and applied is not None and (applied.text or "").strip() and old_text:
            have.text = None
            self.change(path, want.tag, None, old_text, None)

    def amounts(self, want, have, path: str, edited) -> set[str]:
        """Amounts with a unit (memory, sizes): compared in KiB and written as libvirt
        stores them; returns the names handled ('text' for the element's text)."""
        unit = want.get("unit")
        text = (want.text or "").strip()
        names = [name for name in SCALED_ATTRIBUTES if name in want.attrib]
        if unit is None and have.get("unit") is None or not (names or text.isdigit()):
            return set()
        handled = {"unit"}
        for name in [*names, "text"] if text.isdigit() else names:
            value = text if name == "text" else want.get(name)
            old = (have.text or "").strip() if name == "text" else have.get(name)
            want_kib, old_kib = scaled(value, unit), scaled(old, have.get("unit"))
            if want_kib is None:
                return handled - {"unit"}  # not an amount after all: compared as a value
            handled.add(name)
            if want_kib == old_kib or not (edited(name) or edited("unit")):
                continue
            if name == "text":
                have.text = str(want_kib)
            else:
                have.set(name, str(want_kib))
            if have.get("unit") is not None or unit is not None:
                have.set("unit", "KiB")
            where = path if name == "text" else f"{path}/@{name}"
            self.plan.changes.append(f"{where}: {_amount(old_kib, unit)} -> {_amount(want_kib, unit)}")
        return handled

    def children(self, want, applied, have, path: str) -> None:
        wanted, before, present = match.elements(want), match.elements(applied), match.elements(have)
        to_applied = match.pair_templates(wanted, before, match.child_key) if applied is not None else {}
        owned = match.pair(before, present, match.child_key)
        to_present = {position: owned[other] for position, other in to_applied.items() if other in owned}
        rest = [position for position in range(len(wanted)) if position not in to_present]
        found = match.pair([wanted[position] for position in rest], present, match.child_key, taken=set(owned.values()) | set(to_present.values()))
        to_present.update({rest[index]: other for index, other in found.items()})
        for position, element in enumerate(wanted):
            child_path = _join(path, dxml.local_name(element.tag))
            previous = before[to_applied[position]] if position in to_applied else None
            if position in to_present:
                self.element(element, previous, present[to_present[position]], child_path)
            elif not libvirt_drops(element):  # (what libvirt would drop again is no change)
                _insert(have, dxml.copy(element))
                self.plan.changes.append(f"{child_path}: added {describe(element)}")
        kept = set(to_applied.values())
        for position, element in enumerate(before):
            if position not in kept and position in owned:
                have.remove(present[owned[position]])
                self.plan.changes.append(f"{_join(path, dxml.local_name(element.tag))}: removed {describe(element)}")
        if path == "":
            self.unowned_elements(present, set(to_present.values()) | set(owned.values()))

    def unowned_elements(self, present: list, paired: set[int]) -> None:
        if self.record is None:
            return
        for position, element in enumerate(present):
            tag = dxml.local_name(element.tag)
            if position in paired or tag in self.record.seen or tag in ("uuid", "metadata"):
                continue
            if self.prune:
                self.plan.merged.remove(element)
                self.plan.changes.append(f"{tag}: removed {describe(element)}, not owned (added outside the template; unowned=remove)")
            else:
                self.plan.notes.append(f"{tag}: not owned, kept ({describe(element)} was added outside the template)")

    # -- devices: by identity ----------------------------------------------------------
    def devices(self, want, applied, have) -> None:
        wanted, before, present = match.elements(want), match.elements(applied), match.elements(have)
        keys = match.full_keys(present)
        to_applied = match.pair_templates(wanted, before, match.device_key) if applied is not None else {}
        owned = self.owned_devices(before, present, keys)
        to_present = {position: owned[other] for position, other in to_applied.items() if other in owned}
        rest = [position for position in range(len(wanted)) if position not in to_present]
        found = match.pair(
            [wanted[position] for position in rest],
            present,
            match.device_key,
            by_position=self.record is None,
            taken=set(owned.values()) | set(to_present.values()),
        )
        to_present.update({rest[index]: other for index, other in found.items()})
        for position, device in enumerate(wanted):
            previous = before[to_applied[position]] if position in to_applied else None
            if position in to_present:
                target = present[to_present[position]]
                self.device(device, previous, target, f"devices/{_bracket(keys[to_present[position]])}")
            else:
                target = dxml.copy(device)
                _insert(have, target)
                self.plan.changes.append(f"devices/{dxml.local_name(device.tag)}: added {describe(device)}")
            self.plan.owned.append(target)
        kept = set(to_applied.values())
        for position in range(len(before)):
            if position not in kept and position in owned:
                have.remove(present[owned[position]])
                self.plan.removed.append(keys[owned[position]])
                self.plan.changes.append(f"devices/{_bracket(keys[owned[position]])}: removed")
        paired = set(to_present.values()) | set(owned.values())
        for position, device in enumerate(present):
            if position not in paired:
                self.unowned_device(have, device, keys[position])

    def owned_devices(self, before: list, present: list, keys: list[str]) -> dict[int, int]:
        """Devices of the applied template -> devices of libvirt's definition: by the keys
        the record noted for them, then by content."""
        owned: dict[int, int] = {}
        recorded = self.record.owned if self.record is not None else []
        for position, key in enumerate(recorded[: len(before)]):
            if key in keys and keys.index(key) not in owned.values():
                owned[position] = keys.index(key)
        rest = [position for position in range(len(before)) if position not in owned]
        found = match.pair([before[position] for position in rest], present, match.device_key, by_position=False, taken=set(owned.values()))
        owned.update({rest[index]: other for index, other in found.items()})
        return owned

    def device(self, want, applied, have, path: str) -> None:
        bus = _buses(have)
        self.element(want, applied, have, path)
        address = have.find("address")
        if _buses(have) != bus and want.find("address") is None and address is not None:
            have.remove(address)  # an address on the old bus: libvirt gives it one on the new bus
            self.plan.changes.append(f"{path}/address: removed (the bus changed; libvirt assigns a new address)")

    def unowned_device(self, devices, device, key: str) -> None:
        if self.record is None or (key in self.record.seen and key not in self.record.foreign):
            return  # libvirt's own (or, without a record, not known)
        label = f"devices/{_bracket(key)}"
        if self.prune:
            devices.remove(device)
            self.plan.removed.append(key)
            self.plan.changes.append(f"{label}: removed, not owned (added outside the template; unowned=remove)")
            return
        self.plan.foreign.append(device)
        self.plan.notes.append(f"{label}: not owned, kept ({describe(device)} was added outside the template)")

    # -- what libvirt derived from a value that changed ----------------------------------
    def follow_memory(self, old_memory: int | None) -> None:
        """libvirt sets <currentMemory> from <memory> when a definition leaves it out: a
        currentMemory the template does not set follows a change of memory."""
        merged = self.plan.merged
        memory, current = _kib(merged.find("memory")), merged.find("currentMemory")
        if memory is None or memory == old_memory or current is None or self.desired.find("currentMemory") is not None:
            return
        balloon = _kib(current)
        if balloon is not None and (balloon == old_memory or balloon > memory):
            current.text, unit = str(memory), self.desired.find("memory").get("unit")
            current.set("unit", "KiB")
            self.plan.changes.append(f"currentMemory: {_amount(balloon, unit)} -> {_amount(memory, unit)} (follows memory)")

    def change(self, where: str, tag: str, attribute: str | None, old: str | None, new: str | None) -> None:
        secret = dxml.is_secret(tag, attribute)
        shown = [dxml.MASK if secret and value is not None else value for value in (old, new)]
        if new is None:
            self.plan.changes.append(f"{where}: removed {shown[0]!r}")
        elif old is None:
            self.plan.changes.append(f"{where}: set to {shown[1]!r}")
        else:
            self.plan.changes.append(f"{where}: {shown[0]!r} -> {shown[1]!r}")


def _unedited(want, applied) -> bool:
    """Whether the template holds this element exactly as it was applied (and no secret,
    which the record keeps masked)."""
    if any(dxml.is_secret(element.tag, name) for element in want.iter() for name in [None, *element.attrib]):
        return False
    return match.canonical(want) == match.canonical(applied)


def _rebuild_reason(desired, current) -> str:
    if desired.get("type") not in (None, current.get("type")):
        return f"the domain type changes from {current.get('type')!r} to {desired.get('type')!r}"
    want, have = desired.find("os/type"), current.find("os/type")
    if want is None or have is None:
        return ""
    if want.get("arch") not in (None, have.get("arch")):
        return f"the architecture changes from {have.get('arch')!r} to {want.get('arch')!r}"
    if want.get("machine") is not None and _family(want.get("machine")) != _family(have.get("machine")):
        return f"the machine type changes from {have.get('machine')!r} to {want.get('machine')!r}"
    return ""


def _family(machine: str | None) -> str:
    name = machine or ""
    if name == "pc" or name.startswith("pc-i440fx-"):
        return "i440fx"
    if name == "q35" or name.startswith("pc-q35-"):
        return "q35"
    return name


def _kib(element) -> int | None:
    return scaled((element.text or "").strip(), element.get("unit")) if element is not None else None


def _amount(kib: int | None, unit: str | None) -> str:
    """An amount in the template's unit when it is a whole number of them, else in KiB."""
    if kib is None:
        return "none"
    factor = UNITS.get((unit or "KiB").lower(), 1024)
    return f"{kib * 1024 // factor} {unit}" if unit and kib * 1024 % factor == 0 else f"{kib} KiB"


def _buses(device) -> list[str]:
    """The buses a device names (a disk's target bus, ...), its address aside."""
    return [element.get("bus") for element in device.iter() if isinstance(element.tag, str) and element.tag != "address" and element.get("bus")]


def _insert(parent, element) -> None:
    """After the last sibling of the same tag, else at the end (libvirt keeps device order)."""
    same = [child for child in parent if child.tag == element.tag]
    if same:
        same[-1].addnext(element)
    else:
        parent.append(element)
    element.tail = same[-1].tail if same else None


def _join(path: str, tag: str) -> str:
    return f"{path}/{tag}" if path else tag


def _bracket(key: str) -> str:
    tag, _space, rest = key.partition(" ")
    return f"{tag}[{rest}]" if rest else tag
