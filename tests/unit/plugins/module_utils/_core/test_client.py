"""The one way to libvirt: connecting within a deadline, mapping every libvirt
error to a message naming the domain and the URI (redacted), finding domains."""

from __future__ import annotations

import re
import threading
import time

import libvirt
import pytest

from ansible_collections.virtops.libvirt.plugins.module_utils._core import client as client_module
from ansible_collections.virtops.libvirt.plugins.module_utils._core.client import Connection, check_timeout, map_error
from ansible_collections.virtops.libvirt.plugins.module_utils._core.errors import (
    ConnectionLostError,
    DomainVanishedError,
    LibvirtCallError,
    VirtOpsError,
)


def test_unknown_domain_names_the_uri(client):
    with pytest.raises(VirtOpsError, match="No domain named 'nope' at URI 'test:///default'"):
        client.lookup(name="nope")
    with pytest.raises(VirtOpsError, match="No domain with UUID"):
        client.lookup(uuid="00000000-0000-0000-0000-000000000001")


@pytest.mark.parametrize("uri", ["qemu+unix:///system?socket=/nonexistent/sock", "bogus:///x"])
def test_unreachable_or_invalid_uri(uri):
    with pytest.raises(VirtOpsError, match=re.escape(f"Cannot connect to libvirt at URI '{uri}'")):
        Connection(uri)


def test_a_daemon_that_never_answers_fails_after_the_connect_timeout(silent_server):
    started = time.monotonic()
    with pytest.raises(VirtOpsError, match=r"did not answer within 0\.5 s \(option connect_timeout\)"):
        Connection(silent_server, timeout=0.5)
    assert time.monotonic() - started < 2


@pytest.mark.parametrize("value", [0, -1, float("nan"), float("inf"), "soon"])
def test_the_connect_timeout_is_a_finite_number_above_zero(value):
    with pytest.raises(VirtOpsError, match="Option connect_timeout must be a finite number of seconds above 0"):
        check_timeout(value)


