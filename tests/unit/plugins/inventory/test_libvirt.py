"""The inventory plugin virtops.libvirt.libvirt on libvirt's in-process test driver,
driven as Ansible drives it, in-process: through InventoryManager, or the plugin
itself to see its errors and call counts. What a user sees of the same fleets
through `ansible-inventory` / `ansible-playbook` is tested in
tests/integration/test_inventory_cli.py."""

from __future__ import annotations

import ast
import contextlib
import ipaddress
import json
import re
import socket
import sys
import threading
import time
from collections import Counter

import libvirt
import pytest
import yaml
from ansible import constants as C
from ansible.errors import AnsibleError, AnsibleParserError
from ansible.plugins.loader import inventory_loader
from ansible.utils.display import Display
from ansible.utils.vars import validate_variable_name
from inventory_harness import (
    EVIL_NAME,
    EVIL_TAG,
    HOSTILE_NAMES,
    RESERVED_HOSTILE,
    UNREACHABLE,
    VIRTOPS_NS,
    WITH_PASSWORD,
    CallRecorder,
    Domain,
    assert_discreet,
    expected_host,
    fleet,
    group_hosts,
    host_vars,
    hostile_config,
    load_inventory,
    parse_with_plugin,
    write_config,
    write_fleet,
    write_not_xml,
)

from ansible_collections.virtops.libvirt.plugins.plugin_utils._names import Hypervisor


@pytest.fixture
def warnings(monkeypatch) -> list[str]:
    shown: list[str] = []
    monkeypatch.setattr(Display, "warning", lambda _self, msg, *_args, **_kwargs: shown.append(msg))
    return shown


@pytest.fixture
def verbose(monkeypatch) -> list[str]:
    shown: list[str] = []
    monkeypatch.setattr(Display, "vvv", lambda _self, msg, *_args, **_kwargs: shown.append(msg))
    return shown


def libvirt_facts(variables: dict) -> dict:
    return {key: value for key, value in variables.items() if key.startswith("libvirt_") or key == "ansible_host"}


# -- configuration --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "wanted"),
    [
        ("lab.libvirt.yml", True),
        ("lab.libvirt.yaml", True),
        ("libvirt.yml", False),
        ("lab.yml", False),
        ("lab.libvirt.yml.orig", False),
        ("lab.libvirt.json", False),
    ],
)
def test_the_plugin_wants_files_ending_in_libvirt_yml(tmp_path, name, wanted):
    path = tmp_path / name
    path.write_text("plugin: virtops.libvirt.libvirt\n")
    assert inventory_loader.get("virtops.libvirt.libvirt").verify_file(str(path)) is wanted


def test_without_uris_the_uri_comes_from_libvirt_default_uri(tmp_path, monkeypatch):
    uri = write_fleet(tmp_path / "fleet.xml", [Domain("web1")])
    monkeypatch.setenv("LIBVIRT_DEFAULT_URI", uri)
    inventory = load_inventory(write_config(tmp_path))
    assert host_vars(inventory, "web1")["libvirt_uri"] == uri


def test_uri_and_uris_together_are_an_error(tmp_path):
    config = write_config(tmp_path, uri="test:///default", uris=["test:///default"])
    with pytest.raises(AnsibleParserError, match="Set either option uri or option uris, not both"):
        parse_with_plugin(config)


def test_two_uris_with_the_same_label_are_an_error_naming_both(tmp_path):
    one = write_fleet(tmp_path / "one.xml", [Domain("a")])
    two = write_fleet(tmp_path / "two.xml", [Domain("b")])
    with pytest.raises(AnsibleParserError, match=f"'{re.escape(one)}' and '{re.escape(two)}' both have the hypervisor label 'localhost'.*name: <label>"):
        parse_with_plugin(write_config(tmp_path, uris=[one, two]))


def test_an_empty_uris_is_an_error_not_the_default_uri(tmp_path, monkeypatch):
    monkeypatch.setenv("LIBVIRT_DEFAULT_URI", write_fleet(tmp_path / "fleet.xml", [Domain("web1")]))
    for stem, value in (("empty", []), ("null", None)):
        with pytest.raises(AnsibleParserError, match="Option uris lists no URI: list at least one, or leave uris out"):
            parse_with_plugin(write_config(tmp_path, stem=stem, uris=value))


def test_max_workers_must_be_positive(tmp_path):
    with pytest.raises(AnsibleParserError, match="max_workers must be at least 1"):
        parse_with_plugin(write_config(tmp_path, uri="test:///default", max_workers=0))


