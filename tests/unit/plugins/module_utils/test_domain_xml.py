"""The domain XML comparison: safe parsing, subset matching with libvirt's
normalisations, identity carry-over, masking and match=exact records."""

from __future__ import annotations

import pytest

from ansible_collections.virtops.libvirt.plugins.module_utils import _domain_xml as dxml
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import VirtOpsError

CANONICAL = """<domain type='qemu'>
  <name>web1</name>
  <uuid>6695eb01-f6a4-8304-79aa-97f2502e193f</uuid>
  <memory unit='KiB'>1048576</memory>
  <vcpu placement='static'>2</vcpu>
  <os><type arch='x86_64' machine='pc-i440fx-7.2'>hvm</type><boot dev='hd'/></os>
  <cpu><numa><cell id='0' cpus='0-1' memory='1048576' unit='KiB'/></numa></cpu>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'><source file='/a.qcow2'/><target dev='vda' bus='virtio'/>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x04' function='0x0'/></disk>
    <disk type='file' device='disk'><source file='/b.qcow2'/><target dev='vdb' bus='virtio'/></disk>
    <controller type='usb' index='0' model='piix3-uhci'/>
    <interface type='network'><mac address='52:54:00:aa:bb:cc'/><source network='default'/><model type='virtio'/></interface>
    <interface type='network'><mac address='52:54:00:dd:ee:ff'/><source network='default'/><model type='e1000'/></interface>
    <graphics type='vnc' port='-1' autoport='yes' passwd='s3cret'/>
  </devices>
</domain>"""

DESIRED = """<domain type='qemu'>
  <name>web1</name>
  <memory unit='GiB'>1</memory>
  <vcpu>2</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <cpu><numa><cell id='0' cpus='0-1' memory='1' unit='GiB'/></numa></cpu>
  <devices>
    <disk type='file' device='disk'><source file='/b.qcow2'/><target dev='vdb' bus='virtio'/></disk>
    <disk type='file' device='disk'><source file='/a.qcow2'/><target dev='vda' bus='virtio'/>
      <address type='pci' slot='4'/></disk>
    <interface type='network'><source network='default'/><model type='virtio'/></interface>
    <interface type='network'><mac address='52:54:00:DD:EE:FF'/><source network='default'/><model type='e1000'/></interface>
    <graphics type='vnc' passwd='s3cret'/>
  </devices>
</domain>"""


def parse(text):
    return dxml.parse_domain(text)


def test_libvirt_normalisations_are_not_differences():
    assert dxml.differences(parse(DESIRED), parse(CANONICAL)) == []


@pytest.mark.parametrize(("old", "new"), [
    ("<memory unit='GiB'>1</memory>", "<memory unit='GiB'>2</memory>"),
    ("<vcpu>2</vcpu>", "<vcpu>3</vcpu>"),
    ("source file='/b.qcow2'", "source file='/c.qcow2'"),
    ("<model type='e1000'/>", "<model type='rtl8139'/>"),
    ("machine='pc'", "machine='q35'"),
    ("passwd='s3cret'", "passwd='other'"),
    ("memory='1' unit='GiB'", "memory='2' unit='GiB'"),
    ("<name>web1</name>", "<name>web1</name><description>new</description>"),
])
def test_a_single_field_mutation_is_a_difference(old, new):
    assert old in DESIRED
    found = dxml.differences(parse(DESIRED.replace(old, new)), parse(CANONICAL))
    assert len(found) == 1, found


def test_identity_is_carried_over_without_stealing_an_explicit_mac():
    carried = dxml.with_identity(parse(DESIRED), parse(CANONICAL))
    assert carried.findtext("uuid") == "6695eb01-f6a4-8304-79aa-97f2502e193f"
    macs = [mac.get("address") for mac in carried.iterfind("devices/interface/mac")]
    assert macs == ["52:54:00:aa:bb:cc", "52:54:00:DD:EE:FF"]


@pytest.mark.parametrize("hostile", [
    "<!DOCTYPE domain [<!ENTITY x SYSTEM 'file:///etc/shadow'>]><domain><name>&x;</name></domain>",
    "<!DOCTYPE domain SYSTEM 'http://example.com/evil.dtd'><domain/>",
    "<?xml version='1.0'?>\n<!doctype domain><domain/>",
])
def test_dtds_and_entities_are_refused(hostile):
    with pytest.raises(VirtOpsError, match="declares a DTD or entities"):
        parse(hostile)


@pytest.mark.parametrize(("text", "message"), [
    ("<domain><name>x</name>", "not well-formed"),
    ("<network><name>x</name></network>", "is a <network>, not a <domain>"),
])
def test_malformed_xml_is_a_clear_error(text, message):
    with pytest.raises(VirtOpsError, match=message):
        parse(text)


def test_secrets_are_masked():
    text = dxml.to_text(parse(CANONICAL))
    assert "s3cret" not in text and f'passwd="{dxml.MASK}"' in text


def test_exact_records_what_was_applied():
    desired = parse(DESIRED)
    assert dxml.exact_differences(desired, parse(CANONICAL))  # never applied with exact
    applied = dxml.with_applied(parse(CANONICAL), dxml.fingerprint(desired))
    applied = dxml.with_applied(applied, dxml.fingerprint(desired), dxml.fingerprint(applied))
    assert dxml.exact_differences(desired, applied) == []
    changed_elsewhere = dxml.parse_domain(dxml.etree.tostring(applied, encoding="unicode").replace(
        "piix3-uhci", "ich9-ehci1"))
    assert dxml.exact_differences(desired, changed_elsewhere) == ["the definition was changed since it was applied"]
    other = parse(DESIRED.replace("<vcpu>2</vcpu>", "<vcpu>3</vcpu>"))
    assert "the desired definition differs from the one last applied" in dxml.exact_differences(other, applied)


def test_generated_ids_are_carried_over():
    current = parse(CANONICAL.replace("<name>web1</name>", "<name>web1</name><genid>43dc0cf8-809b-4adb-9bea-a9abb5f3d90d</genid>")
                    .replace("<model type='virtio'/></interface>", "<model type='virtio'/><virtualport type='openvswitch'>"
                             "<parameters interfaceid='09b11c53-8b5c-4eeb-8f00-d84eaa0aaa4f'/></virtualport></interface>"))
    desired = parse(DESIRED.replace("<name>web1</name>", "<name>web1</name><genid/>")
                    .replace("<model type='virtio'/></interface>", "<model type='virtio'/><virtualport type='openvswitch'/></interface>"))
    carried = dxml.with_identity(desired, current)
    assert carried.findtext("genid") == "43dc0cf8-809b-4adb-9bea-a9abb5f3d90d"
    assert carried.find("devices/interface/virtualport/parameters").get("interfaceid") == "09b11c53-8b5c-4eeb-8f00-d84eaa0aaa4f"
