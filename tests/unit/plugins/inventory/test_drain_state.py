"""The inventory plugin's option drain_state_file, on libvirt's in-process test driver:
the hypervisors the drain playbooks (playbooks/drain.yml, undrain.yml) recorded as
drained become groups of libvirt_drained, and the domains moved off them say where
they came from. The state file is written here as those playbooks write it."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import libvirt
import pytest
from ansible.errors import AnsibleParserError
from ansible.plugins.loader import inventory_loader
from ansible.utils.display import Display
from ansible.utils.vars import validate_variable_name
from inventory_harness import (
    UNREACHABLE,
    WITH_PASSWORD,
    CallRecorder,
    Domain,
    assert_discreet,
    group_hosts,
    host_vars,
    load_inventory,
    parse_with_plugin,
    write_config,
    write_fleet,
)

from ansible_collections.virtops.libvirt.plugins.module_utils._core.errors import redact_uri


@pytest.fixture
def warnings(monkeypatch) -> list[str]:
    shown: list[str] = []
    monkeypatch.setattr(Display, "warning", lambda _self, msg, *_args, **_kwargs: shown.append(msg))
    return shown


def uuid_of(uri: str, name: str) -> str:
    conn = libvirt.openReadOnly(uri)
    try:
        return conn.lookupByName(name).UUIDString()
    finally:
        conn.close()


def moved(name: str, uuid: str | None, origin: str, to: str) -> dict:
    """An entry of virt_drain's moved list, as the drain playbook appends it to the state file."""
    return {"name": name, "uuid": uuid, "from": redact_uri(origin), "to": redact_uri(to), "mode": "live", "duration": 1.5, "downtime_ms": 20}


def write_state(path: Path, hypervisors: dict) -> Path:
    path.write_text(json.dumps({"version": 1, "hypervisors": hypervisors}, indent=2))
    return path


def drained_entry(*entries: dict, label: str | None = "hv1", drained: bool = True, targets: tuple[str, ...] = ()) -> dict:
    return {"label": label, "drained": drained, "since": "2026-12-01T06:00:00Z", "moved": list(entries), "targets": list(targets)}


@pytest.fixture
def two(tmp_path):
    """hv1, partly drained: web1 and db1 moved to hv2 (their copies there), keep1
    left behind; hv2 holds the moved domains and one of its own."""
    hv1 = write_fleet(tmp_path / "hv1.xml", [Domain("keep1")])
    hv2 = write_fleet(tmp_path / "hv2.xml", [Domain("web1"), Domain("db1", state="shutoff"), Domain("own2")])
    return hv1, hv2


def group_vars(inventory, group: str) -> dict:
    return dict(inventory.groups[group].get_vars())


def child_groups(inventory, group: str) -> set[str]:
    return {child.name for child in inventory.groups[group].child_groups}


# -- the groups and variables -------------------------------------------------------------------
def test_a_drained_hypervisor_is_a_group_of_libvirt_drained_and_its_domains_say_where_they_came_from(tmp_path, two):
    hv1, hv2 = two
    state = write_state(
        tmp_path / "virtops-drain.json",
        {
            redact_uri(hv1): drained_entry(moved("web1", uuid_of(hv2, "web1"), hv1, hv2), moved("db1", uuid_of(hv2, "db1"), hv1, hv2), targets=(hv2,)),
        },
    )
    config = write_config(tmp_path, uris=[{"uri": hv1, "name": "hv1"}, {"uri": hv2, "name": "hv2"}], drain_state_file=state.name)
    inventory = load_inventory(config)

    assert child_groups(inventory, "libvirt_drained") == {"libvirt_hypervisor_hv1"}
    assert group_vars(inventory, "libvirt_hypervisor_hv1") == {"libvirt_hypervisor_drained": True}
    assert group_vars(inventory, "libvirt_hypervisor_hv2") == {}
    # the domains left on the drained hypervisor are in libvirt_drained through its group
    assert {host.name for host in inventory.groups["libvirt_drained"].get_hosts()} == {"keep1"}
    assert host_vars(inventory, "web1")["libvirt_drained_from"] == "hv1"
    assert host_vars(inventory, "db1")["libvirt_drained_from"] == "hv1"
    assert "libvirt_drained_from" not in host_vars(inventory, "own2")
    assert "libvirt_drained_from" not in host_vars(inventory, "keep1")