# -- host variables and groups ----------------------------------------------------------------
def test_host_variables_and_groups_of_a_fleet(tmp_path):
    uri = write_fleet(
        tmp_path / "fleet.xml",
        [
            Domain("web1", tags=("web", " prod ", ""), vcpus=2, memory_mib=1024),
            Domain("db1", state="shutoff", memory_mib=2048),
            Domain("old", state="saved"),
            Domain("frozen", state="paused", network=None),
            Domain("scratch", transient=True, tags=("web",)),
            Domain("bare"),
        ],
    )
    inventory = load_inventory(write_config(tmp_path, uri=uri, read_tags=True))

    web1 = libvirt_facts(host_vars(inventory, "web1"))
    uuid, address = web1.pop("libvirt_uuid"), web1.pop("ansible_host")
    assert web1 == {
        "libvirt_uri": uri,
        "libvirt_hypervisor": "localhost",
        "libvirt_name": "web1",
        "libvirt_id": 1,
        "libvirt_state": "running",
        "libvirt_state_reason": "unknown",
        "libvirt_persistent": True,
        "libvirt_autostart": False,
        "libvirt_vcpus": 2,
        "libvirt_memory_mib": 1024,
        "libvirt_ips": [address],
        "libvirt_addresses": [
            {
                "interface": "testnet0",
                "mac": web1["libvirt_addresses"][0]["mac"],
                "network": None,
                "bridge": None,
                "family": "ipv4",
                "address": address,
                "prefix": 24,
                "source": "lease",
            }
        ],
        "libvirt_tags": ["web", "prod"],
    }
    assert re.fullmatch(r"[0-9a-f-]{36}", uuid)
    assert ipaddress.ip_address(address) in ipaddress.ip_network("192.168.122.0/24")

    db1 = libvirt_facts(host_vars(inventory, "db1"))
    assert (db1["libvirt_state"], db1["libvirt_id"], db1["libvirt_ips"], db1["libvirt_memory_mib"]) == ("shutoff", None, [], 2048)
    assert "ansible_host" not in db1
    assert host_vars(inventory, "old")["libvirt_state"] == "saved"
    assert host_vars(inventory, "frozen")["libvirt_ips"] == []  # paused, no NIC
    assert host_vars(inventory, "scratch")["libvirt_persistent"] is False
    assert host_vars(inventory, "bare")["libvirt_tags"] == []

    assert group_hosts(inventory, "libvirt_running") == {"web1", "scratch", "bare"}
    assert group_hosts(inventory, "libvirt_shutoff") == {"db1"}
    assert group_hosts(inventory, "libvirt_saved") == {"old"}
    assert group_hosts(inventory, "libvirt_paused") == {"frozen"}
    assert group_hosts(inventory, "libvirt_hypervisor_localhost") == {"web1", "db1", "old", "frozen", "scratch", "bare"}
    assert group_hosts(inventory, "tag_web") == {"web1", "scratch"}
    assert group_hosts(inventory, "tag_prod") == {"web1"}


def test_every_state_has_its_group(tmp_path):
    states = ("running", "paused", "in_shutdown", "shutoff", "saved", "crashed", "pmsuspended")
    uri = write_fleet(tmp_path / "fleet.xml", [Domain(f"vm-{state}", state=state) for state in states])
    inventory = load_inventory(write_config(tmp_path, uri=uri))
    for state in states:
        assert group_hosts(inventory, f"libvirt_{state}") == {f"vm-{state}"}


def test_without_read_tags_no_tag_is_read(tmp_path, monkeypatch):
    uri = write_fleet(tmp_path / "fleet.xml", [Domain("web1", tags=("web",))])
    recorder = CallRecorder().install(monkeypatch)
    inventory = load_inventory(write_config(tmp_path, uri=uri))
    assert "libvirt_tags" not in host_vars(inventory, "web1")
    assert "tag_web" not in inventory.groups
    assert recorder.calls["metadata"] == 0


def test_persistent_and_autostart_come_from_the_listings(conn, make_domain, tmp_path):
    make_domain("alpha").setAutostart(1)
    tagged = conn.defineXML(f"""<domain type='test'><name>tagged</name><memory unit='MiB'>64</memory>
      <os><type>hvm</type></os><metadata><t:tags xmlns:t='{VIRTOPS_NS}'><t:tag>db</t:tag></t:tags></metadata></domain>""")
    tagged.create()
    scratch = make_domain("scratch", transient=True)
    try:
        inventory = load_inventory(write_config(tmp_path, uri="test:///default", read_tags=True))
    finally:
        scratch.destroy()
    alpha, test, scratch_vars = (host_vars(inventory, name) for name in ("alpha", "test", "scratch"))
    assert (alpha["libvirt_autostart"], alpha["libvirt_persistent"], alpha["libvirt_state"]) == (True, True, "shutoff")
    assert (test["libvirt_autostart"], test["libvirt_persistent"], test["libvirt_vcpus"], test["libvirt_memory_mib"]) == (False, True, 2, 8192)
    assert (scratch_vars["libvirt_persistent"], scratch_vars["libvirt_state"]) == (False, "running")
    assert host_vars(inventory, "tagged")["libvirt_tags"] == ["db"]
    assert group_hosts(inventory, "tag_db") == {"tagged"}


# -- filters -------------------------------------------------------------------------------
def test_filters_by_name_patterns_and_state(tmp_path, monkeypatch):
    uri = write_fleet(
        tmp_path / "fleet.xml",
        [
            Domain("web1"),
            Domain("web2", state="shutoff"),
            Domain("web-old"),
            Domain("db1"),
            Domain("db2", state="paused"),
            Domain("db10"),
            Domain("Web3"),
            Domain("cache1"),
        ],
    )
    recorder = CallRecorder().install(monkeypatch)
    config = write_config(tmp_path, uri=uri, include_names=["web*", "db?"], exclude_names=["*-old"], states=["running", "paused"])
    inventory = load_inventory(config)
    assert set(inventory.hosts) == {"web1", "db1", "db2"}
    assert recorder.calls["interfaceAddresses"] == 3  # only the domains kept cost per-domain calls


# -- host names: the same domain name on several hypervisors -------------------------------
def test_a_name_on_two_hypervisors_is_qualified_on_both_in_any_uri_order(tmp_path):
    one = write_fleet(tmp_path / "one.xml", [Domain("web"), Domain("db"), Domain("only-one")])
    two = write_fleet(tmp_path / "two.xml", [Domain("web", state="shutoff"), Domain("db"), Domain("only-two")])
    uris = [{"uri": one, "name": "kvm1"}, {"uri": two, "name": "kvm2.example.com"}]
    seen = []
    for stem, order in (("forward", uris), ("backward", uris[::-1])):
        inventory = load_inventory(write_config(tmp_path, stem=stem, uris=order))
        assert set(inventory.hosts) == {"web@kvm1", "web@kvm2.example.com", "db@kvm1", "db@kvm2.example.com", "only-one", "only-two"}
        web2 = host_vars(inventory, "web@kvm2.example.com")
        assert (web2["libvirt_name"], web2["libvirt_hypervisor"], web2["libvirt_uri"], web2["libvirt_state"]) == ("web", "kvm2.example.com", two, "shutoff")
        assert group_hosts(inventory, "libvirt_hypervisor_kvm1") == {"web@kvm1", "db@kvm1", "only-one"}
        assert group_hosts(inventory, "libvirt_hypervisor_kvm2_example_com") == {"web@kvm2.example.com", "db@kvm2.example.com", "only-two"}
        seen.append({name: libvirt_facts(host_vars(inventory, name)) for name in inventory.hosts})
    assert seen[0] == seen[1]


