"""What the inventory reads from one hypervisor, on libvirt's test driver: domains
that vanish while being read, drivers without bulk statistics, tags, addresses."""

from __future__ import annotations

import re

import libvirt
import pytest

from ansible_collections.virtops.libvirt.plugins.module_utils._core.client import Connection
from ansible_collections.virtops.libvirt.plugins.module_utils._core.errors import VirtOpsError
from ansible_collections.virtops.libvirt.plugins.plugin_utils._reader import (
    CallCounter,
    HypervisorReader,
    ReadRequest,
    connect,
    tags_from_metadata,
)

URI = "test:///default"


class Unsupported(libvirt.libvirtError):
    """What libvirt raises for an API its driver lacks."""

    def __init__(self, what: str) -> None:
        message = f"this function is not supported by the connection driver: {what}"
        super().__init__(message)
        self.err = (libvirt.VIR_ERR_NO_SUPPORT, 0, message, 0, "", None, None, 0, 0)


class OddConnection:
    """The test connection, with transient domains that stop right after the
    statistics call, and optionally without bulk statistics."""

    def __init__(self, conn, vanishing=(), bulk_stats: bool = True) -> None:
        self.conn = conn
        self.vanishing = vanishing
        self.bulk_stats = bulk_stats

    def __getattr__(self, attribute):
        return getattr(self.conn, attribute)

    def getAllDomainStats(self, *args):
        if not self.bulk_stats:
            raise Unsupported("virConnectGetAllDomainStats")
        result = self.conn.getAllDomainStats(*args)
        for name in self.vanishing:
            self.conn.lookupByName(name).destroy()
        return result


def read(conn, request: ReadRequest | None = None, log=None):
    """Read through the collection's Connection, whose raw handle is ``conn`` (a
    wrapper of the test connection)."""
    calls = CallCounter()
    client = Connection(URI, timeout=None)
    client.close()
    client.raw, client.observe = conn, calls
    data = HypervisorReader(client, request or ReadRequest(), log or (lambda _msg: None)).read()
    return data, calls


def test_a_domain_that_vanishes_while_being_read_is_left_out(conn, make_domain):
    make_domain("gone", transient=True)
    make_domain("stays")
    data, _calls = read(OddConnection(conn, vanishing=["gone"]), ReadRequest(read_tags=True))
    assert data["names"] == ["gone", "stays", "test"]  # it was there when listed
    assert [entry["name"] for entry in data["domains"]] == ["stays", "test"]


def test_without_bulk_statistics_each_domain_is_asked(conn, make_domain):
    make_domain("stays")
    lines = []
    data, calls = read(OddConnection(conn, bulk_stats=False), ReadRequest(ip_sources=()), lines.append)
    entries = {entry["name"]: entry for entry in data["domains"]}
    assert (entries["test"]["state"], entries["test"]["vcpus"], entries["test"]["memory_mib"]) == ("running", 2, 8192)
    assert entries["stays"]["state"] == "shutoff"
    assert calls.counts == {"getAllDomainStats": 1, "listAllDomains": 4, "state": 2, "info": 2}


def test_the_state_filter_applies_before_any_per_domain_call(conn, make_domain):
    for name in ("a", "b", "c"):
        make_domain(name)
    data, calls = read(conn, ReadRequest(states=("running",), read_tags=True))
    assert [entry["name"] for entry in data["domains"]] == ["test"]
    assert (calls.counts["info"], calls.counts["metadata"], calls.counts["interfaceAddresses"]) == (1, 1, 1)


def test_an_unsupported_address_source_is_not_asked_again(conn, make_domain):
    for name in ("a", "b", "c"):
        make_domain(name).create()

    class NoArp(OddConnection):
        def getAllDomainStats(self, *args):
            return [(_NoArpDomain(domain), values) for domain, values in self.conn.getAllDomainStats(*args)]

    lines = []
    data, calls = read(NoArp(conn), ReadRequest(ip_sources=("arp", "lease"), max_workers=1), lines.append)
    assert [entry["name"] for entry in data["domains"] if entry["ips"]] == ["test"]  # the one with a NIC, by lease
    assert calls.counts["interfaceAddresses"] == 1 + 4  # arp once (unsupported), lease for all four
    assert len(lines) == 1
    assert re.fullmatch(
        f"{URI}: could not read the addresses from source arp of 1 domain\\(s\\), first '(a|b|c|test)': "
        "this function is not supported by the connection driver: arp",
        lines[0],
    )


class _NoArpDomain:
    def __init__(self, domain) -> None:
        self.domain = domain

    def __getattr__(self, attribute):
        return getattr(self.domain, attribute)

    def interfaceAddresses(self, source, *args):
        if source == libvirt.VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_ARP:
            raise Unsupported("arp")
        return self.domain.interfaceAddresses(source, *args)


def test_an_unreachable_uri_is_an_error_naming_it():
    with pytest.raises(VirtOpsError, match="Cannot connect to libvirt at URI 'test:///nonexistent/virtops/fleet.xml'"):
        connect("test:///nonexistent/virtops/fleet.xml", ReadRequest(), CallCounter())


def test_tags_come_from_the_element_libvirt_returns():
    assert tags_from_metadata("<tags>\n  <tag>web</tag>\n  <tag> prod </tag>\n  <tag/>\n  <other>x</other>\n</tags>") == ["web", "prod"]
    assert tags_from_metadata("<v:tags xmlns:v='https://virtops.dev/xmlns/libvirt/1'><v:tag>a</v:tag></v:tags>") == ["a"]


@pytest.mark.parametrize("text", ["<tags><tag>web</tags>", "<!DOCTYPE t [<!ENTITY x 'y'>]><tags><tag>&x;</tag></tags>"])
def test_bad_tag_metadata_is_refused(text):
    with pytest.raises(VirtOpsError):
        tags_from_metadata(text)


def test_name_patterns_are_case_sensitive_globs():
    request = ReadRequest(include_names=("web*", "db[12]"), exclude_names=("*-old",))
    assert [name for name in ("web1", "Web2", "web-old", "db1", "db3", "cache") if request.wants_name(name)] == ["web1", "db1"]
    assert ReadRequest().wants_name("anything")
