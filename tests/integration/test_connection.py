"""The libvirt layer as users meet it, through every module run ad hoc: a daemon
that never answers fails the task after connect_timeout, and no message carries
the content of a file or the credentials of a URI."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from virt_harness import ENV, ROOT

MODULES = {
    "virt_power": "name=web1 state=running",
    "virt_domain": "name=web1 state=absent",
    "virt_domain_info": "",
}


def adhoc(module: str, args: str) -> tuple[int, dict, str]:
    cmd = ["ansible", "localhost", "-vvv", "-m", f"virtops.libvirt.{module}", "-a", args, "-e", f"ansible_python_interpreter={sys.executable}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=ENV, check=False, cwd=ROOT, timeout=120)
    body = proc.stdout.partition(" => ")[2]
    assert body, proc.stdout + proc.stderr
    return proc.returncode, json.loads(body), proc.stdout + proc.stderr


@pytest.mark.parametrize("module", sorted(MODULES))
def test_a_daemon_that_never_answers_fails_the_task_after_connect_timeout(module, silent_server):
    started = time.monotonic()
    rc, result, output = adhoc(module, f"{MODULES[module]} uri={silent_server} connect_timeout=2")
    assert rc != 0 and "FAILED!" in output
    assert f"The libvirt daemon at URI '{silent_server}' did not answer within 2 s" in result["msg"]
    assert time.monotonic() - started < 30  # Ansible's own start-up included


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_message_carries_a_file_or_a_password(module, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET-LINE-123\n")
    for uri in (f"test://{secret}", "qemu+tcp://admin:hunter2@127.0.0.1:1/system"):
        rc, result, output = adhoc(module, f"{MODULES[module]} uri={uri}")
        assert rc != 0 and "FAILED!" in output and "Cannot connect to libvirt at URI" in result["msg"]
        assert "SECRET-LINE-123" not in output
        # The result, with the module's invocation that -vvv shows, holds no password. (ansible-core
        # itself echoes the task's arguments as written when a task fails at -vvv: the user's own input.)
        assert "hunter2" not in json.dumps(result) and "invocation" in result
        assert "Traceback" not in output


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf"])
def test_connect_timeout_is_validated(value):
    rc, result, _output = adhoc("virt_domain_info", f"connect_timeout={value}")
    assert rc != 0 and "Option connect_timeout must be a finite number of seconds above 0" in result["msg"]