def test_an_error_never_quotes_the_file_a_test_uri_names(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET-LINE-123 root:x:0:0\nsecond line\n")
    with pytest.raises(VirtOpsError) as caught:
        Connection(f"test://{secret}")
    assert "SECRET-LINE-123" not in caught.value.msg and "second line" not in caught.value.msg
    assert "Start tag expected" in caught.value.msg  # libvirt's own reason is kept


def test_an_error_never_shows_the_password_of_a_uri():
    with pytest.raises(VirtOpsError) as caught:
        Connection("qemu+tcp://admin:hunter2@127.0.0.1:1/system?password=other-secret", timeout=5)
    assert "hunter2" not in caught.value.msg and "other-secret" not in caught.value.msg
    assert "qemu+tcp://admin:********@127.0.0.1:1/system" in caught.value.msg


def test_a_libvirt_error_names_the_domain_the_uri_and_what_to_do(client, make_domain):
    domain = make_domain("vm")
    with pytest.raises(LibvirtCallError) as caught:
        client.call("suspend it", domain.suspend, domain="vm")
    assert caught.value.code == libvirt.VIR_ERR_INTERNAL_ERROR  # the test driver's word for it
    assert caught.value.msg == (
        "Domain 'vm' at URI 'test:///default': cannot suspend it: internal error: domain 'vm' not running. See the libvirt daemon's log for details."
    )


def libvirt_error(code: int, message: str):
    err = libvirt.libvirtError(message)
    err.err = (code, 0, message, 2, "", None, None, 0, 0)
    return err


@pytest.mark.parametrize(
    ("code", "message", "kind", "advice"),
    [
        (libvirt.VIR_ERR_OPERATION_INVALID, "domain is already running", LibvirtCallError, "run the task again"),
        (libvirt.VIR_ERR_AUTH_FAILED, "authentication failed", LibvirtCallError, "Check the credentials"),
        (libvirt.VIR_ERR_SYSTEM_ERROR, "Cannot recv data: Connection reset by peer", ConnectionLostError, "Check that the libvirt daemon is running"),
        (libvirt.VIR_ERR_INTERNAL_ERROR, "client socket is closed", ConnectionLostError, "it may have been restarted"),
        (libvirt.VIR_ERR_NO_DOMAIN, "Domain not found", DomainVanishedError, "vanished"),
    ],
)
def test_every_libvirt_error_maps_to_an_actionable_message(code, message, kind, advice):
    mapped = map_error(libvirt_error(code, message), "do it", "qemu+tcp://u:pw@h/system", "web1")
    assert mapped.__class__ is kind and advice in mapped.msg and "pw" not in mapped.msg
    assert "'web1'" in mapped.msg and "qemu+tcp://u:********@h/system" in mapped.msg


def test_a_vanished_domain_has_its_own_error(client, make_domain):
    domain = make_domain("ephemeral", transient=True)
    domain.destroy()
    with pytest.raises(DomainVanishedError, match="Domain 'ephemeral' at URI 'test:///default' vanished"):
        client.call("read its state", domain.state, domain="ephemeral")


def test_a_nul_in_an_argument_is_a_clear_error(client):
    with pytest.raises(VirtOpsError, match="NUL character"):
        client.find("bad\x00name")


def test_the_connection_closes_once_and_is_a_context_manager():
    with Connection("test:///default", timeout=None) as connection:
        assert connection.find("test") is not None
    assert connection.raw is None
    connection.close()  # a second close is harmless


# -- reconnect: threads sharing one connection ----------------------------------------------------------
def far_deadline() -> float:
    return time.monotonic() + 30


def test_reconnect_opens_the_connection_again(client):
    old = client.raw
    client.reconnect(far_deadline())
    assert client.raw is not old and client.find("test") is not None


def test_reconnect_reopens_when_the_caller_has_the_current_generation(client):
    old = client.raw
    client.reconnect(far_deadline(), since=client.generation)
    assert client.raw is not old and client.find("test") is not None and client.generation == 1
    with pytest.raises(libvirt.libvirtError):
        old.getType()  # closed: a broken connection is released before the new one is opened


def test_reconnect_keeps_the_connection_another_thread_already_opened_again(client):
    client.reconnect(far_deadline())
    current = client.raw
    client.reconnect(far_deadline(), since=0)  # the caller's handles are from before that
    assert client.raw is current and client.find("test") is not None and client.generation == 1


def test_reconnect_reopens_a_closed_connection_whatever_the_generation(client):
    client.reconnect(far_deadline())
    client.close()
    client.reconnect(far_deadline(), since=0)
    assert client.raw is not None and client.find("test") is not None


def test_threads_that_saw_the_same_connection_break_open_it_again_once(client, monkeypatch):
    opened = []
    real_open = client_module.open_raw
    monkeypatch.setattr(client_module, "open_raw", lambda *args: opened.append(args) or real_open(*args))
    broken = client.raw
    together = threading.Barrier(4, timeout=10)

    def reconnect() -> None:
        together.wait()
        client.reconnect(far_deadline(), since=0)

    threads = [threading.Thread(target=reconnect) for _index in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(opened) == 1
    assert client.raw is not broken and client.find("test") is not None


def test_reconnect_gives_up_at_the_deadline_naming_the_last_error(client, monkeypatch):
    def refuse(*_args):
        raise VirtOpsError("Cannot connect to libvirt at URI 'test:///default': no daemon.")

    monkeypatch.setattr(client_module, "open_raw", refuse)
    now = [0.0]
    sleeps = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds

    with pytest.raises(ConnectionLostError) as caught:
        client.reconnect(3.0, clock=lambda: now[0], sleep=sleep, since=client.generation)
    assert caught.value.msg == (
        "The libvirt daemon at URI 'test:///default' did not come back in time (last error: Cannot connect to libvirt at URI 'test:///default': no daemon.)."
    )
    assert sleeps == [0.25, 0.5, 1.0, 1.25]  # backing off, never past the deadline