def test_hypervisors_are_read_at_the_same_time_and_reported_in_uri_order(tmp_path, monkeypatch, warnings, verbose):
    plugin = inventory_loader.get("virtops.libvirt.libvirt")
    module = sys.modules[type(plugin).__module__]
    real_read = module.read_connection
    together = threading.Barrier(2, timeout=10)  # passes only if the two reads overlap

    def read(*args):
        together.wait()
        return real_read(*args)

    monkeypatch.setattr(module, "read_connection", read)
    uris = [write_fleet(tmp_path / f"{index}.xml", [Domain(f"vm{index}")]) for index in range(2)]
    entries = [{"uri": UNREACHABLE, "name": "gone"}] + [{"uri": uri, "name": f"kvm{index}"} for index, uri in enumerate(uris)]
    _plugin, inventory = parse_with_plugin(write_config(tmp_path, uris=entries))
    assert {"vm0", "vm1"} <= set(inventory.hosts)
    assert len(warnings) == 1 and "'gone'" in warnings[0] and UNREACHABLE in warnings[0]
    # one summary line per hypervisor that answered, in the order of the URIs
    assert [uri for line in verbose for uri in uris if line.startswith(f"virtops.libvirt.libvirt: {uri}: ")] == uris


def test_a_qualified_name_does_not_change_with_a_filter(tmp_path):
    one = write_fleet(tmp_path / "one.xml", [Domain("web")])
    two = write_fleet(tmp_path / "two.xml", [Domain("web", state="shutoff")])
    config = write_config(tmp_path, uris=[{"uri": one, "name": "kvm1"}, {"uri": two, "name": "kvm2"}], states=["running"])
    assert set(load_inventory(config).hosts) == {"web@kvm1"}


# -- host names Ansible reserves: the controller's and the groups' ---------------------------
@pytest.mark.parametrize(
    "name", ["localhost", "127.0.0.1", "::1", "localhost.localdomain", "localhost4", "localhost6", "ip6-localhost", "LocalHost", "127.0.0.2", "0:0:0:0:0:0:0:1"]
)
def test_a_domain_named_like_the_controller_gets_a_host_name_of_its_own(tmp_path, warnings, name):
    uri = write_fleet(tmp_path / "fleet.xml", [Domain(name), Domain("web1")])
    inventory = load_inventory(write_config(tmp_path, uri=uri))
    assert set(inventory.hosts) == {f"{name}@localhost", "web1"}
    variables = host_vars(inventory, f"{name}@localhost")
    assert variables["libvirt_name"] == name and variables["ansible_host"] == variables["libvirt_ips"][0]
    assert warnings == [
        f"virtops.libvirt.libvirt: domain '{name}' of hypervisor 'localhost' is the inventory host "
        f"'{name}@localhost': it would stand for the controller (localhost)."
    ]
    if name in C.LOCALHOST:  # Ansible's own implicit localhost, untouched
        controller = inventory.get_host(name)
        assert controller.implicit and "ansible_host" not in controller.vars


def test_the_controller_rule_holds_in_any_uri_order_and_with_any_filter(tmp_path, warnings):
    one = write_fleet(tmp_path / "one.xml", [Domain("localhost"), Domain("web")])
    two = write_fleet(tmp_path / "two.xml", [Domain("db", state="shutoff")])
    uris = [{"uri": one, "name": "kvm1"}, {"uri": two, "name": "kvm2"}]
    for stem, options in (("forward", {}), ("backward", {"uris": uris[::-1]}), ("named", {"include_names": ["local*"]}), ("running", {"states": ["running"]})):
        inventory = load_inventory(write_config(tmp_path, stem=stem, **{"uris": uris, **options}))
        assert "localhost@kvm1" in inventory.hosts and "localhost" not in inventory.hosts
        assert inventory.get_host("localhost").implicit
    assert len(warnings) == 4


def test_a_domain_named_like_a_group_gets_a_host_name_of_its_own(tmp_path, warnings):
    inventory = load_inventory(hostile_config(tmp_path))
    assert set(inventory.hosts) == {expected_host(name) for name in HOSTILE_NAMES}
    assert not set(inventory.hosts) & set(inventory.groups)
    for name in HOSTILE_NAMES:
        assert host_vars(inventory, expected_host(name))["libvirt_name"] == name
    assert group_hosts(inventory, "libvirt_shutoff") == {"all@localhost"}
    assert group_hosts(inventory, "tag_we_b") == group_hosts(inventory, "big") == {expected_host(name) for name in HOSTILE_NAMES}
    assert group_hosts(inventory, "role_web") == group_hosts(inventory, "my_group") == set(inventory.hosts)
    assert sorted(warnings) == sorted(
        f"virtops.libvirt.libvirt: domain '{name}' of hypervisor 'localhost' is the inventory host '{name}@localhost': "
        + (
            "it would stand for the controller (localhost)."
            if name == "localhost"
            else "it is the name of an inventory group, or of a group this configuration makes."
        )
        for name in RESERVED_HOSTILE
    )


