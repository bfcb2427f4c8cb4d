"""virt_pool and virt_volume through playbooks and ad-hoc commands on the real daemon:
each case in a directory pool of its own under /var/lib/virtops/test-pools, removed
afterwards (pool undefined, directory deleted) whatever happens. Every change is
run as check mode, apply, check mode again, apply again."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import libvirt
import pytest
from conftest import POOLS
from virt_harness import ENV, ROOT, URI, playbook

from ansible_collections.virtops.libvirt.plugins.module_utils._core.client import Connection
from ansible_collections.virtops.libvirt.plugins.module_utils._storage import volumes

MiB = 1024**2


def volume_task(pool: str, name: str, **options) -> dict:
    return {"name": f"virt_volume {name}", "virtops.libvirt.virt_volume": {"pool": pool, "name": name, "uri": URI, **options}}


def four_times(task: dict) -> list[dict]:
    """Check mode, apply, check mode, apply."""
    return [{**task, "check_mode": True}, task, {**task, "check_mode": True}, task]


def settles(results: list[dict]) -> None:
    predicted, applied, check_again, again = results
    assert predicted["changed"] and applied["changed"], (predicted, applied)
    assert predicted["actions"] == applied["actions"]
    assert (check_again["changed"], again["changed"], check_again["actions"], again["actions"]) == (False, False, [], [])


def qemu_img(path: Path) -> dict:
    out = subprocess.run(["qemu-img", "info", "-U", "--output=json", str(path)], capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def adhoc(module: str, args: dict, *flags: str) -> tuple[dict, str]:
    interpreter = f"ansible_python_interpreter={sys.executable}"
    cmd = ["ansible", "localhost", "-m", f"virtops.libvirt.{module}", "-a", json.dumps({"uri": URI, **args}), "-e", interpreter]
    proc = subprocess.run([*cmd, *flags], capture_output=True, text=True, env=ENV, check=False, cwd=ROOT)
    status, _sep, body = proc.stdout.partition(" => ")
    result = json.loads(body[: body.rindex("}") + 1])
    result["failed"] = status.rpartition("| ")[2].strip() == "FAILED!"
    return result, proc.stdout + proc.stderr


def test_pool_create_is_idempotent_and_absent_keeps_the_directory(pool_name, tmp_path):
    name, path = pool_name
    task = {"name": "virt_pool", "virtops.libvirt.virt_pool": {"name": name, "path": str(path), "uri": URI}}
    results = playbook(four_times(task), tmp_path, diff=True)
    settles(results)
    assert results[0]["diff"] == results[1]["diff"]
    assert results[1]["pool"]["active"] and results[1]["pool"]["autostart"] and results[1]["pool"]["volumes"] == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o711
    (path / "keep.img").write_bytes(b"data")
    absent = {"name": "virt_pool absent", "virtops.libvirt.virt_pool": {"name": name, "state": "absent", "uri": URI}}
    predicted, removed, again = playbook([{**absent, "check_mode": True}, absent, absent], tmp_path)
    assert predicted["changed"] and removed["actions"] == ["stop", "undefine"] and not again["changed"]
    assert (path / "keep.img").read_bytes() == b"data"


def test_a_pool_is_never_moved(pool, tmp_path):
    name, path = pool
    moved, _output = adhoc("virt_pool", {"name": name, "path": str(path) + "-elsewhere"})
    assert moved["failed"] and "not changed in place" in moved["msg"]
    assert not Path(str(path) + "-elsewhere").exists()


def test_create_grow_and_a_refused_shrink(pool, tmp_path):
    name, path = pool
    results = playbook(
        [
            *four_times(volume_task(name, "disk.qcow2", capacity="8M")),
            *four_times(volume_task(name, "disk.qcow2", capacity="16M")),
            {**volume_task(name, "disk.qcow2", capacity="4M"), "expect_failure": True},
        ],
        tmp_path,
    )
    settles(results[:4])
    settles(results[4:8])
    assert results[5]["actions"] == ["grow from 8 MiB (8388608 bytes) to 16 MiB (16777216 bytes)"]
    shrink = results[8]
    assert shrink["failed"] and "16 MiB (16777216 bytes); capacity=4 MiB (4194304 bytes) is smaller" in shrink["msg"]
    info = qemu_img(path / "disk.qcow2")
    assert (info["format"], info["virtual-size"]) == ("qcow2", 16 * MiB)


def test_overlay_of_a_base_and_a_full_copy(pool, tmp_path):
    name, path = pool
    results = playbook(
        [
            volume_task(name, "base.img", format="raw", capacity="4M"),
            *four_times(volume_task(name, "overlay.qcow2", backing={"volume": "base.img"})),
            *four_times(volume_task(name, "copy.qcow2", clone_from={"pool": name, "volume": "base.img"}, capacity="6M")),
            {**volume_task(name, "overlay.qcow2", backing={"volume": "copy.qcow2"}), "expect_failure": True},
        ],
        tmp_path,
    )
    settles(results[1:5])
    settles(results[5:9])
    assert results[2]["volume"]["backing"] == {"path": str(path / "base.img"), "format": "raw"}
    overlay = qemu_img(path / "overlay.qcow2")
    assert (overlay["backing-filename"], overlay["backing-filename-format"], overlay["virtual-size"]) == (str(path / "base.img"), "raw", 4 * MiB)
    copy = qemu_img(path / "copy.qcow2")
    assert (copy["format"], copy["virtual-size"], "backing-filename" in copy) == ("qcow2", 6 * MiB, False)
    assert results[9]["failed"] and "never re-based" in results[9]["msg"]


def test_upload_from_a_file_lands_once(pool, tmp_path):
    name, path = pool
    data = os.urandom(3 * MiB + 123)
    source = tmp_path / "image.raw"
    source.write_bytes(data)
    qcow2 = tmp_path / "image.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(qcow2), "5M"], check=True)
    results = playbook(
        [
            *four_times(volume_task(name, "up.img", format="raw", src=str(source))),
            *four_times(volume_task(name, "up.qcow2", src=str(qcow2))),
        ],
        tmp_path,
    )
    settles(results[:4])
    settles(results[4:])
    assert (path / "up.img").read_bytes() == data
    assert qemu_img(path / "up.qcow2")["virtual-size"] == 5 * MiB
    source.write_bytes(b"\0" * 100)
    left, forced = playbook(
        [volume_task(name, "up.img", format="raw", src=str(source)), volume_task(name, "up.img", format="raw", src=str(source), force_upload=True)], tmp_path
    )
    assert not left["changed"] and left["actions"] == []  # content is never compared
    assert forced["changed"] and forced["volume"]["capacity"] == len(data)
    assert (path / "up.img").read_bytes() == b"\0" * 100 + data[100:]  # written over from the start, never truncated


def test_absent_refuses_a_backing_file_and_a_disk_of_a_domain(pool, tmp_path):
    name, path = pool
    domain = f"it-{name}"
    playbook([volume_task(name, "base.qcow2", capacity="1M"), volume_task(name, "overlay.qcow2", backing={"volume": "base.qcow2"})], tmp_path)
    conn = libvirt.open(URI)
    try:
        conn.defineXML(
            f"<domain type='qemu'><name>{domain}</name><memory unit='MiB'>64</memory><os><type arch='x86_64'>hvm</type></os><devices>"
            f"<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='{path}/overlay.qcow2'/><target dev='vda' bus='virtio'/></disk>"
            "</devices></domain>"
        )
    finally:
        conn.close()
    absent = {"state": "absent"}
    base, disk = playbook(
        [
            {**volume_task(name, "base.qcow2", **absent), "expect_failure": True},
            {**volume_task(name, "overlay.qcow2", **absent), "expect_failure": True, "check_mode": True},
        ],
        tmp_path,
    )
    assert base["failed"] and f"it is the backing file of volume '{path}/overlay.qcow2'" in base["msg"]
    assert disk["failed"] and f"used by domain '{domain}'" in disk["msg"]
    assert (path / "base.qcow2").exists() and (path / "overlay.qcow2").exists()
    results = playbook(
        [
            *four_times(volume_task(name, "overlay.qcow2", force=True, **absent)),
            *four_times(volume_task(name, "base.qcow2", **absent)),
        ],
        tmp_path,
    )
    settles(results[:4])
    settles(results[4:])
    assert results[1]["volume"]["path"] == str(path / "overlay.qcow2") and results[3]["volume"] is None
    assert not (path / "base.qcow2").exists() and not (path / "overlay.qcow2").exists()


@pytest.mark.parametrize("bad", ["../escape.qcow2", "..", "-rf.qcow2", "a" * 256, "sub/dir.qcow2"])
def test_hostile_names_are_refused_and_nothing_is_made(pool, bad):
    name, path = pool
    result, _output = adhoc("virt_volume", {"pool": name, "name": bad, "capacity": "1M"})
    assert result["failed"] and "is refused as the name of a volume" in result["msg"]
    assert list(path.iterdir()) == [] and not (POOLS / "escape.qcow2").exists()


def test_a_missing_pool_says_how_to_create_it():
    result, _output = adhoc("virt_volume", {"pool": "no-such-pool-here", "name": "x.qcow2", "capacity": "1M"})
    assert result["failed"] and "is not defined at URI 'qemu:///system'; create it with virtops.libvirt.virt_pool" in result["msg"]


def test_diff_shows_before_and_after(pool):
    name, _path = pool
    args = {"pool": name, "name": "d.qcow2", "capacity": "1M"}
    predicted, output = adhoc("virt_volume", args, "--check", "--diff")
    assert predicted["changed"] and '-    "state": "absent"' in output and '+    "capacity": "1 MiB (1048576 bytes)"' in output
    adhoc("virt_volume", args)
    grown, output = adhoc("virt_volume", {**args, "capacity": "2M"}, "--diff")
    assert grown["changed"] and '-    "capacity": "1 MiB (1048576 bytes)"' in output and '+    "capacity": "2 MiB (2097152 bytes)"' in output


def test_upload_bytes_and_download_bytes(pool):
    name, path = pool
    data = b"instance-id: it\n" * 100
    with Connection(URI) as conn:
        handle = conn.call("find the pool", conn.raw.storagePoolLookupByName, name)
        vol = volumes.upload_bytes(conn, handle, "seed.img", data)
        assert volumes.download_bytes(conn, vol, 1 << 20) == data
        assert volumes.download_bytes(conn, vol, 10) == data[:10]
        assert volumes.capacity_of(conn, vol, "seed") == len(data)
    assert (path / "seed.img").read_bytes() == data
