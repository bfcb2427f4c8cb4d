"""The shape of the inventory cache: what the reader writes is usable, anything
else is refused with a reason that names places and types, never values."""

from __future__ import annotations

import copy

import pytest

from ansible_collections.virtops.libvirt.plugins.plugin_utils._cache import cache_problem
from ansible_collections.virtops.libvirt.plugins.plugin_utils._reader import HypervisorReader, ReadRequest

URI = "qemu+ssh://root@kvm1/system"
SECRET = "SECRET-LINE-123"


def snapshot(**changes):
    domain = {
        "name": "web1",
        "uuid": "6695eb01-f6a4-8304-79aa-97f2502e193f",
        "id": 1,
        "state": "running",
        "state_reason": "booted",
        "persistent": True,
        "autostart": False,
        "vcpus": 2,
        "memory_mib": 1024,
        "ips": ["192.0.2.10"],
        "addresses": [
            {
                "interface": "vnet0",
                "mac": "52:54:00:00:00:01",
                "network": "default",
                "bridge": "virbr0",
                "family": "ipv4",
                "address": "192.0.2.10",
                "prefix": 24,
                "source": "lease",
            }
        ],
        "tags": ["web"],
    }
    return {"uri": URI, "label": "kvm1", "names": ["web1", "db1"], "domains": [domain], **changes}


def test_what_the_reader_writes_is_usable(client, make_domain):
    make_domain("db1")
    data = HypervisorReader(client, ReadRequest(read_tags=True), lambda _msg: None).read()
    assert cache_problem([{"uri": "test:///default", "label": "localhost", **data}], ["test:///default"]) is None
    assert cache_problem([snapshot()], [URI]) is None
    untagged = snapshot()
    del untagged["domains"][0]["tags"]  # read_tags off
    assert cache_problem([untagged, {**snapshot(uri="test:///default", label="lab"), "domains": []}], [URI, "test:///default"]) is None


def _domain(**changes):
    data = snapshot()
    data["domains"][0].update(changes)
    return [data]


def _without(key, domain=False):
    data = copy.deepcopy(snapshot())
    del (data["domains"][0] if domain else data)[key]
    return [data]


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (SECRET, "it holds a str, not a list of hypervisors"),
        ({"uri": URI}, "it holds a dict, not a list of hypervisors"),
        (None, "it holds a NoneType, not a list of hypervisors"),
        ([], "it was written for other uris"),
        ([snapshot(uri="test:///default")], "it was written for other uris"),
        ([snapshot(), snapshot(label="kvm2")], "it was written for other uris"),
        ([SECRET], "hypervisor 1 is a str, not a mapping"),
        (_without("uri"), "hypervisor 1 has no uri"),
        ([snapshot(label="")], "hypervisor 1 has no label"),
        ([snapshot(label="a@b")], "hypervisor 1 has a label with '@'"),
        ([snapshot(), snapshot()], "hypervisor 2 has a label with '@' or that of another hypervisor"),
        (_without("names"), "hypervisor 1 has no names"),
        ([snapshot(names=[SECRET, 1])], "hypervisor 1 has no names (a list of strings)"),
        ([snapshot(domains={"web1": {}})], "hypervisor 1 has no domains"),
        ([snapshot(domains=[SECRET])], "hypervisor 1 domain 1 is a str, not a mapping"),
        (_without("uuid", domain=True), "hypervisor 1 domain 1 has no uuid"),
        (_domain(id="1"), "hypervisor 1 domain 1 has an unusable id (not an integer or null"),
        (_domain(state=SECRET), "hypervisor 1 domain 1 has an unusable state (not one of running, paused"),
        (_domain(persistent=1), "hypervisor 1 domain 1 has an unusable persistent (not a boolean"),
        (_domain(vcpus=True), "hypervisor 1 domain 1 has an unusable vcpus (not an integer"),
        (_domain(memory_mib=1.5), "hypervisor 1 domain 1 has an unusable memory_mib (not an integer"),
        (_domain(ips="192.0.2.10"), "hypervisor 1 domain 1 has an unusable ips (not a list of strings"),
        (_domain(addresses=["192.0.2.10"]), "hypervisor 1 domain 1 has an unusable addresses (not a list of addresses"),
        (_domain(addresses=[{"address": "192.0.2.10"}]), "hypervisor 1 domain 1 has an unusable addresses (not a list of addresses"),
        (_domain(addresses=[{**snapshot()["domains"][0]["addresses"][0], "prefix": "24"}]), "hypervisor 1 domain 1 has an unusable addresses"),
        (_domain(tags=[SECRET, None]), "hypervisor 1 domain 1 has an unusable tags (not a list of strings"),
        (_domain(name="cache1"), "hypervisor 1 domain 1 is not among the names of its hypervisor"),
    ],
)
def test_anything_else_is_refused_without_showing_values(data, problem):
    found = cache_problem(data, [URI])
    assert found is not None and found.startswith(problem), found
    assert SECRET not in found and "kvm1" not in found