def test_group_names_are_reserved_whatever_the_filters_keep(tmp_path, warnings):
    inventory = load_inventory(hostile_config(tmp_path, include_names=["tag_*", "libvirt_*"], states=["running"]))
    assert set(inventory.hosts) == {
        "tag_web@localhost",
        "tag_we_b@localhost",
        "libvirt_running@localhost",
        "libvirt_shutoff@localhost",
        "libvirt_hypervisor_localhost@localhost",
    }


def test_a_domain_named_like_a_group_of_an_earlier_source_gets_a_host_name_of_its_own(tmp_path, warnings):
    static = tmp_path / "static.yml"
    static.write_text(yaml.safe_dump({"webservers": {"hosts": {"web9": {}}}}))
    uri = write_fleet(tmp_path / "fleet.xml", [Domain("webservers"), Domain("web1")])
    inventory = load_inventory(static, write_config(tmp_path, uri=uri))
    assert set(inventory.hosts) == {"web9", "webservers@localhost", "web1"}
    assert group_hosts(inventory, "webservers") == {"web9"}
    assert group_hosts(inventory, "libvirt_running") == {"webservers@localhost", "web1"}


def test_keyed_groups_reserve_their_fixed_start_and_a_literal_parent_group(tmp_path, warnings):
    uri = write_fleet(tmp_path / "fleet.xml", [Domain(name) for name in ("states", "is_x", "is-x", "1st_running", "web")])
    keyed = [{"key": "libvirt_state", "prefix": "is", "parent_group": "states"}, {"key": "libvirt_state", "prefix": "1st"}]
    inventory = load_inventory(write_config(tmp_path, uri=uri, keyed_groups=keyed))
    # '1st_' sanitised is '_st_'; 'is-x' cannot be a sanitised group name
    assert set(inventory.hosts) == {"states@localhost", "is_x@localhost", "is-x", "1st_running", "web"}
    assert group_hosts(inventory, "_st_running") == group_hosts(inventory, "states") == set(inventory.hosts)
    assert len(warnings) == 2


def test_a_keyed_group_without_a_fixed_start_named_like_a_host_breaks_nothing(tmp_path):
    uri = write_fleet(tmp_path / "fleet.xml", [Domain("running"), Domain("web1", state="shutoff")])
    inventory = load_inventory(write_config(tmp_path, uri=uri, leading_separator=False, keyed_groups=[{"key": "libvirt_state", "separator": ""}]))
    assert set(inventory.hosts) == {"running", "web1"}  # such a group is only known from the data
    assert group_hosts(inventory, "running") == {"running"} and group_hosts(inventory, "shutoff") == {"web1"}
    assert group_hosts(inventory, "libvirt_running") == {"running"}


# -- untrusted text ---------------------------------------------------------------------------
def test_text_from_the_hypervisor_is_kept_verbatim_in_process(tmp_path):
    uri = write_fleet(tmp_path / "fleet.xml", [Domain(EVIL_NAME, tags=(EVIL_TAG,))])
    inventory = load_inventory(write_config(tmp_path, uri=uri, read_tags=True))
    assert set(inventory.hosts) == {EVIL_NAME}
    variables = host_vars(inventory, EVIL_NAME)
    assert (variables["libvirt_name"], variables["libvirt_tags"]) == (EVIL_NAME, [EVIL_TAG])
    assert group_hosts(inventory, "tag____lookup__env___VIRTOPS_PROBE_____") == {EVIL_NAME}


def test_text_is_marked_unsafe_where_ansible_templates_plain_strings(tmp_path, monkeypatch):
    # ansible-core before 2.19 templates any plain str: there the plugin marks text
    # unsafe. 2.19 makes AnsibleUnsafeText a no-op; this runs that path all the same.
    plugin = inventory_loader.get("virtops.libvirt.libvirt")
    module = sys.modules[type(plugin).__module__]
    assert module._MARK_UNSAFE is False  # 2.19 or later: text from libvirt is untrusted as it is
    monkeypatch.setattr(module, "_MARK_UNSAFE", True)
    marked = []
    monkeypatch.setattr(module, "AnsibleUnsafeText", lambda text: marked.append(text) or text)
    uri = write_fleet(tmp_path / "fleet.xml", [Domain(EVIL_NAME, tags=(EVIL_TAG,)), Domain("web1")])
    _plugin, inventory = parse_with_plugin(write_config(tmp_path, uri=uri, read_tags=True))
    variables = inventory.get_host(EVIL_NAME).get_vars()
    assert (variables["libvirt_name"], variables["libvirt_tags"]) == (EVIL_NAME, [EVIL_TAG])
    assert {EVIL_NAME, "web1", "running", uri} <= set(marked)
    assert marked.count("running") == 1  # a value repeated across hosts is marked once


# -- tags: metadata parsed safely ---------------------------------------------------------------
def test_tag_metadata_that_merely_mentions_a_dtd_keeps_its_tags(tmp_path, warnings, verbose):
    uri = write_fleet(
        tmp_path / "fleet.xml",
        [
            Domain("commented", metadata=f"<v:tags xmlns:v='{VIRTOPS_NS}'><!-- <!DOCTYPE x> --><v:tag>web</v:tag></v:tags>"),
            Domain("cdata", metadata=f"<v:tags xmlns:v='{VIRTOPS_NS}'><v:tag>db</v:tag><v:tag><![CDATA[<!ENTITY x>]]></v:tag></v:tags>"),
            Domain("plain", tags=("web",)),
        ],
    )
    inventory = load_inventory(write_config(tmp_path, uri=uri, read_tags=True))
    assert host_vars(inventory, "commented")["libvirt_tags"] == ["web"]
    assert host_vars(inventory, "cdata")["libvirt_tags"] == ["db", "<!ENTITY x>"]
    assert group_hosts(inventory, "tag_web") == {"commented", "plain"}
    assert warnings == [] and not any("could not read the tags" in line for line in verbose)


