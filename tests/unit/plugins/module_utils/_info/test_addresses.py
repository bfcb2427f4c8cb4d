"""A domain's addresses, shared by virt_power and the inventory: which are usable,
the network of each NIC, the entries of a network choice and the one rule for the
address a host is reached at. Plain data, and the reads on libvirt's test driver."""

from __future__ import annotations

import ipaddress

import pytest

from ansible_collections.virtops.libvirt.plugins.module_utils._core.errors import VirtOpsError
from ansible_collections.virtops.libvirt.plugins.module_utils._info import addresses
from ansible_collections.virtops.libvirt.plugins.module_utils._info.addresses import (
    Address,
    Nic,
    host_networks,
    nics,
    on_networks,
    pick,
    read_addresses,
    read_nics,
    usable,
)


def addrs(*texts):
    return [{"addr": text, "prefix": 64 if ":" in text else 24, "type": int(":" in text)} for text in texts]


def test_usable_addresses_put_ipv4_first_and_drop_loopback_and_link_local():
    interfaces = {
        "lo": {"hwaddr": "00:00:00:00:00:00", "addrs": addrs("127.0.0.1", "::1")},
        "eth0": {"hwaddr": "52:54:00:00:00:01", "addrs": addrs("2001:db8::5", "fe80::1%eth0", "192.0.2.10")},
        "eth1": {"hwaddr": "52:54:00:00:00:02", "addrs": addrs("198.51.100.3", "192.0.2.10", "not-an-address")},
        "eth2": {"hwaddr": "52:54:00:00:00:03", "addrs": None},
    }
    found = usable(interfaces, "agent")
    assert [address.address for address in found] == ["192.0.2.10", "198.51.100.3", "2001:db8::5"]
    assert found[0] == Address("eth0", "52:54:00:00:00:01", "ipv4", "192.0.2.10", 24, "agent")
    assert found[2].as_dict() == {
        "interface": "eth0",
        "mac": "52:54:00:00:00:01",
        "network": None,
        "bridge": None,
        "family": "ipv6",
        "address": "2001:db8::5",
        "prefix": 64,
        "source": "agent",
    }
    assert usable(None, "lease") == [] and usable({}, "lease") == []


DOMAIN_XML = """<domain type='kvm'><name>web</name><devices>
  <interface type='bridge'><mac address='52:54:00:00:00:01'/><source bridge='br0'/></interface>
  <interface type='network'><mac address='52:54:00:AA:00:02'/><source network='default' bridge='virbr0'/></interface>
  <interface type='direct'><mac address='52:54:00:00:00:03'/><source dev='eth0' mode='vepa'/></interface>
  <interface type='user'/>
</devices></domain>"""

NICS = [Nic("52:54:00:00:00:01", None, "br0"), Nic("52:54:00:aa:00:02", "default", "virbr0"), Nic("52:54:00:00:00:03")]


def test_nics_name_their_network_or_bridge_in_order():
    assert nics(DOMAIN_XML) == NICS
    assert [nic.label for nic in NICS] == ["br0", "default", None]


def test_nics_refuse_a_document_type_declaration():
    with pytest.raises(VirtOpsError, match="document type declaration"):
        nics("<!DOCTYPE d [<!ENTITY x 'y'>]><domain><devices/></domain>")


def address(text: str, mac: str | None, interface: str = "vnet0") -> Address:
    return Address(interface, mac, "ipv6" if ":" in text else "ipv4", text, 24, "lease")


# In the order libvirt lists them: the NIC on 'default' first, then the bridge's, an IPv6 one, and one on no known NIC.
FOUND = [
    address("192.168.122.7", "52:54:00:aa:00:02"),
    address("10.1.0.5", "52:54:00:00:00:01"),
    address("172.16.0.9", "52:54:00:00:00:09"),
    address("fd00::5", "52:54:00:aa:00:02"),
]


def test_on_networks_labels_by_mac_and_orders_ipv4_first_then_by_nic():
    labelled = on_networks(FOUND, NICS)
    assert [(item.address, item.network, item.bridge) for item in labelled] == [
        ("10.1.0.5", "br0", "br0"),
        ("192.168.122.7", "default", "virbr0"),
        ("172.16.0.9", None, None),  # no NIC of the definition has its MAC
        ("fd00::5", "default", "virbr0"),
    ]
    assert on_networks(FOUND, []) == FOUND


@pytest.mark.parametrize(
    ("entries", "chosen"),
    [
        ((), "10.1.0.5"),  # no choice: the first address
        (("default",), "192.168.122.7"),  # a libvirt network
        (("virbr0",), "192.168.122.7"),  # that network's bridge
        (("br0",), "10.1.0.5"),  # a plain bridge
        (("172.16.0.0/12",), "172.16.0.9"),  # a CIDR, whatever the NIC
        (("fd00::/64",), "fd00::5"),  # IPv6 too
        (("default", "br0"), "192.168.122.7"),  # the order of the entries decides
        (("br0", "default"), "10.1.0.5"),
        (("nowhere", "192.168.0.0/16"), "192.168.122.7"),  # an entry with nothing is passed over
        (("nowhere", "198.51.100.0/24"), None),  # none: no address
    ],
)
def test_pick_follows_the_entries_then_the_nic_order(entries, chosen):
    picked = pick(on_networks(FOUND, NICS), host_networks(entries, "ansible_host_networks"))
    assert (picked.address if picked else None) == chosen


