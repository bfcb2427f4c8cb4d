"""Identity carry-over: UUID, MACs and generated IDs survive a re-define."""

from __future__ import annotations

from ansible_collections.virtops.libvirt.plugins.module_utils._core import xml as dxml
from ansible_collections.virtops.libvirt.plugins.module_utils._definition.identity import with_identity

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


def test_identity_is_carried_over_without_stealing_an_explicit_mac():
    carried = with_identity(parse(DESIRED), parse(CANONICAL))
    assert carried.findtext("uuid") == "6695eb01-f6a4-8304-79aa-97f2502e193f"
    macs = [mac.get("address") for mac in carried.iterfind("devices/interface/mac")]
    assert macs == ["52:54:00:aa:bb:cc", "52:54:00:DD:EE:FF"]


def test_generated_ids_are_carried_over():
    current = parse(
        CANONICAL.replace("<name>web1</name>", "<name>web1</name><genid>43dc0cf8-809b-4adb-9bea-a9abb5f3d90d</genid>").replace(
            "<model type='virtio'/></interface>",
            "<model type='virtio'/><virtualport type='openvswitch'><parameters interfaceid='09b11c53-8b5c-4eeb-8f00-d84eaa0aaa4f'/></virtualport></interface>",
        )
    )
    desired = parse(
        DESIRED.replace("<name>web1</name>", "<name>web1</name><genid/>").replace(
            "<model type='virtio'/></interface>", "<model type='virtio'/><virtualport type='openvswitch'/></interface>"
        )
    )
    carried = with_identity(desired, current)
    assert carried.findtext("genid") == "43dc0cf8-809b-4adb-9bea-a9abb5f3d90d"
    assert carried.find("devices/interface/virtualport/parameters").get("interfaceid") == "09b11c53-8b5c-4eeb-8f00-d84eaa0aaa4f"
