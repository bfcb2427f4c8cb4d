"""virt_domain_info as Ansible runs it, on libvirt's in-process test driver."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import libvirt
import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.virtops.libvirt.plugins.modules import virt_domain_info

URI = "test:///default"
TAGGED_XML = """<domain type='test'>
  <name>web1</name>
  <metadata>
    <other:tags xmlns:other='https://example.com/not-ours'><other:tag>ignored</other:tag></other:tags>
    <vo:tags xmlns:vo='https://virtops.dev/xmlns/libvirt/1'>
      <vo:tag>web</vo:tag>
      <vo:tag> production </vo:tag>
      <vo:tag/>
    </vo:tags>
  </metadata>
  <memory unit='MiB'>512</memory>
  <vcpu>3</vcpu>
  <os><type>hvm</type></os>
  <devices>
    <disk type='network' device='cdrom'>
      <source protocol='https' name='/x.iso' query='token=T0KEN'><host name='example.com' port='443'/>
        <cookies><cookie name='session'>SECRETVALUE</cookie></cookies></source>
      <target dev='hdc' bus='ide'/><readonly/>
    </disk>
    <graphics type='vnc' passwd='s3cret'/>
  </devices>
</domain>"""


@pytest.fixture
def scratch(make_domain):
    """A running transient domain, stopped (and so gone) after the test: conftest's
    reset would trip over a transient domain vanishing as it destroys it."""
    domain = make_domain("scratch", transient=True)
    yield domain
    if domain.isActive():
        domain.destroy()


def run_module(capsys, **args):
    with patch_module_args({"uri": URI, **args}), pytest.raises(SystemExit) as exited:
        virt_domain_info.main()
    result = json.loads(capsys.readouterr().out)
    result["rc"] = exited.value.code
    return result


def by_name(result) -> dict[str, dict]:
    return {entry["name"]: entry for entry in result["domains"]}


def test_lists_every_domain_sorted_with_every_field(conn, make_domain, capsys):
    make_domain("zeta")
    make_domain("alpha").setAutostart(1)
    result = run_module(capsys)
    assert (result["rc"], result["changed"]) == (0, False)
    assert [entry["name"] for entry in result["domains"]] == ["alpha", "test", "zeta"]
    alpha, running = by_name(result)["alpha"], by_name(result)["test"]
    assert alpha == {
        "name": "alpha",
        "uuid": conn.lookupByName("alpha").UUIDString(),
        "id": None,
        "state": "shutoff",
        "reason": "unknown",
        "state_text": "shut off (unknown)",
        "persistent": True,
        "autostart": True,
        "vcpus": 1,
        "memory_mib": 64,
        "managed_save": False,
        "pending_restart": False,
        "tags": [],
    }
    assert running["id"] == conn.lookupByName("test").ID() and running["id"] is not None
    assert (running["state"], running["autostart"], running["vcpus"], running["memory_mib"]) == ("running", False, 2, 8192)
    assert "definition" not in running


def test_reason_and_state_text_follow_virsh(conn, capsys):
    conn.lookupByName("test").shutdown()
    entry = run_module(capsys, name="test")["domains"][0]
    assert (entry["state"], entry["reason"], entry["state_text"], entry["id"]) == ("shutoff", "shutdown", "shut off (shutdown)", None)
    conn.lookupByName("test").create()
    conn.lookupByName("test").suspend()
    entry = run_module(capsys, name="test")["domains"][0]
    assert (entry["state"], entry["state_text"]) == ("paused", "paused (user)")


def test_state_filter(conn, make_domain, capsys):
    make_domain("off1")
    saved = make_domain("saved1")
    saved.create()
    saved.managedSave(0)
    assert [d["name"] for d in run_module(capsys, state=["shutoff"])["domains"]] == ["off1"]
    only_saved = run_module(capsys, state=["saved"])["domains"]
    assert [(d["name"], d["managed_save"], d["state_text"]) for d in only_saved] == [("saved1", True, "shut off (saved)")]
    assert [d["name"] for d in run_module(capsys, state=["running", "saved"])["domains"]] == ["saved1", "test"]
    assert run_module(capsys, name="off1", state=["running"])["domains"] == []


def test_name_selects_one_domain(conn, make_domain, capsys):
    make_domain("web2")
    result = run_module(capsys, name="web2")
    assert [d["name"] for d in result["domains"]] == ["web2"]


def test_tags_come_from_the_virtops_namespace_only(conn, capsys):
    conn.defineXML(TAGGED_XML)
    entry = run_module(capsys, name="web1")["domains"][0]
    assert entry["tags"] == ["web", "production"]
    assert (entry["vcpus"], entry["memory_mib"]) == (3, 512)


def test_definition_is_returned_with_secrets_masked(conn, capsys):
    conn.defineXML(TAGGED_XML)
    entry = run_module(capsys, name="web1", definition=True)["domains"][0]
    assert "<name>web1</name>" in entry["definition"]
    assert 'passwd="********"' in entry["definition"] and 'query="********"' in entry["definition"]
    assert '<cookie name="session">********</cookie>' in entry["definition"]
    secure = conn.lookupByName("web1").XMLDesc(libvirt.VIR_DOMAIN_XML_SECURE)
    for secret in ("s3cret", "SECRETVALUE", "T0KEN"):
        assert secret in secure and secret not in json.dumps(entry)


def test_transient_and_pending_restart(conn, make_domain, scratch, capsys):
    make_domain("app1").create()
    defined = conn.lookupByName("app1").XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
    conn.defineXML(defined.replace("<vcpu placement='static'>1</vcpu>", "<vcpu placement='static'>2</vcpu>"))
    domains = by_name(run_module(capsys, definition=True))
    assert (domains["scratch"]["persistent"], domains["scratch"]["pending_restart"]) == (False, False)
    assert "<name>scratch</name>" in domains["scratch"]["definition"]
    assert (domains["app1"]["pending_restart"], domains["app1"]["vcpus"]) == (True, 1)
    assert domains["test"]["pending_restart"] is False


def test_check_mode_reads_the_same(conn, make_domain, capsys):
    make_domain("web3")
    normal = run_module(capsys)
    checked = run_module(capsys, _ansible_check_mode=True)
    assert checked["changed"] is False and checked["domains"] == normal["domains"]
    assert conn.lookupByName("test").isActive() and not conn.lookupByName("web3").isActive()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"name": "nope"}, "No domain named 'nope' at URI 'test:///default'"),
        ({"state": ["asleep"]}, "value of state must be one or more of"),
        ({"uri": "qemu+unix:///system?socket=/nonexistent"}, "Cannot connect to libvirt at URI"),
    ],
)
def test_errors(conn, capsys, args, message):
    result = run_module(capsys, **args)
    assert (result["rc"], result["failed"], result.get("changed", False)) == (1, True, False)
    assert message in result["msg"]
    assert "exception" not in result


def test_it_loads_no_power_code():
    """virt_domain_info only reads: Ansible ships it without the power code."""
    code = (
        "import sys\n"
        "from ansible_collections.virtops.libvirt.plugins.modules import virt_domain_info\n"
        "print('\\n'.join(sorted(m for m in sys.modules if 'virtops' in m)))"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env).stdout
    assert "plugins.module_utils._info.module" in loaded
    assert "power" not in loaded and "runner" not in loaded, loaded