def test_tag_metadata_with_a_dtd_is_refused_quietly(tmp_path, monkeypatch, warnings, verbose):
    # A hypervisor is not trusted: its answer may declare entities (libvirt itself never returns that).
    real = libvirt.virDomain.metadata
    hostile = "<!DOCTYPE tags [<!ENTITY x SYSTEM 'file:///etc/hostname'>]><tags><tag>&x;</tag><tag>web</tag></tags>"
    monkeypatch.setattr(libvirt.virDomain, "metadata", lambda domain, *args: hostile if domain.name() == "hostile" else real(domain, *args))
    uri = write_fleet(tmp_path / "fleet.xml", [Domain("hostile", tags=("web",)), Domain("fine", tags=("web",))])
    inventory = load_inventory(write_config(tmp_path, uri=uri, read_tags=True))
    assert host_vars(inventory, "hostile")["libvirt_tags"] == [] and host_vars(inventory, "fine")["libvirt_tags"] == ["web"]
    assert group_hosts(inventory, "tag_web") == {"fine"}
    assert warnings == []
    (line,) = [line for line in verbose if "could not read the tags" in line]
    assert line.startswith(
        f"virtops.libvirt.libvirt: {uri}: could not read the tags of 1 domain(s), first 'hostile': The XML in the tags metadata has a document type declaration"
    )


# -- what messages may show ----------------------------------------------------------------------
@pytest.fixture
def not_xml(tmp_path) -> str:
    return write_not_xml(tmp_path)


def test_warnings_show_neither_file_contents_nor_passwords(tmp_path, warnings, verbose, not_xml):
    write_fleet(tmp_path / "fleet.xml", [Domain("web1")])
    # the test driver takes a user and password too, and then reads the file
    with_password = f"test://user:pw@{tmp_path / 'fleet.xml'}"
    entries = [{"uri": with_password, "name": "good"}, {"uri": not_xml, "name": "notes"}, {"uri": WITH_PASSWORD, "name": "tcp"}]
    _plugin, inventory = parse_with_plugin(write_config(tmp_path, uris=entries, ip_sources=["lease", "arp"]))
    assert set(inventory.hosts) == {"web1"} and host_vars(inventory, "web1")["libvirt_uri"] == with_password
    assert len(warnings) == 2 and "skipped hypervisor 'notes'" in warnings[0] and "Start tag expected" in warnings[0]
    assert "qemu+tcp://user:********@127.0.0.1:1/system" in warnings[1]
    assert any(line.startswith(f"virtops.libvirt.libvirt: test://user:********@{tmp_path / 'fleet.xml'}: 1 domains") for line in verbose)
    assert_discreet(*warnings, *verbose)


@pytest.mark.parametrize("uri", ["not_xml", WITH_PASSWORD])
def test_strict_uris_errors_show_neither_file_contents_nor_passwords(tmp_path, request, uri):
    uri = request.getfixturevalue(uri) if uri == "not_xml" else uri
    with pytest.raises(AnsibleParserError) as failed:
        parse_with_plugin(write_config(tmp_path, uris=[uri], strict_uris=True))
    assert "Cannot connect to libvirt at URI" in str(failed.value)
    assert_discreet(str(failed.value))


def test_a_timeout_and_a_label_clash_show_no_password(tmp_path, warnings, silent_hypervisor):
    mute = silent_hypervisor.replace("qemu+tcp://", "qemu+tcp://user:pw@")
    _plugin, inventory = parse_with_plugin(write_config(tmp_path, uris=[{"uri": mute, "name": "mute"}], timeout=0.3))
    assert len(warnings) == 1 and "did not answer within 0.3 s" in warnings[0]
    assert_discreet(*warnings)
    with pytest.raises(AnsibleParserError, match="both have the hypervisor label") as failed:
        parse_with_plugin(write_config(tmp_path, stem="clash", uris=[mute, WITH_PASSWORD]))
    assert_discreet(str(failed.value))


# -- unreachable hypervisors ---------------------------------------------------------------
def test_an_unreachable_hypervisor_is_one_warning_and_the_rest_loads(tmp_path, warnings):
    good = write_fleet(tmp_path / "fleet.xml", [Domain("web1"), Domain("db1")])
    config = write_config(tmp_path, uris=[{"uri": UNREACHABLE, "name": "down"}, good])
    inventory = load_inventory(config)
    assert set(inventory.hosts) == {"web1", "db1"}
    assert len(warnings) == 1
    assert "'down'" in warnings[0] and f"URI '{UNREACHABLE}'" in warnings[0]


def test_strict_uris_fails_naming_the_uri(tmp_path):
    good = write_fleet(tmp_path / "fleet.xml", [Domain("web1")])
    config = write_config(tmp_path, uris=[good, {"uri": UNREACHABLE, "name": "down"}], strict_uris=True)
    with pytest.raises(AnsibleParserError, match=f"Cannot connect to libvirt at URI '{re.escape(UNREACHABLE)}'"):
        parse_with_plugin(config)


@pytest.fixture
def silent_hypervisor():
    """A qemu+tcp URI on loopback whose server accepts connections and never
    answers: libvirt's client waits for it with no time limit of its own."""
    server = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []

    def accept() -> None:
        with contextlib.suppress(OSError):
            while True:
                accepted.append(server.accept()[0])

    threading.Thread(target=accept, daemon=True).start()
    yield f"qemu+tcp://127.0.0.1:{server.getsockname()[1]}/system"
    server.close()
    for connection in accepted:  # the client left waiting gets an error and its thread ends
        connection.close()


