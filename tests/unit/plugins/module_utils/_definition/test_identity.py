"""Identity carry-over: UUID, MACs and generated IDs survive a re-define."""

from __future__ import annotations

from domain_samples import CANONICAL, DESIRED, parse

from ansible_collections.virtops.libvirt.plugins.module_utils._definition.identity import with_identity


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
