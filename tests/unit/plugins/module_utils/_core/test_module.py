"""The Ansible glue every module shares: duration options, names, and the one
path from a VirtOpsError to fail_json."""

from __future__ import annotations

import json
import math

import pytest
from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.testing import patch_module_args

from ansible_collections.virtops.libvirt.plugins.module_utils._core.errors import VirtOpsError
from ansible_collections.virtops.libvirt.plugins.module_utils._core.module import (
    CONNECTION_ARGUMENT_SPEC,
    check_name,
    run_module,
    seconds,
)


@pytest.mark.parametrize("value", [0, 0.0, 1, 2.5, 7 * 24 * 3600])
def test_a_sane_duration_is_taken(value):
    assert seconds({"timeout": value}, "timeout") == value


@pytest.mark.parametrize("value", [-1, -0.5, math.nan, math.inf, -math.inf, 7 * 24 * 3600 + 1, "10", None])
def test_a_duration_no_wait_can_honour_is_refused(value):
    with pytest.raises(VirtOpsError, match="Option timeout must be a number of seconds"):
        seconds({"timeout": value}, "timeout")


def test_a_minimum_with_zero_meaning_never():
    assert seconds({"retry_interval": 0}, "retry_interval", minimum=1) == 0
    assert seconds({"retry_interval": 1}, "retry_interval", minimum=1) == 1
    with pytest.raises(VirtOpsError, match="0 or at least 1 and at most"):
        seconds({"retry_interval": 0.001}, "retry_interval", minimum=1)
    with pytest.raises(VirtOpsError, match="at least 1 and at most"):
        seconds({"retry_interval": 0}, "retry_interval", minimum=1, zero_ok=False)


@pytest.mark.parametrize(("value", "message"), [("a\x00b", "NUL character"), ("", "empty"), ("   ", "empty")])
def test_a_name_libvirt_could_never_hold_is_refused(value, message):
    with pytest.raises(VirtOpsError, match=message):
        check_name(value)


def test_names_are_taken_as_given():
    assert check_name(" web ") == " web "  # whether blanks matter is the caller's decision
    assert check_name(None) is None


def run(capsys, body, check=None, warned=None, **args):
    with patch_module_args({"uri": "test:///default", **args}), pytest.raises(SystemExit) as exited:
        module = AnsibleModule(argument_spec=dict(CONNECTION_ARGUMENT_SPEC))
        if warned is not None:
            module.warn = warned.append  # how Ansible then shows them is ansible-core's business
        run_module(module, body, check=check)
    return exited.value.code, json.loads(capsys.readouterr().out)


def test_the_body_result_is_the_module_result_and_warnings_become_warnings(conn, capsys):
    warned: list[str] = []
    rc, result = run(capsys, lambda client: {"changed": True, "domains": client.find("test").name(), "warnings": ["mind"]}, warned=warned)
    assert (rc, result["changed"], result["domains"], warned) == (0, True, "test", ["mind"])


def test_a_virtops_error_fails_with_its_message_and_partial_result(conn, capsys):
    def body(_client):
        raise VirtOpsError("it broke; do this", state="running", changed=True)

    rc, result = run(capsys, body)
    assert (rc, result["failed"], result["msg"], result["state"], result["changed"]) == (1, True, "it broke; do this", "running", True)


def test_options_are_checked_before_anything_is_connected(capsys):
    connected = []

    def check():
        raise VirtOpsError("Option x is wrong.")

    rc, result = run(capsys, connected.append, check=check, uri="qemu:///nonexistent-never-contacted")
    assert (rc, result["msg"], connected, result["changed"]) == (1, "Option x is wrong.", [], False)


def test_the_password_of_the_uri_never_leaves_the_module(capsys):
    rc, result = run(capsys, lambda _client: {}, uri="qemu+tcp://admin:hunter2@127.0.0.1:1/system", connect_timeout=5)
    assert rc == 1 and "hunter2" not in json.dumps(result)


def test_an_unusable_connect_timeout_is_refused(capsys):
    rc, result = run(capsys, lambda _client: {}, connect_timeout=math.nan)
    assert rc == 1 and result["msg"].startswith("Option connect_timeout must be a finite number of seconds above 0")