def test_pick_of_nothing_is_none():
    assert pick([]) is None
    assert pick([], host_networks(["default"], "x")) is None


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("", "Entry 1 of option ansible_host_networks is '': give a libvirt network name"),
        ("   ", "Entry 1 of option ansible_host_networks is '   '"),
        (None, "Entry 1 of option ansible_host_networks is None"),
        ("192.168.122.0/33", "'192.168.122.0/33', is not a valid CIDR"),
        ("192.168.122.1/24", "'192.168.122.1/24', is not a valid CIDR .*has host bits set"),
        ("fd00::zz/64", "'fd00::zz/64', is not a valid CIDR"),
        ("192.168.122.5", r"is an address, not a network: give a CIDR \(192.168.122.5/32 for that address alone\)"),
        ("fd00::5", r"fd00::5/128"),
    ],
)
def test_a_bad_entry_of_a_network_choice_is_refused(entry, message):
    with pytest.raises(VirtOpsError, match=message):
        host_networks(["default", entry][1:], "ansible_host_networks")


def test_entries_are_stripped_and_keep_their_order():
    assert [network.text for network in host_networks([" default ", "10.0.0.0/8", "br0"], "x")] == ["default", "10.0.0.0/8", "br0"]
    assert [network.needs_nics for network in host_networks(["default", "10.0.0.0/8"], "x")] == [True, False]


# -- the reads, on libvirt's test driver --------------------------------------------------------
def test_read_addresses_takes_the_first_source_that_knows_one(client):
    domain = client.lookup("test")
    found, failures = read_addresses(client, domain, "test", ("lease", "agent"))
    assert [(item.source, item.mac, item.family, item.prefix) for item in found] == [("lease", "aa:bb:cc:dd:ee:ff", "ipv4", 24)]
    # The test driver invents one on 192.168.x from state other tests of the process change (in a
    # random order it was 192.168.123.x once), so only its range is certain.
    assert ipaddress.ip_address(found[0].address) in ipaddress.ip_network("192.168.0.0/16")
    assert failures == []
    found, failures = read_addresses(client, domain, "test", ("agent",), skip=("agent",))
    assert (found, failures) == ([], [])


def test_read_addresses_says_which_source_failed(client, monkeypatch):
    import libvirt

    domain = client.lookup("test")

    class NoAgent:
        def __getattr__(self, attribute):
            return getattr(domain, attribute)

        def interfaceAddresses(self, source, *args):
            if source == libvirt.VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_AGENT:
                raise _unsupported()
            return {}

    found, failures = read_addresses(client, NoAgent(), "test", ("agent", "lease"))
    assert found == []
    assert [(failure.source, failure.error.code) for failure in failures] == [("agent", libvirt.VIR_ERR_NO_SUPPORT)]


def _unsupported():
    import libvirt

    err = libvirt.libvirtError("this function is not supported by the connection driver: agent")
    err.err = (libvirt.VIR_ERR_NO_SUPPORT, 0, "this function is not supported by the connection driver: agent", 0, "", None, None, 0, 0)
    return err


def test_read_nics_reads_the_live_definition(client):
    assert read_nics(client, client.lookup("test"), "test") == [Nic("aa:bb:cc:dd:ee:ff", "default", None)]


def _lease(address, mac="52:54:00:00:00:01"):
    return addresses.Address("vnet0", mac, "ipv4" if ":" not in address else "ipv6", address, 24, "lease")


def test_of_several_leases_of_one_nic_the_newest_counts():
    # A VM made again with the same MAC: the DHCP server still holds its earlier lease.
    old, new, other = _lease("192.168.122.144"), _lease("192.168.122.145"), _lease("192.168.122.9", mac="52:54:00:00:00:02")
    expiries = {(old.mac, old.address): 1000, (new.mac, new.address): 2000, (other.mac, other.address): 500}
    assert addresses.current_leases([old, new, other], expiries) == [new, other]
    assert addresses.current_leases([new, old], expiries) == [new]


def test_a_lease_unchanged_since_before_the_start_does_not_count():
    old = _lease("192.168.122.144")
    before = {(old.mac, old.address): 1000}
    assert addresses.current_leases([old], {(old.mac, old.address): 1000}, stale=before) == []
    assert addresses.current_leases([old], {(old.mac, old.address): 1600}, stale=before) == [old]  # renewed by the guest: current
    fresh = _lease("192.168.122.145")
    assert addresses.current_leases([old, fresh], {(old.mac, old.address): 1000, (fresh.mac, fresh.address): 1700}, stale=before) == [fresh]
