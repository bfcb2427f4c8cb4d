"""virt_power as Ansible runs it: parameters in, one JSON result out."""

from __future__ import annotations

import json

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.virtops.libvirt.plugins.modules import virt_power


def run_module(capsys, **args):
    with patch_module_args(args), pytest.raises(SystemExit) as exited:
        virt_power.main()
    result = json.loads(capsys.readouterr().out)
    result["rc"] = exited.value.code
    return result


def test_shutdown_then_idempotent(conn, capsys):
    first = run_module(capsys, uri="test:///default", name="test", state="stopped")
    assert (first["rc"], first["changed"], first["state"], first["actions"]) == (0, True, "shutoff", ["shutdown"])
    second = run_module(capsys, uri="test:///default", name="test", state="shutdown")
    assert (second["changed"], second["actions"], second["previous_state"]) == (False, [], "shutoff")


def test_check_mode_sends_nothing(conn, capsys):
    result = run_module(capsys, uri="test:///default", name="test", state="paused", _ansible_check_mode=True)
    assert (result["changed"], result["actions"], result["state"]) == (True, ["suspend"], "running")
    assert conn.lookupByName("test").state()[0] == 1


def test_uuid_selects_the_domain(conn, capsys):
    uuid = conn.lookupByName("test").UUIDString()
    result = run_module(capsys, uri="test:///default", uuid=uuid, state="running")
    assert (result["changed"], result["name"]) == (False, "test")


def test_uri_from_environment(conn, capsys, monkeypatch):
    monkeypatch.setenv("LIBVIRT_DEFAULT_URI", "test:///default")
    result = run_module(capsys, name="test", state="running")
    assert result["rc"] == 0 and result["changed"] is False


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"name": "nope", "state": "running"}, "No domain named 'nope' at URI 'test:///default'"),
        ({"name": "test", "state": "saved", "timeout": -1}, "Option timeout must be a number of seconds"),
        ({"state": "running"}, "one of the following is required: name, uuid"),
        ({"name": "test", "uuid": "x", "state": "running"}, "mutually exclusive"),
        ({"name": "test", "state": "asleep"}, "value of state must be one of"),
    ],
)
def test_errors(conn, capsys, args, message):
    result = run_module(capsys, uri="test:///default", **args)
    assert result["rc"] == 1 and result["failed"] is True
    assert message in result["msg"]
    assert conn.lookupByName("test").state()[0] == 1


def test_refused_transition_says_why_and_changes_nothing(conn, capsys):
    conn.lookupByName("test").destroy()
    result = run_module(capsys, uri="test:///default", name="test", state="reset")
    assert result["failed"] and result["changed"] is False
    assert "cannot be brought to state=reset from shutoff" in result["msg"]
    assert "use state=running" in result["msg"]
    assert result["state"] == "shutoff"


def test_unreachable_uri(capsys):
    result = run_module(capsys, uri="qemu+unix:///system?socket=/nonexistent", name="x", state="running")
    assert result["failed"] and "Cannot connect to libvirt at URI" in result["msg"]
