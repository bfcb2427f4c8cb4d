"""The domain XML comparison: subset matching with libvirt's normalisations."""

from __future__ import annotations

import pytest

from ansible_collections.virtops.libvirt.plugins.module_utils._core import xml as dxml
from ansible_collections.virtops.libvirt.plugins.module_utils._definition.compare import differences

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
    assert differences(parse(DESIRED), parse(CANONICAL)) == []


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("<memory unit='GiB'>1</memory>", "<memory unit='GiB'>2</memory>"),
        ("<vcpu>2</vcpu>", "<vcpu>3</vcpu>"),
        ("source file='/b.qcow2'", "source file='/c.qcow2'"),
        ("<model type='e1000'/>", "<model type='rtl8139'/>"),
        ("machine='pc'", "machine='q35'"),
        ("passwd='s3cret'", "passwd='other'"),
        ("memory='1' unit='GiB'", "memory='2' unit='GiB'"),
        ("<name>web1</name>", "<name>web1</name><description>new</description>"),
    ],
)
def test_a_single_field_mutation_is_a_difference(old, new):
    assert old in DESIRED
    found = differences(parse(DESIRED.replace(old, new)), parse(CANONICAL))
    assert len(found) == 1, found


COOKIE_DISK = """<disk type='network' device='cdrom'>
      <source protocol='https' name='/x.iso' query='token=OLDTOKEN'><host name='example.com' port='443'/>
        <cookies><cookie name='session'>OLDCOOKIE</cookie></cookies></source>
      <target dev='hdc' bus='ide'/><readonly/></disk>
    <graphics type='vnc' port='-1' autoport='yes' passwd='s3cret'/>"""


def test_differences_never_show_a_secret():
    current = parse(CANONICAL.replace("<graphics type='vnc' port='-1' autoport='yes' passwd='s3cret'/>", COOKIE_DISK))
    desired = parse(
        DESIRED.replace(
            "<graphics type='vnc' passwd='s3cret'/>", COOKIE_DISK.replace("OLDTOKEN", "NEWTOKEN").replace("OLDCOOKIE", "NEWCOOKIE").replace("s3cret", "n3wpass")
        )
    )
    found = differences(desired, current)
    assert len(found) == 3, found
    shown = "\n".join(found)
    assert not [secret for secret in ("OLDTOKEN", "NEWTOKEN", "OLDCOOKIE", "NEWCOOKIE", "s3cret", "n3wpass") if secret in shown], shown
    assert "/domain/devices/graphics/@passwd: want '********', have '********'" in found