def test_the_group_var_reaches_the_domains_left_on_the_drained_hypervisor(tmp_path, two):
    from ansible.parsing.dataloader import DataLoader
    from ansible.vars.manager import VariableManager

    hv1, hv2 = two
    state = write_state(tmp_path / "virtops-drain.json", {redact_uri(hv1): drained_entry(moved("web1", uuid_of(hv2, "web1"), hv1, hv2))})
    inventory = load_inventory(write_config(tmp_path, uris=[{"uri": hv1, "name": "hv1"}, {"uri": hv2, "name": "hv2"}], drain_state_file=str(state)))
    variables = VariableManager(loader=DataLoader(), inventory=inventory)
    assert variables.get_vars(host=inventory.get_host("keep1"))["libvirt_hypervisor_drained"] is True
    assert "libvirt_hypervisor_drained" not in variables.get_vars(host=inventory.get_host("web1"))


def test_an_empty_drained_hypervisor_still_has_its_group(tmp_path):
    hv1 = write_fleet(tmp_path / "hv1.xml", [])
    hv2 = write_fleet(tmp_path / "hv2.xml", [Domain("web1")])
    state = write_state(tmp_path / "virtops-drain.json", {redact_uri(hv1): drained_entry(moved("web1", uuid_of(hv2, "web1"), hv1, hv2))})
    inventory = load_inventory(write_config(tmp_path, uris=[{"uri": hv1, "name": "hv1"}, {"uri": hv2, "name": "hv2"}], drain_state_file=str(state)))
    assert group_hosts(inventory, "libvirt_hypervisor_hv1") == set()
    assert group_vars(inventory, "libvirt_hypervisor_hv1") == {"libvirt_hypervisor_drained": True}
    assert child_groups(inventory, "libvirt_drained") == {"libvirt_hypervisor_hv1"}
    assert host_vars(inventory, "web1")["libvirt_drained_from"] == "hv1"


def test_a_drained_hypervisor_that_does_not_answer_still_has_its_group(tmp_path, warnings):
    # the usual case: it is rebooting after its maintenance
    hv2 = write_fleet(tmp_path / "hv2.xml", [Domain("web1")])
    state = write_state(tmp_path / "virtops-drain.json", {redact_uri(UNREACHABLE): drained_entry(moved("web1", uuid_of(hv2, "web1"), UNREACHABLE, hv2))})
    inventory = load_inventory(write_config(tmp_path, uris=[{"uri": UNREACHABLE, "name": "down"}, {"uri": hv2, "name": "hv2"}], drain_state_file=str(state)))
    assert len(warnings) == 1 and "skipped hypervisor 'down'" in warnings[0]
    assert group_hosts(inventory, "libvirt_hypervisor_down") == set()
    assert group_vars(inventory, "libvirt_hypervisor_down") == {"libvirt_hypervisor_drained": True}
    assert child_groups(inventory, "libvirt_drained") == {"libvirt_hypervisor_down"}
    assert host_vars(inventory, "web1")["libvirt_drained_from"] == "down"


def test_a_domain_named_like_the_group_of_an_unanswering_drained_hypervisor_gets_a_host_name_of_its_own(tmp_path, warnings):
    hv2 = write_fleet(tmp_path / "hv2.xml", [Domain("libvirt_hypervisor_down")])
    state = write_state(tmp_path / "virtops-drain.json", {redact_uri(UNREACHABLE): drained_entry()})
    inventory = load_inventory(write_config(tmp_path, uris=[{"uri": UNREACHABLE, "name": "down"}, {"uri": hv2, "name": "hv2"}], drain_state_file=str(state)))
    assert set(inventory.hosts) == {"libvirt_hypervisor_down@hv2"}
    assert "libvirt_hypervisor_down" in inventory.groups


