"""virt_migrate as Ansible runs it, in-process: parameters in, one JSON result out.
libvirt's test driver cannot migrate, and two test:///default URIs reach one
hypervisor: the module refuses that before it looks for the domain. Options are
refused before anything is connected; a destination that cannot be reached gives a
connect error naming it; credentials in the URIs never reach the output."""

from __future__ import annotations

import json
import math

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.virtops.libvirt.plugins.modules import virt_migrate

NO_DAEMON = "qemu+unix:///system?socket=/nonexistent/virtops/libvirt-sock"
XML = "<domain type='test'><name>mig1</name><memory unit='MiB'>1</memory><os><type>hvm</type></os></domain>"


def run_module(capsys, **args):
    defaults = {"uri": "test:///default", "dest_uri": "test:///default", "name": "mig1", "connect_timeout": 5}
    with patch_module_args({**defaults, **args}), pytest.raises(SystemExit) as exited:
        virt_migrate.main()
    out = capsys.readouterr().out
    result = json.loads(out)
    result["rc"], result["out"] = exited.value.code, out
    return result


@pytest.fixture
def domain(conn):
    """Domain mig1, shut off on test:///default; the driver's own 'test' runs there."""
    made = conn.defineXML(XML)
    yield made
    if made.isActive():
        made.destroy()
    made.undefine()


def snapshot_of(conn):
    return sorted((d.name(), d.UUIDString(), d.state()[0], d.isPersistent()) for d in conn.listAllDomains())


@pytest.mark.parametrize("check_mode", [False, True])
@pytest.mark.parametrize("name", ["mig1", "test", "ghost"])
def test_one_hypervisor_behind_both_uris_is_refused_first(domain, conn, capsys, check_mode, name):
    before = snapshot_of(conn)
    result = run_module(capsys, name=name, _ansible_check_mode=check_mode, _ansible_diff=True)
    assert result["rc"] == 1 and result["changed"] is False
    assert result["msg"].startswith("uri 'test:///default' and dest_uri 'test:///default' reach the same hypervisor"), result["msg"]
    assert "Give the destination's URI as dest_uri. Nothing was moved." in result["msg"]
    assert "diff" not in result
    assert snapshot_of(conn) == before


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ({"copy_storage": "all"}, "copy_storage=all needs copy_disks"),
        ({"copy_storage": "incremental", "copy_disks": []}, "An empty list would let libvirt copy every disk"),
        ({"copy_disks": ["vda"]}, "copy_disks applies with copy_storage=all or copy_storage=incremental only"),
        ({"copy_storage": "all", "copy_disks": ["vda", "vda"]}, "names a disk twice"),
        ({"copy_storage": "all", "copy_disks": ["/dev/vda"]}, "not a disk target name"),
        ({"peer_to_peer": False, "peer_uri": "qemu+tcp://d/system"}, "for peer_to_peer=true only"),
        ({"migrate_uri": "tcp://a b"}, "Option migrate_uri must be a URI without spaces"),
        ({"bandwidth": 0}, "Option bandwidth must be a whole number from 1"),
        ({"parallel_connections": 256}, "Option parallel_connections must be a whole number from 1 to 255"),
        ({"timeout": math.nan}, "Option timeout must be a number of seconds"),
        ({"timeout": -1}, "Option timeout must be a number of seconds"),
        ({"memory_headroom_mib": -5}, "Option memory_headroom_mib"),
        ({"name": "a\x00b"}, "NUL"),
        ({"connect_timeout": 0}, "Option connect_timeout must be a finite number of seconds above 0"),
    ],
)
def test_bad_options_fail_before_connecting(capsys, args, words):
    """Both URIs lead nowhere: a connect error would show that something was tried."""
    result = run_module(capsys, uri=NO_DAEMON, dest_uri=NO_DAEMON, **args)
    assert result["rc"] == 1 and result["changed"] is False and words in result["msg"], result["msg"]
    assert "Cannot connect" not in result["msg"]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ({"timeout_action": "pause"}, "timeout_action"),
        ({"compression": ["zstd"]}, "compression"),
        ({"preflight": ["disks"]}, "preflight"),
        ({"copy_storage": "some"}, "copy_storage"),
        ({"name": "a", "uuid": "6695eb01-f6a4-8304-79aa-97f2502e193f"}, "mutually exclusive"),
    ],
)
def test_ansible_refuses_unknown_choices(capsys, args, words):
    result = run_module(capsys, uri=NO_DAEMON, dest_uri=NO_DAEMON, **args)
    assert result["rc"] == 1 and words in result["msg"] and "Cannot connect" not in result["msg"], result["msg"]


