"""match=exact: the applied record in the domain's metadata."""

from __future__ import annotations

from ansible_collections.virtops.libvirt.plugins.module_utils._core import xml as dxml
from ansible_collections.virtops.libvirt.plugins.module_utils._definition import applied as record

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


def test_exact_records_what_was_applied():
    desired = parse(DESIRED)
    assert record.exact_differences(desired, parse(CANONICAL))  # never applied with exact
    applied = record.with_applied(parse(CANONICAL), record.fingerprint(desired))
    applied = record.with_applied(applied, record.fingerprint(desired), record.fingerprint(applied))
    assert record.exact_differences(desired, applied) == []
    changed_elsewhere = dxml.parse_domain(dxml.etree.tostring(applied, encoding="unicode").replace("piix3-uhci", "ich9-ehci1"))
    assert record.exact_differences(desired, changed_elsewhere) == ["the definition was changed since it was applied"]
    other = parse(DESIRED.replace("<vcpu>2</vcpu>", "<vcpu>3</vcpu>"))
    assert "the desired definition differs from the one last applied" in record.exact_differences(other, applied)


def test_the_record_holds_no_hash_of_a_secret():
    """Anyone who may read the definition reads the record: a hash of a short
    password would be guessed offline. A changed secret is still a difference."""
    desired = parse(DESIRED)
    other_password = parse(DESIRED.replace("passwd='s3cret'", "passwd='n3wpass'"))
    assert record.fingerprint(desired) == record.fingerprint(other_password)
    assert record.fingerprint(desired) != record.fingerprint(parse(DESIRED.replace("passwd='s3cret'", "")))
    applied = record.with_applied(parse(CANONICAL), record.fingerprint(desired))
    applied = record.with_applied(applied, record.fingerprint(desired), record.fingerprint(applied))
    assert record.exact_differences(other_password, applied) == ["/domain/devices/graphics/@passwd: want '********', have '********'"]