def test_a_hypervisor_that_never_answers_is_skipped_after_the_timeout(tmp_path, warnings, silent_hypervisor):
    good = write_fleet(tmp_path / "fleet.xml", [Domain("web1")])
    config = write_config(tmp_path, uris=[good, {"uri": silent_hypervisor, "name": "mute"}], timeout=1)
    started = time.monotonic()
    _plugin, inventory = parse_with_plugin(config)
    assert 1 <= time.monotonic() - started < 5
    assert set(inventory.hosts) == {"web1"}
    assert warnings == [
        f"virtops.libvirt.libvirt: skipped hypervisor 'mute': The hypervisor at URI '{silent_hypervisor}' "
        "did not answer within 1 s (option timeout). Check that its host and libvirt daemon are up, "
        "or raise the timeout."
    ]
    strict = write_config(tmp_path, stem="strict", uris=[good, {"uri": silent_hypervisor, "name": "mute"}], timeout=0.5, strict_uris=True)
    with pytest.raises(AnsibleParserError, match=f"The hypervisor at URI '{re.escape(silent_hypervisor)}' did not answer within 0.5 s"):
        parse_with_plugin(strict)


def test_a_connection_made_after_the_timeout_is_closed(tmp_path, monkeypatch, warnings):
    plugin = inventory_loader.get("virtops.libvirt.libvirt")
    module = sys.modules[type(plugin).__module__]
    slow = write_fleet(tmp_path / "slow.xml", [Domain("late")])
    release, late = threading.Event(), []
    real_connect = module.connect

    def connect(uri, request, calls):
        if uri != slow:
            return real_connect(uri, request, calls)
        release.wait(10)
        late.append(real_connect(uri, request, calls))
        return late[-1]

    monkeypatch.setattr(module, "connect", connect)
    monkeypatch.setattr(Hypervisor, "remote", property(lambda _self: True))  # test:/// URIs, connected as remote ones
    good = write_fleet(tmp_path / "fleet.xml", [Domain("web1")])
    _plugin, inventory = parse_with_plugin(write_config(tmp_path, uris=[good, {"uri": slow, "name": "slow"}], timeout=0.3))
    assert set(inventory.hosts) == {"web1"} and "did not answer within 0.3 s" in warnings[0]
    release.set()
    deadline = time.monotonic() + 5
    while not (late and late[0].raw is None):  # Connection.close() drops the handle
        assert time.monotonic() < deadline, "the late connection was not closed"
        time.sleep(0.01)


@pytest.mark.parametrize("timeout", [0, -1])
def test_timeout_must_be_positive(tmp_path, timeout):
    uri = write_fleet(tmp_path / "fleet.xml", [Domain("web1")])
    with pytest.raises(AnsibleParserError, match=f"Option timeout must be a number of seconds above 0, not {timeout}"):
        parse_with_plugin(write_config(tmp_path, uri=uri, timeout=timeout))


# -- ansible_host -----------------------------------------------------------------------------
def test_ansible_host_set_by_an_earlier_source_is_kept(tmp_path):
    uri = write_fleet(tmp_path / "fleet.xml", [Domain("web1"), Domain("web2")])
    static = tmp_path / "static.yml"
    static.write_text(yaml.safe_dump({"all": {"hosts": {"web1": {"ansible_host": "10.0.0.5"}}}}))
    inventory = load_inventory(static, write_config(tmp_path, uri=uri))
    web1, web2 = host_vars(inventory, "web1"), host_vars(inventory, "web2")
    assert web1["ansible_host"] == "10.0.0.5" and web1["libvirt_ips"]
    assert web2["ansible_host"] == web2["libvirt_ips"][0]


def test_a_host_from_an_earlier_source_gets_the_same_variables_as_a_new_one(tmp_path):
    uri = write_fleet(tmp_path / "fleet.xml", [Domain("web1", tags=("web",)), Domain("web2", tags=("web",))])
    static = tmp_path / "static.yml"
    static.write_text(yaml.safe_dump({"all": {"hosts": {"web1": {"owner": "ops"}}}}))
    inventory = load_inventory(static, write_config(tmp_path, uri=uri, read_tags=True))
    web1, web2 = libvirt_facts(host_vars(inventory, "web1")), libvirt_facts(host_vars(inventory, "web2"))
    assert host_vars(inventory, "web1")["owner"] == "ops"
    assert set(web1) == set(web2) and web1["libvirt_tags"] == web2["libvirt_tags"] == ["web"]
    assert group_hosts(inventory, "tag_web") == {"web1", "web2"}


def test_host_variable_names_are_valid_as_set_variable_requires():
    # A new host takes its variables in one update, without set_variable's check.
    plugin = inventory_loader.get("virtops.libvirt.libvirt")
    module = sys.modules[type(plugin).__module__]
    names = [variable for variable, _fact in module._VARIABLES] + ["libvirt_uri", "libvirt_hypervisor", "ansible_host"]
    for name in names:
        validate_variable_name(name)
    assert len(set(names)) == len(names) == 15


def test_compose_overrides_ansible_host_and_the_option_turns_it_off(tmp_path):
    uri = write_fleet(tmp_path / "fleet.xml", [Domain("web1")])
    composed = load_inventory(write_config(tmp_path, stem="composed", uri=uri, compose={"ansible_host": "libvirt_name ~ '.lan'"}))
    assert host_vars(composed, "web1")["ansible_host"] == "web1.lan"
    off = load_inventory(write_config(tmp_path, stem="off", uri=uri, set_ansible_host=False))
    assert "ansible_host" not in host_vars(off, "web1") and "ansible_connection" not in host_vars(off, "web1")


