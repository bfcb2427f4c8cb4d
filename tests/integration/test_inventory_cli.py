"""The inventory plugin virtops.libvirt.libvirt as a user sees it: `ansible-inventory`
and `ansible-playbook` run on fleets of libvirt's test driver (test:///<file>, read
in the tools' own process: no daemon, no guest). The same fleets in-process, and the
helpers that make them (inventory_harness.py), are in tests/unit/plugins/inventory."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from virt_harness import ENV, ROOT

sys.path.append(str(ROOT / "tests" / "unit" / "plugins" / "inventory"))  # the unit tests' fleets and names
from inventory_harness import (  # noqa: E402  (found through the line above)
    EVIL_NAME,
    EVIL_TAG,
    HOSTILE_NAMES,
    UNREACHABLE,
    WITH_PASSWORD,
    Domain,
    assert_discreet,
    expected_host,
    fleet,
    hostile_config,
    write_config,
    write_fleet,
    write_not_xml,
)

# What ANSIBLE_COLLECTIONS_PATH of virt_harness.ENV holds: `make setup` links it to this checkout.
COLLECTION = ROOT / "build" / "collections" / "ansible_collections" / "virtops" / "libvirt"


@pytest.fixture
def ansible_cli(tmp_path):
    """Run an Ansible command line tool of this venv as a user would, on this checkout
    as the collection virtops.libvirt."""
    assert COLLECTION.resolve() == ROOT, f"{COLLECTION} is not a link to {ROOT}: run `make setup`"

    def _run(tool: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        environment = {**ENV, "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-tmp"), **(env or {})}
        command = [str(Path(sys.executable).parent / tool), *args]
        return subprocess.run(command, capture_output=True, text=True, env=environment, check=False, cwd=tmp_path)

    return _run


@pytest.fixture
def not_xml(tmp_path) -> str:
    return write_not_xml(tmp_path)


def unwrap(value):
    """ansible-inventory --list marks untrusted text {"__ansible_unsafe": "..."}: the text."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return value["__ansible_unsafe"]
        return {key: unwrap(item) for key, item in value.items()}
    if isinstance(value, list):
        return [unwrap(item) for item in value]
    return value


def inventory_json(result: subprocess.CompletedProcess) -> dict[str, Any]:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_delegate_to_localhost_stays_on_the_controller(tmp_path, ansible_cli):
    uri = write_fleet(tmp_path / "fleet.xml", [Domain("localhost"), Domain("web1")])
    playbook = tmp_path / "where.yml"
    playbook.write_text(
        yaml.safe_dump(
            [
                {
                    "hosts": "localhost",
                    "gather_facts": False,
                    "tasks": [
                        {
                            "name": "The controller is the implicit localhost",
                            "ansible.builtin.assert": {
                                "that": [
                                    "ansible_connection == 'local'",
                                    "libvirt_name is undefined",
                                    "ansible_host | default('') != hostvars['localhost@localhost'].ansible_host",
                                ]
                            },
                        },
                    ],
                }
            ]
        )
    )
    played = ansible_cli("ansible-playbook", "-i", str(write_config(tmp_path, uri=uri)), str(playbook))
    assert played.returncode == 0, played.stdout + played.stderr
    assert "ok=1" in played.stdout and "domain 'localhost' of hypervisor 'localhost' is the inventory host 'localhost@localhost'" in played.stderr


def test_hostile_names_as_ansible_inventory_shows_them(tmp_path, ansible_cli):
    config = hostile_config(tmp_path)
    listed = ansible_cli("ansible-inventory", "-i", str(config), "--list", env={"ANSIBLE_INVENTORY_UNPARSED_FAILED": "true"})
    data = unwrap(inventory_json(listed))
    hostvars = data.pop("_meta")["hostvars"]
    assert set(hostvars) == {expected_host(name) for name in HOSTILE_NAMES}
    assert {variables["libvirt_name"] for variables in hostvars.values()} == set(HOSTILE_NAMES)
    assert not set(hostvars) & set(data)  # no host is a group
    assert "libvirt_hypervisor_localhost" in data["all"]["children"]
    graph = ansible_cli("ansible-inventory", "-i", str(config), "--graph", env={"ANSIBLE_INVENTORY_UNPARSED_FAILED": "true"})
    assert graph.returncode == 0, graph.stderr
    assert "|--all@localhost" in graph.stdout and "|--{{ lookup('pipe','id') }}" in graph.stdout
    for run in (listed, graph):
        assert "Traceback" not in run.stderr and "Unexpected Exception" not in run.stderr
        assert "uid=" not in run.stdout + run.stderr  # the lookup in a name never ran


