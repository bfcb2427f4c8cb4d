"""virt_power as Ansible runs it: parameters in, one JSON result out."""

from __future__ import annotations

import json

import pytest
from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.testing import patch_module_args

from ansible_collections.virtops.libvirt.plugins.module_utils._core.events import DomainWatch
from ansible_collections.virtops.libvirt.plugins.module_utils._power import runner as runner_module
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


# A failed run returns every field a successful one does (the documentation says "always").
ALWAYS_RETURNED = {"changed", "state", "previous_state", "reason", "elapsed", "actions", "forced", "name", "uuid", "id"}


class QemuLikeWatch(DomainWatch):
    """Observes reboots as on QEMU, so a reboot is waited for (the test driver emits no reboot event)."""

    def __init__(self, *args) -> None:
        super().__init__(*args)
        self.observes_reboots = True


def test_a_table_refusal_returns_every_field(conn, capsys):
    conn.lookupByName("test").destroy()
    result = run_module(capsys, uri="test:///default", name="test", state="saved")
    assert result["failed"] and set(result) >= ALWAYS_RETURNED
    assert (result["previous_state"], result["id"], result["actions"]) == ("shutoff", None, [])


def test_a_libvirt_refusal_returns_every_field(conn, capsys):
    result = run_module(capsys, uri="test:///default", name="test", state="shutdown", shutdown_mode=["acpi"])
    assert result["failed"] and "libvirt refused the graceful shutdown request" in result["msg"]
    assert set(result) >= ALWAYS_RETURNED
    assert (result["previous_state"], result["id"], result["changed"]) == ("running", conn.lookupByName("test").ID(), False)


def test_a_timeout_returns_every_field(conn, capsys, monkeypatch):
    monkeypatch.setattr(runner_module, "DomainWatch", QemuLikeWatch)
    result = run_module(capsys, uri="test:///default", name="test", state="restarted", timeout=0)
    assert result["failed"] and "did not finish a graceful reboot within timeout=0 s" in result["msg"]
    assert set(result) >= ALWAYS_RETURNED
    assert (result["previous_state"], result["id"], result["actions"], result["changed"]) == ("running", conn.lookupByName("test").ID(), ["reboot"], True)


def test_a_domain_vanishing_returns_every_field(conn, capsys, monkeypatch):
    monkeypatch.setattr(runner_module, "DomainWatch", QemuLikeWatch)
    conn.createXML(
        "<domain type='test'><name>ephemeral</name><memory unit='MiB'>64</memory><os><type>hvm</type></os><on_reboot>destroy</on_reboot></domain>", 0
    )
    result = run_module(capsys, uri="test:///default", name="ephemeral", state="restarted")
    assert result["failed"] and "Domain 'ephemeral' vanished" in result["msg"]
    assert set(result) >= ALWAYS_RETURNED
    assert (result["previous_state"], result["id"], result["actions"]) == ("running", None, ["reboot"])


def test_a_warning_of_the_run_becomes_an_ansible_warning(conn, capsys, monkeypatch):
    monkeypatch.setattr(runner_module, "DomainWatch", QemuLikeWatch)
    warned = []
    # Where the warning goes from there (the result, or the controller's display when
    # ansible's controller code is loaded in this process) is ansible-core's business.
    monkeypatch.setattr(AnsibleModule, "warn", lambda _self, warning, **_kw: warned.append(warning))
    conn.defineXML("<domain type='test'><name>vm</name><memory unit='MiB'>64</memory><os><type>hvm</type></os><on_reboot>destroy</on_reboot></domain>").create()
    result = run_module(capsys, uri="test:///default", name="vm", state="restarted", timeout=30)
    assert (result["rc"], result["actions"], result["state"]) == (0, ["reboot", "start"], "running")
    assert len(warned) == 1 and warned[0].startswith("Domain 'vm' powered off instead of rebooting")


def test_a_domain_that_is_not_there_still_returns_every_documented_field(conn, capsys):
    result = run_module(capsys, uri="test:///default", name="nope", state="shutdown")
    assert result["rc"] == 1 and "No domain named 'nope'" in result["msg"]
    documented = {"state", "previous_state", "reason", "elapsed", "actions", "forced", "name", "uuid", "id"}
    assert documented <= set(result)
    assert (result["name"], result["state"], result["actions"], result["changed"]) == ("nope", None, [], False)