# -- constructed ------------------------------------------------------------------------------
def test_compose_groups_and_keyed_groups(tmp_path):
    uri = write_fleet(
        tmp_path / "fleet.xml",
        [
            Domain("web1", tags=("web", "prod"), memory_mib=8192),
            Domain("web2", tags=("web",)),
            Domain("db1", state="shutoff"),
        ],
    )
    config = write_config(
        tmp_path,
        uri=uri,
        read_tags=True,
        compose={"size": "libvirt_vcpus ~ 'x' ~ libvirt_memory_mib"},
        groups={"big": "libvirt_memory_mib >= 8192"},
        keyed_groups=[{"key": "libvirt_tags", "prefix": "role"}, {"key": "libvirt_state", "prefix": "is"}],
    )
    inventory = load_inventory(config)
    assert host_vars(inventory, "web1")["size"] == "1x8192"
    assert group_hosts(inventory, "big") == {"web1"}
    assert group_hosts(inventory, "role_web") == {"web1", "web2"}
    assert group_hosts(inventory, "role_prod") == {"web1"}
    assert group_hosts(inventory, "is_shutoff") == {"db1"}


def test_strict_makes_a_broken_compose_fatal(tmp_path):
    uri = write_fleet(tmp_path / "fleet.xml", [Domain("web1")])
    config = write_config(tmp_path, uri=uri, compose={"oops": "libvirt_nothing.attribute"}, strict=True)
    with pytest.raises(AnsibleError, match="Could not set oops for host web1"):
        parse_with_plugin(config)


# -- IP addresses -----------------------------------------------------------------------------
def test_a_failing_address_source_is_skipped_quietly(tmp_path, warnings, verbose):
    uri = write_fleet(tmp_path / "fleet.xml", [Domain("lost", network="nowhere"), Domain("found")])
    inventory = load_inventory(write_config(tmp_path, uri=uri, ip_sources=["lease", "arp"]))
    assert host_vars(inventory, "lost")["libvirt_ips"] == [] and "ansible_host" not in host_vars(inventory, "lost")
    assert host_vars(inventory, "found")["libvirt_ips"]
    assert warnings == []
    summaries = [line for line in verbose if "could not read the addresses" in line]
    assert len(summaries) == 2  # one line per source and hypervisor, not per domain
    assert any("source lease of 1 domain(s), first 'lost': Network not found" in line for line in summaries)


def test_the_agent_is_asked_for_running_domains_only_on_a_read_write_connection(tmp_path, monkeypatch):
    uri = write_fleet(tmp_path / "fleet.xml", [Domain("up1"), Domain("up2"), Domain("frozen", state="paused"), Domain("off", state="shutoff")])
    recorder = CallRecorder().install(monkeypatch)
    plugin, inventory = parse_with_plugin(write_config(tmp_path, uri=uri, ip_sources=["agent", "lease"]))
    assert recorder.opened == [("open", uri)]
    # up1 and up2: the agent answers; frozen: lease only (the agent needs a running guest); off: nothing
    assert recorder.calls["interfaceAddresses"] == 3
    assert host_vars(inventory, "frozen")["libvirt_ips"]


def test_without_agent_the_connection_is_read_only(tmp_path, monkeypatch):
    uri = write_fleet(tmp_path / "fleet.xml", [Domain("up1")])
    recorder = CallRecorder().install(monkeypatch)
    parse_with_plugin(write_config(tmp_path, uri=uri, ip_sources=["lease", "arp"]))
    assert recorder.opened == [("openReadOnly", uri)]


# -- how many libvirt calls ------------------------------------------------------------------
def own_count(verbose: list[str], uri: str) -> dict[str, int]:
    """The plugin's own count of its libvirt calls, from its -vvv summary line of ``uri``."""
    found = [
        re.fullmatch(r".*: \d+ domains, \d+ kept, (\d+) libvirt calls (\{.*\}), read in .*", line)
        for line in verbose
        if line.startswith(f"virtops.libvirt.libvirt: {uri}: ")
    ]
    assert len(found) == 1 and found[0], verbose
    counts = ast.literal_eval(found[0].group(2))
    assert sum(counts.values()) == int(found[0].group(1))
    return counts


def test_core_facts_cost_the_same_calls_for_10_and_300_domains(tmp_path, monkeypatch, verbose):
    """With statistics that carry vCPUs and memory (as QEMU's do), the core facts
    cost one statistics call and three listings, whatever the number of domains."""
    counts = []
    for size in (10, 300):
        uri = write_fleet(tmp_path / f"fleet{size}.xml", fleet(size))
        with monkeypatch.context() as patched:
            recorder = CallRecorder(stats_with_sizes=True).install(patched)
            _plugin, inventory = parse_with_plugin(write_config(tmp_path, stem=f"fleet{size}", uri=uri, ip_sources=[]))
        assert len(inventory.hosts) == size
        assert recorder.calls == Counter(getAllDomainStats=1, listAllDomains=3, close=1)
        assert own_count(verbose, uri) == {"openReadOnly": 1, **recorder.calls}  # the plugin's own count agrees
        counts.append(own_count(verbose, uri))
    assert counts[0] == counts[1]


def test_per_domain_calls_only_for_what_is_asked(tmp_path, monkeypatch, verbose):
    domains = fleet(100)
    uri = write_fleet(tmp_path / "fleet.xml", domains)
    recorder = CallRecorder().install(monkeypatch)
    _plugin, inventory = parse_with_plugin(write_config(tmp_path, uri=uri, read_tags=True, exclude_names=["vm0000?"], max_workers=3))
    kept = [domain for domain in domains if not domain.name.startswith("vm0000")]
    active = [domain for domain in kept if domain.state not in ("shutoff", "saved")]
    assert len(inventory.hosts) == len(kept) == 90
    # The test driver's statistics lack vCPUs and memory: one info() per domain kept supplies them.
    assert recorder.calls == Counter(getAllDomainStats=1, listAllDomains=3, close=1, info=len(kept), metadata=len(kept), interfaceAddresses=len(active))
    assert own_count(verbose, uri) == {"openReadOnly": 1, **recorder.calls}