def test_a_hypervisor_not_read_here_is_named_by_its_uri_without_credentials(tmp_path):
    hv2 = write_fleet(tmp_path / "hv2.xml", [Domain("web1")])
    state = write_state(tmp_path / "virtops-drain.json", {redact_uri(WITH_PASSWORD): drained_entry(moved("web1", uuid_of(hv2, "web1"), WITH_PASSWORD, hv2))})
    inventory = load_inventory(write_config(tmp_path, uris=[{"uri": hv2, "name": "hv2"}], drain_state_file=str(state)))
    assert host_vars(inventory, "web1")["libvirt_drained_from"] == "qemu+tcp://user:********@127.0.0.1:1/system"
    assert child_groups(inventory, "libvirt_drained") == set()
    assert_discreet(json.dumps(host_vars(inventory, "web1"), default=str))


def test_a_hypervisor_is_matched_by_its_uri_with_credentials_hidden(tmp_path, warnings):
    hv2 = write_fleet(tmp_path / "hv2.xml", [Domain("web1")])
    state = write_state(tmp_path / "virtops-drain.json", {redact_uri(WITH_PASSWORD): drained_entry(moved("web1", uuid_of(hv2, "web1"), WITH_PASSWORD, hv2))})
    config = write_config(tmp_path, uris=[{"uri": WITH_PASSWORD, "name": "kvm1"}, {"uri": hv2, "name": "hv2"}], drain_state_file=str(state), timeout=5)
    inventory = load_inventory(config)
    assert child_groups(inventory, "libvirt_drained") == {"libvirt_hypervisor_kvm1"}
    assert host_vars(inventory, "web1")["libvirt_drained_from"] == "kvm1"
    assert_discreet(*warnings)


def test_a_domain_back_home_or_not_drained_has_no_drained_from(tmp_path):
    hv1 = write_fleet(tmp_path / "hv1.xml", [Domain("web1")])
    hv2 = write_fleet(tmp_path / "hv2.xml", [Domain("db1")])
    hv3 = write_fleet(tmp_path / "hv3.xml", [Domain("app1")])
    state = write_state(
        tmp_path / "virtops-drain.json",
        {
            # web1 came back to hv1 before the state file was updated
            redact_uri(hv1): drained_entry(moved("web1", uuid_of(hv1, "web1"), hv1, hv2)),
            # hv3 was undrained (unmark false keeps the entry): not drained, so nothing is said
            redact_uri(hv3): drained_entry(moved("db1", uuid_of(hv2, "db1"), hv3, hv2), label="hv3", drained=False),
        },
    )
    uris = [{"uri": hv1, "name": "hv1"}, {"uri": hv2, "name": "hv2"}, {"uri": hv3, "name": "hv3"}]
    inventory = load_inventory(write_config(tmp_path, uris=uris, drain_state_file=str(state)))
    assert "libvirt_drained_from" not in host_vars(inventory, "web1")
    assert "libvirt_drained_from" not in host_vars(inventory, "db1")
    assert child_groups(inventory, "libvirt_drained") == {"libvirt_hypervisor_hv1"}
    assert group_vars(inventory, "libvirt_hypervisor_hv3") == {}


def test_a_missing_file_drains_nothing_and_libvirt_drained_is_there_empty(tmp_path, verbose_lines):
    hv1 = write_fleet(tmp_path / "hv1.xml", [Domain("web1")])
    inventory = load_inventory(write_config(tmp_path, uri=hv1, drain_state_file="virtops-drain.json"))
    assert set(inventory.hosts) == {"web1"}
    assert "libvirt_drained" in inventory.groups and not inventory.groups["libvirt_drained"].get_hosts()
    assert "libvirt_drained_from" not in host_vars(inventory, "web1")
    assert any(f"{tmp_path / 'virtops-drain.json'}' (option drain_state_file) does not exist" in line for line in verbose_lines)


def test_without_the_option_no_file_is_read_and_no_group_made(tmp_path, monkeypatch):
    hv1 = write_fleet(tmp_path / "hv1.xml", [Domain("web1"), Domain("libvirt_drained")])
    write_state(tmp_path / "virtops-drain.json", {redact_uri(hv1): drained_entry()})
    monkeypatch.chdir(tmp_path)
    for value in (None, ""):
        inventory = load_inventory(write_config(tmp_path, uri=hv1, **({} if value is None else {"drain_state_file": value})))
        assert set(inventory.hosts) == {"web1", "libvirt_drained"}
        assert "libvirt_drained" not in inventory.groups


