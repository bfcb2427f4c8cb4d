"""ansible_host_networks: which network's address becomes ansible_host, by libvirt
network, bridge or CIDR, in the order of the option, then IPv4 first and NIC order;
no match, no ansible_host; bad entries refused; libvirt_addresses with the network of
each NIC; the definitions read only when a name needs them; text from the daemon
stays untrusted. On libvirt's test driver (it invents an address per NIC, on the
range of the NIC's network)."""

from __future__ import annotations

import ipaddress
import sys

import pytest
from ansible.errors import AnsibleParserError
from ansible.plugins.loader import inventory_loader
from inventory_harness import CallRecorder, host_vars, load_inventory, parse_with_plugin, write_config

EVIL_NETWORK = "lab-{{ 7*7 }}"
NETWORKS = {"default": ("virbr9", "192.168.122.1"), "other": ("virbr8", "10.9.0.1"), EVIL_NETWORK: ("virbr7", "10.7.0.1")}


def nic(kind: str, source: str, mac: int) -> str:
    attribute = "bridge" if kind == "bridge" else "network"
    return f"<interface type='{kind}'><mac address='52:54:00:00:00:{mac:02x}'/><source {attribute}='{source}'/></interface>"


def domain(name: str, nics: list[str], state: int | None = None) -> str:
    runstate = f"<test:runstate>{state}</test:runstate>" if state else ""
    return (
        "<domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>"
        f"<name>{name}</name><memory unit='MiB'>64</memory><os><type>hvm</type></os><devices>{''.join(nics)}</devices>{runstate}</domain>"
    )


@pytest.fixture
def uri(tmp_path):
    """multi: NICs on bridge br0, network default, network other (in that order);
    single: a NIC on default; evil: a NIC on a network whose name is a template; down: shut off."""
    domains = [
        domain("multi", [nic("bridge", "br0", 1), nic("network", "default", 2), nic("network", "other", 3)]),
        domain("single", [nic("network", "default", 4)]),
        domain("evil", [nic("network", EVIL_NETWORK, 5)]),
        domain("down", [nic("network", "other", 6)], state=5),
    ]
    networks = [
        f"<network><name>{name}</name><bridge name='{bridge}'/><ip address='{gateway}' netmask='255.255.255.0'/></network>"
        for name, (bridge, gateway) in NETWORKS.items()
    ]
    path = tmp_path / "fleet.xml"
    path.write_text("<node>" + "".join(domains + networks).replace("{{", "&#123;&#123;") + "</node>")
    return f"test://{path}"


def on(cidr: str, address: str) -> bool:
    return ipaddress.ip_address(address) in ipaddress.ip_network(cidr)


def hosts(tmp_path, uri, **options) -> dict[str, dict]:
    inventory = load_inventory(write_config(tmp_path, uri=uri, **options))
    return {name: host_vars(inventory, name) for name in ("multi", "single", "evil", "down")}


def test_without_a_choice_ansible_host_is_the_first_address_and_no_definition_is_read(tmp_path, uri, monkeypatch):
    recorder = CallRecorder().install(monkeypatch)
    found = hosts(tmp_path, uri)
    multi = found["multi"]
    assert multi["ansible_host"] == multi["libvirt_ips"][0] == multi["libvirt_addresses"][0]["address"]
    assert [address["network"] for address in multi["libvirt_addresses"]] == [None, None, None]  # not read
    assert [address["mac"] for address in multi["libvirt_addresses"]] == ["52:54:00:00:00:01", "52:54:00:00:00:02", "52:54:00:00:00:03"]
    assert found["down"]["libvirt_addresses"] == [] and "ansible_host" not in found["down"]
    assert recorder.calls["XMLDesc"] == 0