def test_text_from_the_hypervisor_is_never_templated(tmp_path, ansible_cli):
    uri = write_fleet(tmp_path / "fleet.xml", [Domain(EVIL_NAME, tags=(EVIL_TAG, "web"))])
    config = write_config(tmp_path, uri=uri, read_tags=True)
    probe = {"VIRTOPS_PROBE": "probe-was-templated"}

    listed = inventory_json(ansible_cli("ansible-inventory", "-i", str(config), "--list", env=probe))
    assert "probe-was-templated" not in str(listed)
    variables = unwrap(listed["_meta"]["hostvars"][EVIL_NAME])
    assert (variables["libvirt_name"], variables["libvirt_tags"]) == (EVIL_NAME, [EVIL_TAG, "web"])

    playbook = tmp_path / "show.yml"
    playbook.write_text(
        yaml.safe_dump(
            [
                {
                    "hosts": "all",
                    "gather_facts": False,
                    "tasks": [
                        {"name": "Tags", "ansible.builtin.debug": {"var": "libvirt_tags"}},
                        {
                            "name": "Names",
                            "ansible.builtin.debug": {"msg": "{{ inventory_hostname }} is {{ libvirt_name }} with {{ libvirt_tags | join(',') }}"},
                        },
                    ],
                }
            ]
        )
    )
    played = ansible_cli("ansible-playbook", "-i", str(config), str(playbook), env=probe)
    assert played.returncode == 0, played.stdout + played.stderr
    assert "probe-was-templated" not in played.stdout and "evil-49" not in played.stdout
    assert f'"{EVIL_TAG}",' in played.stdout
    assert f'"msg": "{EVIL_NAME} is {EVIL_NAME} with {EVIL_TAG},web"' in played.stdout


def test_ansible_inventory_shows_neither_file_contents_nor_passwords(tmp_path, ansible_cli, not_xml):
    write_fleet(tmp_path / "fleet.xml", [Domain("web1")])
    good = f"test://user:pw@{tmp_path / 'fleet.xml'}"
    config = write_config(tmp_path, uris=[good, {"uri": not_xml, "name": "notes"}, {"uri": WITH_PASSWORD, "name": "tcp"}])
    output = tmp_path / "inventory.json"
    listed = ansible_cli("ansible-inventory", "-i", str(config), "--list", "-vvv", "--output", str(output))
    assert listed.returncode == 0, listed.stderr
    assert set(json.loads(output.read_text())["_meta"]["hostvars"]) == {"web1"}
    assert "skipped hypervisor 'notes'" in listed.stderr and "skipped hypervisor 'tcp'" in listed.stderr
    assert f"virtops.libvirt.libvirt: test://user:********@{tmp_path / 'fleet.xml'}: 1 domains" in listed.stdout  # -vvv
    assert_discreet(listed.stdout, listed.stderr)


def test_unreachable_hypervisors_as_ansible_inventory_shows_them(tmp_path, ansible_cli):
    good = write_fleet(tmp_path / "fleet.xml", [Domain("web1")])
    lenient = write_config(tmp_path, stem="lenient", uris=[good, {"uri": UNREACHABLE, "name": "down"}])
    result = ansible_cli("ansible-inventory", "-i", str(lenient), "--list")
    assert set(inventory_json(result)["_meta"]["hostvars"]) == {"web1"}
    assert result.stderr.count(UNREACHABLE) == 1 and "skipped hypervisor 'down'" in result.stderr

    strict = write_config(tmp_path, stem="strict", uris=[good, {"uri": UNREACHABLE, "name": "down"}], strict_uris=True)
    failed = ansible_cli("ansible-inventory", "-i", str(strict), "--list", env={"ANSIBLE_INVENTORY_UNPARSED_FAILED": "true"})
    assert failed.returncode != 0
    assert f"Cannot connect to libvirt at URI '{UNREACHABLE}'" in failed.stderr


def test_host_vars_files_override_ansible_host(tmp_path, ansible_cli):
    uri = write_fleet(tmp_path / "fleet.xml", [Domain("web1"), Domain("web2")])
    (tmp_path / "host_vars").mkdir()
    (tmp_path / "host_vars" / "web1.yml").write_text("ansible_host: 10.9.9.9\n")
    listed = unwrap(inventory_json(ansible_cli("ansible-inventory", "-i", str(write_config(tmp_path, uri=uri)), "--list")))
    hostvars = listed["_meta"]["hostvars"]
    assert hostvars["web1"]["ansible_host"] == "10.9.9.9"
    assert hostvars["web2"]["ansible_host"] == hostvars["web2"]["libvirt_ips"][0]


def test_ansible_inventory_lists_two_hypervisors(tmp_path, ansible_cli):
    one = write_fleet(tmp_path / "one.xml", fleet(30))
    two = write_fleet(tmp_path / "two.xml", fleet(5) + [Domain("solo", tags=("db",))])
    config = write_config(
        tmp_path,
        uris=[{"uri": one, "name": "kvm1"}, {"uri": two, "name": "kvm2"}],
        read_tags=True,
        states=["running", "paused"],
        keyed_groups=[{"key": "libvirt_hypervisor", "prefix": "on"}],
    )
    listed = unwrap(inventory_json(ansible_cli("ansible-inventory", "-i", str(config), "--list")))
    hostvars = listed["_meta"]["hostvars"]
    assert "vm00000@kvm1" in hostvars and "vm00000@kvm2" in hostvars and "vm00010" in hostvars and "solo" in hostvars
    assert "vm00005" not in hostvars  # shut off
    assert hostvars["solo"]["libvirt_tags"] == ["db"]
    assert listed["tag_db"]["hosts"] == ["solo"]
    assert set(listed["on_kvm2"]["hosts"]) == {"vm00000@kvm2", "vm00001@kvm2", "vm00002@kvm2", "vm00003@kvm2", "vm00004@kvm2", "solo"}
    assert set(listed["libvirt_paused"]["hosts"]) == {"vm00004@kvm1", "vm00014", "vm00024", "vm00004@kvm2"}