def test_libvirt_drained_is_a_reserved_name_with_the_option(tmp_path, warnings):
    hv1 = write_fleet(tmp_path / "hv1.xml", [Domain("web1"), Domain("libvirt_drained")])
    inventory = load_inventory(write_config(tmp_path, uri=hv1, drain_state_file="none-yet.json"))
    assert set(inventory.hosts) == {"web1", "libvirt_drained@localhost"}
    assert len(warnings) == 1 and "'libvirt_drained@localhost'" in warnings[0]


def test_the_variable_names_are_valid_as_set_variable_requires():
    plugin = inventory_loader.get("virtops.libvirt.libvirt")
    module = sys.modules[type(plugin).__module__]
    validate_variable_name("libvirt_drained_from")
    validate_variable_name("libvirt_hypervisor_drained")
    assert "libvirt_drained_from" not in {variable for variable, _fact in module._VARIABLES}


# -- where the file is -----------------------------------------------------------------------
def test_a_relative_path_is_relative_to_the_configuration_file_not_the_working_directory(tmp_path, monkeypatch, two):
    hv1, hv2 = two
    (tmp_path / "inventory" / "state").mkdir(parents=True)
    write_state(tmp_path / "inventory" / "state" / "drain.json", {redact_uri(hv1): drained_entry()})
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "state").mkdir(parents=True)
    write_state(elsewhere / "state" / "drain.json", {})  # a decoy below the working directory
    monkeypatch.chdir(elsewhere)
    config = write_config(tmp_path / "inventory", uris=[{"uri": hv1, "name": "hv1"}, {"uri": hv2, "name": "hv2"}], drain_state_file="state/drain.json")
    assert child_groups(load_inventory(config), "libvirt_drained") == {"libvirt_hypervisor_hv1"}