def test_an_unreachable_destination_is_a_clear_connect_error(domain, conn, capsys):
    before = snapshot_of(conn)
    result = run_module(capsys, dest_uri=NO_DAEMON, connect_timeout=2)
    assert result["rc"] == 1 and result["changed"] is False
    assert result["msg"].startswith(f"Destination (dest_uri): Cannot connect to libvirt at URI '{NO_DAEMON}': "), result["msg"]
    assert "Check the URI and that the libvirt daemon is running and reachable by this user." in result["msg"]
    assert result["dest_uri"] == NO_DAEMON and "uri" not in result, result
    assert snapshot_of(conn) == before


def test_a_destination_that_never_answers_is_given_up_after_connect_timeout(domain, capsys, silent_server):
    result = run_module(capsys, dest_uri=silent_server, connect_timeout=0.5)
    assert result["rc"] == 1
    assert f"The libvirt daemon at URI '{silent_server}' did not answer within 0.5 s (option connect_timeout)" in result["msg"], result["msg"]


@pytest.mark.parametrize(
    "dest_uri",
    [
        "qemu+ssh://admin:s3cret@host.invalid/system?no_tty=1",
        "qemu+tcp://admin:s3cret@127.0.0.1:1/system",  # nothing listens on port 1: refused at once
        "qemu+tls://127.0.0.1:1/system?password=s3cret",
    ],
)
def test_credentials_in_dest_uri_never_appear(domain, capsys, dest_uri):
    result = run_module(capsys, dest_uri=dest_uri, connect_timeout=3, peer_uri="qemu+tcp://peer:pe3rpw@10.0.0.2/system")
    assert result["rc"] == 1 and result["changed"] is False
    assert result["msg"].startswith(("Destination (dest_uri): Cannot connect to libvirt at URI", "Destination (dest_uri): The libvirt daemon at URI")), result[
        "msg"
    ]
    assert "s3cret" not in result["out"] and "pe3rpw" not in result["out"], result["out"]
    assert "********" in result["msg"]


def test_credentials_in_peer_uri_never_appear(domain, capsys):
    result = run_module(capsys, peer_uri="qemu+tcp://peer:pe3rpw@10.0.0.2/system", _ansible_check_mode=True)
    assert result["rc"] == 1 and "reach the same hypervisor" in result["msg"]
    assert "pe3rpw" not in result["out"]


@pytest.fixture
def other_uri(tmp_path):
    """A hypervisor of its own: the test driver on an empty <node> file (no host UUID, like test:///default)."""
    path = tmp_path / "node.xml"
    path.write_text("<node/>\n")
    return f"test://{path}"


def test_two_hypervisors_without_host_uuids_are_told_apart_by_uri(domain, conn, capsys, other_uri):
    result = run_module(capsys, dest_uri=other_uri, _ansible_check_mode=True, preflight=[])
    assert result["rc"] == 0, result["msg"]
    assert result["changed"] is True and result["action"] == "migrate" and result["mode"] == "offline", result


def test_copy_storage_of_a_shut_off_domain_is_refused(domain, conn, capsys, other_uri):
    before = snapshot_of(conn)
    result = run_module(capsys, dest_uri=other_uri, copy_storage="all", copy_disks=["vda"], preflight=[])
    assert result["rc"] == 1 and result["changed"] is False
    assert "is shut off, so it moves offline (its definition only), and libvirt copies no storage then" in result["msg"], result["msg"]
    assert "Nothing was moved." in result["msg"]
    assert snapshot_of(conn) == before
