"""The clone's NVRAM on libvirt's test driver: a file copied where the module runs
(same bytes, mode kept, never over another file), a volume copied by libvirt, a
source without an NVRAM file yet, a remote hypervisor refused, a failure that
removes the copy."""

from __future__ import annotations

import os
import stat

import pytest
from lxml import etree

from ansible_collections.virtops.libvirt.plugins.module_utils._clone import nvram, runner
from ansible_collections.virtops.libvirt.plugins.module_utils._clone.runner import CloneRequest, CloneRunner
from ansible_collections.virtops.libvirt.plugins.module_utils._core.errors import VirtOpsError

from .conftest import POOL, make_volume, redefine, writes

LOADER = "<loader readonly='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE.fd</loader>"


def clone(client, **options):
    return CloneRunner(client, CloneRequest(**{"name": "web2", "source": "src", **options})).run()


def with_nvram(conn, path) -> None:
    redefine(conn, os_extra=f"{LOADER}<nvram>{path}</nvram>")


def test_a_file_nvram_is_copied_next_to_the_source_with_its_mode(conn, source, client, watched, tmp_path):
    vars_fd = tmp_path / "src_VARS.fd"
    vars_fd.write_bytes(os.urandom(4096))
    vars_fd.chmod(0o640)
    with_nvram(conn, vars_fd)
    predicted = clone(watched, check_mode=True)
    assert writes(watched) == [] and sorted(os.listdir(tmp_path)) == ["src_VARS.fd"]
    result = clone(client)
    copy = tmp_path / "web2_VARS.fd"
    assert predicted["nvram"] == result["nvram"] == str(copy)
    assert f"copy the NVRAM {vars_fd} to {copy} (a file copy where the module runs)" in result["actions"]
    assert copy.read_bytes() == vars_fd.read_bytes() and stat.S_IMODE(copy.stat().st_mode) == 0o640
    assert etree.fromstring(conn.lookupByName("web2").XMLDesc(0)).findtext("os/nvram") == str(copy)
    assert etree.fromstring(conn.lookupByName("src").XMLDesc(0)).findtext("os/nvram") == str(vars_fd)


def test_an_nvram_copy_left_by_an_earlier_run_is_reused_only_when_it_has_the_same_bytes(conn, source, client, tmp_path):
    vars_fd = tmp_path / "src_VARS.fd"
    vars_fd.write_bytes(b"vars" * 1024)
    with_nvram(conn, vars_fd)
    (tmp_path / "web2_VARS.fd").write_bytes(b"vars" * 1024)
    assert "reuse the NVRAM" in clone(client)["actions"][1]
    (tmp_path / "web3_VARS.fd").write_bytes(b"other")
    with pytest.raises(VirtOpsError) as raised:
        clone(client, name="web3")
    assert "exists already and is not a copy of" in raised.value.msg and "never overwritten" in raised.value.msg
    assert (tmp_path / "web3_VARS.fd").read_bytes() == b"other" and client.find("web3") is None
    assert sorted(volume.name() for volume in conn.storagePoolLookupByName(POOL).listAllVolumes(0)) == ["src.qcow2", "web2-vda.qcow2"]


def test_a_source_without_an_nvram_file_yet_gets_a_path_for_the_template(conn, source, client, tmp_path):
    with_nvram(conn, tmp_path / "src_VARS.fd")
    result = clone(client)
    assert result["nvram"] == str(tmp_path / "web2_VARS.fd") and not (tmp_path / "web2_VARS.fd").exists()
    assert "makes it from the firmware's template at the first start" in result["actions"][1]


def test_an_nvram_volume_is_copied_by_libvirt_in_its_pool(conn, source, client):
    make_volume(conn, "src_VARS.fd", fmt="raw", capacity=128 * 1024)
    with_nvram(conn, "/default-pool/src_VARS.fd")
    result = clone(client)
    assert result["nvram"] == "/default-pool/web2_VARS.fd"
    assert "(volume 'web2_VARS.fd' of storage pool 'default-pool', by libvirt)" in result["actions"][1]
    assert conn.storagePoolLookupByName(POOL).storageVolLookupByName("web2_VARS.fd").info()[1] == 128 * 1024


def test_a_file_nvram_on_a_remote_hypervisor_is_refused(conn, source, client, tmp_path):
    (tmp_path / "src_VARS.fd").write_bytes(b"vars")
    with_nvram(conn, tmp_path / "src_VARS.fd")
    client.uri = "qemu+ssh://root@hv1/system"  # what the plan reads to tell where the file is
    with pytest.raises(VirtOpsError) as raised:
        clone(client)
    assert "is a remote hypervisor, where this module cannot copy a file" in raised.value.msg and f"path={tmp_path}" in raised.value.msg
    assert not (tmp_path / "web2_VARS.fd").exists()


@pytest.mark.parametrize(
    ("uri", "local"),
    [
        ("qemu:///system", True),
        ("qemu+unix:///system?socket=/run/x/libvirt-sock", True),
        ("qemu+ssh://root@hv1/system", False),
        ("qemu+tcp://hv1/system", False),
    ],
)
def test_which_uris_are_local(uri, local):
    assert nvram.is_local(uri) is local


def test_a_failed_define_removes_the_nvram_copy_and_the_volumes(conn, source, client, tmp_path, monkeypatch):
    (tmp_path / "src_VARS.fd").write_bytes(b"vars")
    with_nvram(conn, tmp_path / "src_VARS.fd")

    def fail(self, root):
        raise VirtOpsError("libvirt refused the definition (made to fail by the test).")

    monkeypatch.setattr(runner.CloneRunner, "define", fail)
    with pytest.raises(VirtOpsError) as raised:
        clone(client)
    assert f"removed what it had made: the NVRAM copy {tmp_path / 'web2_VARS.fd'}, volume 'web2-vda.qcow2'" in raised.value.msg
    assert sorted(os.listdir(tmp_path)) == ["src_VARS.fd"]
    assert [volume.name() for volume in conn.storagePoolLookupByName(POOL).listAllVolumes(0)] == ["src.qcow2"]


def test_copy_file_never_writes_through_a_link_or_over_a_file(tmp_path):
    (tmp_path / "a").write_bytes(b"a")
    (tmp_path / "victim").write_bytes(b"keep")
    (tmp_path / "link").symlink_to(tmp_path / "victim")
    for dest in ("link", "victim"):
        with pytest.raises(VirtOpsError):
            nvram.copy_file(str(tmp_path / "a"), str(tmp_path / dest))
    assert (tmp_path / "victim").read_bytes() == b"keep"
