"""Two definitions of one domain the unit tests share: what libvirt made of it
(CANONICAL) and what a user wrote (DESIRED), the same once libvirt's
normalisations are taken into account."""

from __future__ import annotations

from ansible_collections.virtops.libvirt.plugins.module_utils._core import xml as dxml

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
