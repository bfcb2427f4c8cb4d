"""The three-way merge, on definitions libvirt's test driver made: what the template
sets wins, what it removed goes, what it never owned stays."""

from __future__ import annotations

import libvirt
import pytest

from ansible_collections.virtops.libvirt.plugins.module_utils._core import xml as dxml
from ansible_collections.virtops.libvirt.plugins.module_utils._definition import match
from ansible_collections.virtops.libvirt.plugins.module_utils._definition import record as drecord
from ansible_collections.virtops.libvirt.plugins.module_utils._definition.merge import plan_apply

XML = """<domain type='test'>
  <name>merge1</name>
  <memory unit='MiB'>128</memory>
  <vcpu cpuset='0,1'>1</vcpu>
  <os><type>hvm</type></os>
  <features><acpi/><pae/></features>
  <devices>
    <interface type='network'><source network='a'/></interface>
    <interface type='network'><source network='b'/></interface>
  </devices>
</domain>"""


@pytest.fixture
def stored(conn):
    """libvirt's definition of XML and the record of applying it, as virt_domain writes it."""
    domain = conn.defineXML(XML)
    current = dxml.parse_domain(domain.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE | libvirt.VIR_DOMAIN_XML_SECURE))
    desired = dxml.parse_domain(XML)
    plan = plan_apply(None, desired, current)
    devices = match.elements(current.find("devices"))
    keys = match.full_keys(devices)
    made = match.pair(plan.owned, devices, match.device_key)
    record = drecord.Record(
        desired=drecord.normalised(desired),
        owned=[keys[made[position]] for position in range(len(plan.owned))],
        seen=keys + sorted({dxml.local_name(element.tag) for element in current}),
        fingerprint=drecord.fingerprint(current),
    )
    yield current, record
    domain.undefine()


def apply(stored, xml: str, prune: bool = False):
    current, record = stored
    return plan_apply(record, dxml.parse_domain(xml), current, prune)


def macs(root) -> list[str]:
    return [mac.get("address") for mac in root.iterfind("devices/interface/mac")]


def test_adopting_compares_as_a_subset(stored):
    current, _record = stored
    plan = plan_apply(None, dxml.parse_domain(XML), current)
    assert (plan.changes, plan.notes, plan.adopted) == ([], [], True)  # 0,1 is libvirt's 0-1, 128 MiB its 131072 KiB


def test_a_value_changes_in_libvirts_units(stored):
    plan = apply(stored, XML.replace("128", "256"))
    assert plan.changes == ["memory: 128 MiB -> 256 MiB", "currentMemory: 128 MiB -> 256 MiB (follows memory)"]
    assert plan.merged.find("memory").text == "262144" and plan.merged.find("memory").get("unit") == "KiB"


def test_removing_the_first_of_two_nics_keeps_the_seconds_mac(stored):
    current, _record = stored
    plan = apply(stored, XML.replace("<interface type='network'><source network='a'/></interface>", ""))
    assert plan.changes == [f"devices/interface[mac={macs(current)[0]}]: removed"]
    assert macs(plan.merged) == macs(current)[1:]
    assert plan.removed == [f"interface mac={macs(current)[0]}"]


def test_what_the_template_removed_goes_and_what_it_never_set_stays(stored):
    plan = apply(stored, XML.replace("<pae/>", "").replace(" cpuset='0,1'", ""))
    assert sorted(plan.changes) == ["features/pae: removed <pae>", "vcpu/@cpuset: removed '0-1'"]
    assert plan.merged.find("on_crash") is not None and plan.merged.find("clock") is not None  # libvirt's, kept


def test_an_out_of_band_device_is_kept_and_reported_or_removed(stored):
    current, _record = stored
    current.find("devices").append(dxml.parse("<input type='tablet' bus='usb'/>", "t"))
    kept = apply(stored, XML)
    assert kept.changes == [] and kept.notes == ["devices/input[#1]: not owned, kept (<input type='tablet' bus='usb'> was added outside the template)"]
    pruned = apply(stored, XML, prune=True)
    assert pruned.changes == ["devices/input[#1]: removed, not owned (added outside the template; unowned=remove)"]
    assert pruned.merged.find("devices/input[@type='tablet']") is None


def test_a_new_device_is_added_after_its_kind(stored):
    plan = apply(stored, XML.replace("</devices>", "<interface type='network'><source network='c'/></interface></devices>"))
    assert plan.changes == ["devices/interface: added <interface type='network'>"]
    assert [source.get("network") for source in plan.merged.iterfind("devices/interface/source")] == ["a", "b", "c"]


def test_a_new_machine_family_rebuilds_from_the_template(stored):
    current, _record = stored
    plan = apply(stored, XML.replace("<type>hvm</type>", "<type machine='q35'>hvm</type>"))
    assert plan.rebuilt and plan.changes[0].startswith("the machine type changes from None to 'q35'")
    assert macs(plan.merged) == macs(current) and plan.merged.findtext("uuid") == current.findtext("uuid")


def test_a_unit_without_an_amount_never_rescales_the_stored_one(stored):
    plan = apply(stored, XML.replace("<memory unit='MiB'>128</memory>", "<memory unit='MiB'></memory>"))
    memory = plan.merged.find("memory")
    assert memory.get("unit") == "KiB"  # (an empty amount is the template's to fix: libvirt refuses it)
    assert plan.changes == ["memory: removed '131072'"]


def test_where_the_template_did_not_change_libvirts_spelling_stands_until_it_drifts(stored):
    current, record = stored
    current.find("os/type").text = "HVM"  # a spelling no rule knows, as libvirt might write it
    record.fingerprint = drecord.fingerprint(current)  # ... and it did, at the last apply
    plan = apply(stored, XML.replace("128", "256"))
    assert plan.changes == ["memory: 128 MiB -> 256 MiB", "currentMemory: 128 MiB -> 256 MiB (follows memory)"]
    record.fingerprint = "changed out of band since"
    drifted = apply(stored, XML.replace("128", "256"))
    assert "os/type: 'HVM' -> 'hvm'" in drifted.changes  # owned, so set back