@pytest.mark.parametrize("value", ["${VIRTOPS_TEST_STATE_DIR}/virtops-drain.json", "$VIRTOPS_TEST_STATE_DIR/virtops-drain.json", "~/virtops-drain.json"])
def test_home_and_environment_variables_are_expanded(tmp_path, monkeypatch, two, value):
    hv1, hv2 = two
    write_state(tmp_path / "virtops-drain.json", {redact_uri(hv1): drained_entry()})
    monkeypatch.setenv("VIRTOPS_TEST_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "inventory").mkdir()
    config = write_config(tmp_path / "inventory", uris=[{"uri": hv1, "name": "hv1"}, {"uri": hv2, "name": "hv2"}], drain_state_file=value)
    assert child_groups(load_inventory(config), "libvirt_drained") == {"libvirt_hypervisor_hv1"}


def test_the_file_is_read_again_when_the_cache_answers(tmp_path, monkeypatch, two):
    hv1, hv2 = two
    state = tmp_path / "virtops-drain.json"
    cache_dir = tmp_path / "cache"
    uris = [{"uri": hv1, "name": "hv1"}, {"uri": hv2, "name": "hv2"}]
    config = write_config(
        tmp_path, uris=uris, drain_state_file=str(state), cache=True, cache_plugin="ansible.builtin.jsonfile", cache_connection=str(cache_dir)
    )
    assert child_groups(load_inventory(config), "libvirt_drained") == set()
    write_state(state, {redact_uri(hv1): drained_entry(moved("web1", uuid_of(hv2, "web1"), hv1, hv2))})

    def refuse(uri):
        raise AssertionError(f"connected to {uri} although the cache holds the inventory")

    monkeypatch.setattr(libvirt, "openReadOnly", refuse)
    cached = load_inventory(config)
    assert child_groups(cached, "libvirt_drained") == {"libvirt_hypervisor_hv1"}
    assert host_vars(cached, "web1")["libvirt_drained_from"] == "hv1"


# -- files that are not state files ---------------------------------------------------------------
def _broken_states():
    """(file content, what the error says about it)."""
    yield b"SECRET-LINE-123 {", "it is not JSON (Expecting value: line 1 column 1"
    yield b"\xff\xfe not text", "it is not UTF-8 text (invalid start byte at byte 0)"
    yield b"[]", "it is not a state file of the drain playbooks (its top level is not an object)"
    yield b'{"hypervisors": {}}', "(its version is None, not 1)"
    yield b'{"version": 2, "hypervisors": {}}', "(its version is 2, not 1)"
    yield b'{"version": 1}', "(it has no object 'hypervisors')"
    yield b'{"version": 1, "hypervisors": []}', "(it has no object 'hypervisors')"
    yield b'{"version": 1, "hypervisors": {"qemu:///system": "SECRET-LINE-123"}}', '(hypervisors["qemu:///system"] is not an object)'
    yield b'{"version": 1, "hypervisors": {"qemu:///system": {"drained": "yes"}}}', '(hypervisors["qemu:///system"].drained is not true or false)'
    yield b'{"version": 1, "hypervisors": {"qemu:///system": {"label": 7}}}', '(hypervisors["qemu:///system"].label is not a string)'
    yield b'{"version": 1, "hypervisors": {"qemu:///system": {"moved": {}}}}', '(hypervisors["qemu:///system"].moved is not a list)'
    yield (
        b'{"version": 1, "hypervisors": {"qemu:///system": {"moved": [{"name": "web1"}]}}}',
        "(hypervisors[\"qemu:///system\"].moved[0] is not an object with the strings 'name' and 'to')",
    )
    yield (
        b'{"version": 1, "hypervisors": {"qemu:///system": {"moved": [{"name": "web1", "to": "x", "uuid": 1}]}}}',
        '(hypervisors["qemu:///system"].moved[0].uuid is not a string)',
    )
    pw = json.dumps({"version": 1, "hypervisors": {WITH_PASSWORD: []}}).encode()
    yield pw, '(hypervisors["qemu+tcp://user:********@127.0.0.1:1/system"] is not an object)'


@pytest.mark.parametrize(("content", "problem"), list(_broken_states()))
def test_a_file_that_is_not_a_state_file_is_an_error_naming_it_before_any_connection(tmp_path, monkeypatch, content, problem):
    hv1 = write_fleet(tmp_path / "hv1.xml", [Domain("web1")])
    state = tmp_path / "virtops-drain.json"
    state.write_bytes(content)
    recorder = CallRecorder().install(monkeypatch)
    with pytest.raises(AnsibleParserError) as raised:
        parse_with_plugin(write_config(tmp_path, uri=hv1, drain_state_file=state.name))
    message = str(raised.value)
    assert message.startswith(f"Cannot read the drain state file '{state}' (option drain_state_file): "), message
    assert problem in message, message
    assert_discreet(message)
    assert recorder.opened == []


def test_an_unreadable_file_is_an_error_naming_it(tmp_path):
    hv1 = write_fleet(tmp_path / "hv1.xml", [Domain("web1")])
    (tmp_path / "a-directory.json").mkdir()
    expected = f"Cannot read the drain state file '{tmp_path / 'a-directory.json'}' (option drain_state_file): Is a directory."
    with pytest.raises(AnsibleParserError, match=re.escape(expected) + "$"):
        parse_with_plugin(write_config(tmp_path, uri=hv1, drain_state_file="a-directory.json"))
    if os.geteuid() != 0:  # root reads any file
        locked = tmp_path / "locked.json"
        write_state(locked, {}).chmod(0)
        with pytest.raises(AnsibleParserError, match="Permission denied"):
            parse_with_plugin(write_config(tmp_path, stem="locked", uri=hv1, drain_state_file=str(locked)))


def test_through_ansible_a_broken_file_fails_the_source_with_the_message(tmp_path, capfd):
    # ansible-playbook and ansible-inventory load no host from this source and show why
    hv1 = write_fleet(tmp_path / "hv1.xml", [Domain("web1")])
    (tmp_path / "virtops-drain.json").write_text("{")
    inventory = load_inventory(write_config(tmp_path, uri=hv1, drain_state_file="virtops-drain.json"))
    assert "web1" not in inventory.hosts
    shown = " ".join(capfd.readouterr().err.split())
    assert f"Cannot read the drain state file '{tmp_path / 'virtops-drain.json'}' (option drain_state_file): it is not JSON" in shown, shown


@pytest.fixture
def verbose_lines(monkeypatch) -> list[str]:
    shown: list[str] = []
    monkeypatch.setattr(Display, "vvv", lambda _self, msg, *_args, **_kwargs: shown.append(msg))
    return shown