# -- caching --------------------------------------------------------------------------------
def _refuse(uri):
    raise AssertionError(f"connected to {uri} although the cache holds the inventory")


def test_the_cache_answers_without_connecting(tmp_path, monkeypatch):
    fleet_file = tmp_path / "fleet.xml"
    uri = write_fleet(fleet_file, [Domain("web1", tags=("web",)), Domain("db1", state="shutoff")])
    cache_dir = tmp_path / "cache"
    config = write_config(tmp_path, uri=uri, read_tags=True, cache=True, cache_plugin="ansible.builtin.jsonfile", cache_connection=str(cache_dir))
    first = load_inventory(config)
    assert set(first.hosts) == {"web1", "db1"}
    assert len(list(cache_dir.iterdir())) == 1

    write_fleet(fleet_file, [Domain("web1", tags=("web",)), Domain("db1", state="shutoff"), Domain("new1")])
    with monkeypatch.context() as patched:
        patched.setattr(libvirt, "openReadOnly", _refuse)
        cached = load_inventory(config)
    assert set(cached.hosts) == {"web1", "db1"}
    assert host_vars(cached, "web1") == host_vars(first, "web1")
    assert group_hosts(cached, "tag_web") == {"web1"}

    refreshed = load_inventory(config, cache=False)  # --flush-cache, meta: refresh_inventory
    assert set(refreshed.hosts) == {"web1", "db1", "new1"}
    with monkeypatch.context() as patched:
        patched.setattr(libvirt, "openReadOnly", _refuse)
        assert set(load_inventory(config).hosts) == {"web1", "db1", "new1"}


def test_nothing_is_cached_when_a_hypervisor_was_not_read(tmp_path, warnings):
    uri = write_fleet(tmp_path / "fleet.xml", [Domain("web1")])
    cache_dir = tmp_path / "cache"
    config = write_config(
        tmp_path, uris=[uri, {"uri": UNREACHABLE, "name": "down"}], cache=True, cache_plugin="ansible.builtin.jsonfile", cache_connection=str(cache_dir)
    )
    assert set(load_inventory(config).hosts) == {"web1"}
    assert not cache_dir.exists() or not list(cache_dir.iterdir())
    assert len(warnings) == 1


def _spoil(data):
    """Ways a cache can be unusable: (the data in the cache file, what the warning says)."""
    first = data[0]["domains"][0]
    yield "SECRET-LINE-123 not JSON {", "the cache plugin could not load it"
    yield 42, "the cache plugin could not load it"
    yield json.dumps({"uri": data[0]["uri"]}), "it holds a dict, not a list of hypervisors"
    yield json.dumps([]), "it was written for other uris"
    yield json.dumps(["SECRET-LINE-123"]), "hypervisor 1 is a str, not a mapping"
    yield json.dumps([{**data[0], "uri": "test:///default"}]), "it was written for other uris"
    yield json.dumps([{key: value for key, value in data[0].items() if key != "names"}]), "hypervisor 1 has no names"
    yield json.dumps([{**data[0], "label": None}]), "hypervisor 1 has no label"
    yield json.dumps([{**data[0], "domains": {"web1": first}}]), "hypervisor 1 has no domains"
    for fact, value in (
        ("vcpus", "SECRET-LINE-123"),
        ("id", "1"),
        ("persistent", 1),
        ("ips", None),
        ("tags", "web"),
        ("state", "SECRET-LINE-123"),
        ("memory_mib", True),
    ):
        yield (json.dumps([{**data[0], "domains": [{**first, fact: value}]}]), f"hypervisor 1 domain 1 has an unusable {fact} (not")
    yield json.dumps([{**data[0], "domains": [{key: value for key, value in first.items() if key != "uuid"}]}]), "hypervisor 1 domain 1 has no uuid"
    yield (
        json.dumps([{**data[0], "names": [name for name in data[0]["names"] if name != first["name"]]}]),
        "hypervisor 1 domain 1 is not among the names of its hypervisor",
    )


def test_an_unusable_cache_is_read_again_and_replaced(tmp_path, monkeypatch):
    uri = write_fleet(tmp_path / "fleet.xml", [Domain("web1", tags=("web",)), Domain("db1", state="shutoff")])
    cache_dir = tmp_path / "cache"
    config = write_config(tmp_path, uri=uri, read_tags=True, cache=True, cache_plugin="ansible.builtin.jsonfile", cache_connection=str(cache_dir))
    expected = load_inventory(config)
    (cache_file,) = cache_dir.iterdir()
    stored = json.loads(cache_file.read_text())
    # ansible-core 2.19 stores the data as JSON text in a JSON object: {"__payload__": "..."}
    good = json.loads(stored["__payload__"])
    cache_file.write_text("SECRET-LINE-123 not JSON {")  # not even the object
    shown: list[str] = []
    monkeypatch.setattr(Display, "warning", lambda _self, msg, *_args, **_kwargs: shown.append(msg))
    for payload, problem in [("", "the cache plugin could not load it"), *_spoil(good)]:
        if payload:
            cache_file.write_text(json.dumps({"__payload__": payload}))
        shown.clear()
        inventory = load_inventory(config)
        assert set(inventory.hosts) == {"web1", "db1"}, problem
        assert host_vars(inventory, "web1") == host_vars(expected, "web1")
        mine = [msg for msg in shown if msg.startswith("virtops.libvirt.libvirt: ")]
        assert len(mine) == 1 and f"ignored the inventory cache ({problem}" in mine[0], (problem, shown)
        assert mine[0].endswith("); reading the hypervisors instead.")
        assert not any("SECRET-LINE-123" in msg for msg in shown)
        assert json.loads(json.loads(cache_file.read_text())["__payload__"]) == good  # replaced by what was read
