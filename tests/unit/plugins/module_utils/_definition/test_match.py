"""Which element is which: devices by identity, other elements by tag and naming
attribute, then content, then position."""

from __future__ import annotations

import pytest

from ansible_collections.virtops.libvirt.plugins.module_utils._core import xml as dxml
from ansible_collections.virtops.libvirt.plugins.module_utils._definition import match


def element(text: str):
    return dxml.parse(f"<devices>{text}</devices>", "test")[0]


@pytest.mark.parametrize(
    ("device", "key"),
    [
        ("<interface type='network'><mac address='52:54:00:AA:BB:CC'/></interface>", "interface mac=52:54:00:aa:bb:cc"),
        ("<interface type='network'><source network='default'/></interface>", None),
        ("<disk type='file'><target dev='vdb' bus='virtio'/></disk>", "disk dev=vdb"),
        ("<controller type='usb' index='0' model='qemu-xhci'/>", "controller usb 0"),
        ("<controller type='pci' model='pcie-root-port'/>", None),
        ("<filesystem type='mount'><target dir='share'/></filesystem>", "filesystem dir=share"),
        ("<serial type='pty'><target type='isa-serial' port='0'/></serial>", "serial target=isa-serial:0"),
        ("<channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>", "channel target=virtio:org.qemu.guest_agent.0"),
        ("<rng model='virtio'><alias name='ua-rng0'/></rng>", "rng alias=ua-rng0"),
        ("<memballoon model='virtio'><address type='pci' domain='0x0000' bus='0x00' slot='07' function='0x0'/></memballoon>", None),
        ("<video><model type='vga'/></video>", None),
    ],
)
def test_device_keys(device, key):
    if key is None and "address" in device:
        assert match.device_key(element(device)) == "memballoon address=bus=0,domain=0,function=0,slot=7,type=pci"
    else:
        assert match.device_key(element(device)) == key


def test_full_keys_name_the_rest_by_place():
    devices = [element("<video/>"), element("<disk><target dev='vda'/></disk>"), element("<video/>")]
    assert match.full_keys(devices) == ["video #1", "disk dev=vda", "video #2"]


def test_pair_by_key_then_content_then_place():
    have = [
        element("<interface type='network'><mac address='52:54:00:00:00:01'/><source network='a'/></interface>"),
        element("<interface type='network'><mac address='52:54:00:00:00:02'/><source network='b'/></interface>"),
    ]
    wanted = [
        element("<interface type='network'><source network='b'/></interface>"),
        element("<interface type='network'><mac address='52:54:00:00:00:01'/></interface>"),
    ]
    assert match.pair(wanted, have, match.device_key) == {1: 0, 0: 1}
    other = [element("<interface type='bridge'><source bridge='br0'/></interface>")]
    assert match.pair(other, have, match.device_key) == {0: 0}
    assert match.pair(other, have, match.device_key, by_position=False) == {}
    explicit = [element("<interface type='network'><mac address='52:54:00:00:00:09'/></interface>")]
    assert match.pair(explicit, have, match.device_key) == {}  # another MAC is another NIC


def test_pair_templates_finds_what_was_removed():
    applied = [element("<interface type='network'><source network='a'/></interface>"), element("<interface type='network'><source network='b'/></interface>")]
    assert match.pair_templates(applied[1:], applied, match.device_key) == {0: 1}
    edited = [element("<interface type='network'><source network='a'/><model type='e1000'/></interface>")] + applied[1:]
    assert match.pair_templates(edited, applied, match.device_key) == {1: 1, 0: 0}


def test_child_keys():
    assert match.child_key(dxml.parse("<feature name='vmx' policy='disable'/>", "t")) == "feature name=vmx"
    assert match.child_key(dxml.parse("<boot dev='hd'/>", "t")) == "boot dev=hd"
    assert match.child_key(dxml.parse("<on_crash>destroy</on_crash>", "t")) is None