@pytest.mark.parametrize(
    ("choice", "multi", "single"),
    [
        (["other"], "10.9.0.0/24", None),  # a libvirt network: single has no NIC there
        (["default"], "192.168.122.0/24", "192.168.122.0/24"),
        (["br0"], "192.168.0.0/24", None),  # a host bridge (the test driver puts it on 192.168.0.0/24)
        (["10.9.0.0/24"], "10.9.0.0/24", None),  # a CIDR
        (["other", "default"], "10.9.0.0/24", "192.168.122.0/24"),  # the first entry that has one, per host
        (["default", "other"], "192.168.122.0/24", "192.168.122.0/24"),
        (["nowhere", "198.51.100.0/24"], None, None),  # no match: no ansible_host
    ],
)
def test_the_choice_picks_the_network_of_ansible_host(tmp_path, uri, choice, multi, single):
    found = hosts(tmp_path, uri, ansible_host_networks=choice)
    for name, cidr in (("multi", multi), ("single", single)):
        if cidr is None:
            assert "ansible_host" not in found[name], name
        else:
            assert on(cidr, found[name]["ansible_host"]), (name, found[name]["ansible_host"])
        assert found[name]["libvirt_ips"]  # the addresses are there all the same


def test_libvirt_addresses_name_the_network_of_each_nic_when_a_name_is_chosen(tmp_path, uri, monkeypatch):
    recorder = CallRecorder().install(monkeypatch)
    found = hosts(tmp_path, uri, ansible_host_networks=["default"])
    assert [(address["network"], address["bridge"], address["source"]) for address in found["multi"]["libvirt_addresses"]] == [
        ("br0", "br0", "lease"),
        ("default", None, "lease"),
        ("other", None, "lease"),
    ]
    assert recorder.calls["XMLDesc"] == 3  # one per running domain with an address; none for the shut-off one


def test_cidrs_alone_read_no_definition(tmp_path, uri, monkeypatch):
    recorder = CallRecorder().install(monkeypatch)
    found = hosts(tmp_path, uri, ansible_host_networks=["10.0.0.0/8", "fd00::/8"])
    assert on("10.9.0.0/24", found["multi"]["ansible_host"])
    assert recorder.calls["XMLDesc"] == 0


def test_compose_can_still_set_ansible_host_when_nothing_matches(tmp_path, uri):
    found = hosts(tmp_path, uri, ansible_host_networks=["other"], compose={"ansible_host": "libvirt_ips[0]"})
    assert found["single"]["ansible_host"] == found["single"]["libvirt_ips"][0]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("", "Entry 2 of option ansible_host_networks is '': give a libvirt network name, a bridge name or a CIDR"),
        ("10.9.0.0/33", "Entry 2 of option ansible_host_networks, '10.9.0.0/33', is not a valid CIDR"),
        ("10.9.0.1/24", "has host bits set"),
        ("10.9.0.1", r"is an address, not a network: give a CIDR \(10.9.0.1/32"),
    ],
)
def test_a_bad_entry_is_an_error_naming_it(tmp_path, uri, entry, message):
    with pytest.raises(AnsibleParserError, match=message):
        parse_with_plugin(write_config(tmp_path, uri=uri, ansible_host_networks=["default", entry]))


def test_network_names_from_the_daemon_stay_untrusted(tmp_path, uri, monkeypatch):
    evil = hosts(tmp_path, uri, ansible_host_networks=[EVIL_NETWORK])["evil"]
    assert evil["libvirt_addresses"][0]["network"] == EVIL_NETWORK  # verbatim, never templated
    assert on("10.7.0.0/24", evil["ansible_host"])
    # ansible-core before 2.19 templates plain strings: there the whole list is wrapped unsafe.
    plugin = inventory_loader.get("virtops.libvirt.libvirt")
    module = sys.modules[type(plugin).__module__]
    monkeypatch.setattr(module, "_MARK_UNSAFE", True)
    wrapped = []
    monkeypatch.setattr(module, "wrap_var", lambda value: wrapped.append(value) or value)
    _plugin, inventory = parse_with_plugin(write_config(tmp_path, stem="marked", uri=uri, ansible_host_networks=[EVIL_NETWORK]))
    assert inventory.get_host("evil").get_vars()["libvirt_addresses"] in wrapped
