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


# -- names: a batch of domains in one run -------------------------------------------------------
def test_names_bring_every_domain_to_the_state_in_the_order_given(conn, capsys, make_domain):
    make_domain("vm1")
    result = run_module(capsys, uri="test:///default", names=["vm1", "test"], state="running")
    assert (result["rc"], result["changed"]) == (0, True)
    assert [(domain["name"], domain["previous_state"], domain["state"], domain["actions"]) for domain in result["domains"]] == [
        ("vm1", "shutoff", "running", ["start"]),
        ("test", "running", "running", []),
    ]
    totals = result["totals"]
    assert (totals["domains"], totals["changed"], totals["failed"], totals["forced"]) == (2, 1, 0, 0)
    assert totals["slowest"]["name"] in ("vm1", "test") and totals["elapsed"] >= 0
    assert "state" not in result  # the fields of one domain are in its outcome only


def test_a_missing_name_fails_the_batch_naming_it_and_still_returns_every_outcome(conn, capsys):
    result = run_module(capsys, uri="test:///default", names=["test", "ghost"], state="shutdown")
    assert (result["rc"], result["failed"], result["changed"]) == (1, True, True)
    assert result["msg"].startswith("1 of 2 domain(s) at URI 'test:///default' failed (1 reached the state): [ghost] No domain named 'ghost'")
    test, ghost = result["domains"]
    assert (test["state"], test["failed"], ghost["state"], ghost["failed"]) == ("shutoff", False, None, True)
    assert (result["totals"]["domains"], result["totals"]["failed"], result["totals"]["changed"]) == (2, 1, 1)
    assert conn.lookupByName("test").state()[0] == 5  # the other domain was not held back


def test_names_in_check_mode_send_nothing(conn, capsys, make_domain):
    make_domain("vm1")
    result = run_module(capsys, uri="test:///default", names=["test", "vm1"], state="paused", _ansible_check_mode=True)
    assert result["rc"] == 0 and [domain["actions"] for domain in result["domains"]] == [["suspend"], ["start:paused"]]
    assert conn.lookupByName("test").state()[0] == 1 and conn.lookupByName("vm1").state()[0] == 5


def test_an_empty_names_list_does_nothing(conn, capsys):
    result = run_module(capsys, uri="test:///default", names=[], state="destroyed")
    assert (result["rc"], result["changed"], result["domains"], result["totals"]["slowest"]) == (0, False, [], None)
    assert conn.lookupByName("test").state()[0] == 1


def test_a_name_given_twice_in_names_is_warned_about_and_acted_on_once(conn, capsys, monkeypatch):
    warned = []
    monkeypatch.setattr(AnsibleModule, "warn", lambda _self, warning, **_kw: warned.append(warning))
    result = run_module(capsys, uri="test:///default", names=["test", "test"], state="shutdown")
    assert [domain["actions"] for domain in result["domains"]] == [["shutdown"]]
    assert warned == ["Domain 'test' is listed more than once in names; it is acted on once."]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"names": ["test"], "name": "test"}, "parameters are mutually exclusive: name|uuid|names"),
        ({"names": ["test"], "uuid": "x"}, "parameters are mutually exclusive: name|uuid|names"),
        ({}, "one of the following is required: name, uuid, names"),
        ({"names": ["test", ""]}, "Option names[1] is empty"),
        ({"names": ["test"], "max_in_flight": -2}, "Option max_in_flight must be 0 (every domain at once) or a positive number"),
    ],
)
def test_names_errors_touch_nothing(conn, capsys, args, message):
    result = run_module(capsys, uri="test:///default", state="destroyed", **args)
    assert result["rc"] == 1 and message in result["msg"]
    assert conn.lookupByName("test").state()[0] == 1
