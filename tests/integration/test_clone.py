"""virt_clone on the real daemon, as users run it (playbooks and ad-hoc commands):
a tiny test guest (direct kernel boot) with a qcow2 data disk in a temporary pool
and a cdrom ISO, cloned as a full copy and as a linked clone; every change run as
check mode, apply, check mode again, apply again. The source's definition and
disk bytes are checked unchanged after every clone. Domains are test guests named
with the test's prefix (removed with their NVRAM afterwards), volumes live in the
test's pool (removed with it)."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pycdlib
import pytest
from conftest import POOLS
from test_storage import adhoc, four_times, qemu_img
from virt_harness import URI, guest_tool, playbook, redefine, virsh

NVRAM_DIR = Path("/var/lib/libvirt/qemu/nvram")
OVMF_CODE = "/usr/share/OVMF/OVMF_CODE.fd"
OVMF_VARS = Path("/usr/share/OVMF/OVMF_VARS.fd")
MiB = 1024**2


def clone_task(source: str, name: str, **options) -> dict:
    return {"name": f"virt_clone {name}", "virtops.libvirt.virt_clone": {"uri": URI, "source": source, "name": name, **options}}


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_iso(path: Path) -> None:
    iso = pycdlib.PyCdlib()
    iso.new(interchange_level=4, vol_ident="INSTALL")
    data = b"installation media\n"
    iso.add_fp(io.BytesIO(data), len(data), "/README.;1")
    iso.write(str(path))
    iso.close()


def add_devices(xml: str, devices: str) -> str:
    return xml.replace("</devices>", devices + "</devices>", 1)


class Source:
    """The source guest: its name, pool, data disk and ISO, and what must never change."""

    def __init__(self, guests, pool: tuple[str, Path]) -> None:
        self.pool, self.path = pool
        self.name = guests.define("net")
        self.prefix = guests.prefix
        virsh("vol-create-as", self.pool, "data.qcow2", "8M", "--format", "qcow2")
        self.disk = self.path / "data.qcow2"
        subprocess.run(["qemu-io", "-f", "qcow2", "-c", "write -P 0xab 0 1M", str(self.disk)], check=True, capture_output=True)
        self.iso = self.path / "install.iso"
        make_iso(self.iso)
        virsh("pool-refresh", self.pool)
        disks = (
            f"<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='{self.disk}'/><target dev='vdb' bus='virtio'/></disk>"
            f"<disk type='file' device='cdrom'><driver name='qemu' type='raw'/><source file='{self.iso}'/><target dev='sdc' bus='sata'/><readonly/></disk>"
        )
        redefine(self.name, lambda xml: add_devices(xml, disks))
        self.keep()

    def keep(self) -> None:
        """Note the source's definition and disk bytes, to be found unchanged later."""
        self.xml = virsh("dumpxml", "--inactive", self.name)
        self.bytes = {path: digest(path) for path in (self.disk, self.iso)}

    def unchanged(self) -> None:
        assert virsh("dumpxml", "--inactive", self.name) == self.xml
        assert {path: digest(path) for path in self.bytes} == self.bytes


@pytest.fixture
def source(pool, guests) -> Source:
    return Source(guests, pool)


def definition(name: str) -> ET.Element:
    return ET.fromstring(virsh("dumpxml", "--inactive", name))


def identity(name: str) -> tuple[str, list[str]]:
    root = definition(name)
    return root.findtext("uuid") or "", [mac.get("address", "") for mac in root.iterfind("devices/interface/mac")]


def disk_sources(name: str) -> dict[str, str]:
    return {disk.find("target").get("dev"): disk.find("source").get("file") for disk in definition(name).iterfind("devices/disk")}


def test_a_full_copy_settles_has_its_own_identity_and_disk_and_leaves_the_source_alone(source, tmp_path):
    name = f"{source.prefix}copy"
    results = playbook(four_times(clone_task(source.name, name)), tmp_path, diff=True)
    predicted, applied, check_again, again = results
    assert (predicted["changed"], applied["changed"], check_again["changed"], again["changed"]) == (True, True, False, False)
    assert predicted["actions"] == applied["actions"] and (check_again["actions"], again["actions"]) == ([], [])
    assert again["differences"] == []  # what libvirt made of the clone is what a fresh clone would be, identity aside
    assert predicted["diff"] == applied["diff"] and applied["diff"][0]["before"] == ""
    assert f"vdb: copy of {source.disk} -> {source.path / (name + '-vdb.qcow2')}" in applied["diff"][1]["after"]
    assert predicted["domain"]["uuid"] is None and applied["domain"] == again["domain"] == {"name": name, "uuid": identity(name)[0]}
    copy = source.path / f"{name}-vdb.qcow2"
    assert [(disk["target"], disk["how"], disk["clone"]) for disk in applied["disks"]] == [("vdb", "copy", str(copy)), ("sdc", "shared", str(source.iso))]
    assert disk_sources(name) == {"vdb": str(copy), "sdc": str(source.iso)}
    uuid, macs = identity(name)
    source_uuid, source_macs = identity(source.name)
    assert uuid != source_uuid and len(macs) == len(source_macs) == 1 and macs[0] != source_macs[0] and macs[0].startswith("52:54:00:")
    info = qemu_img(copy)
    assert (info["format"], info["virtual-size"], "backing-filename" in info) == ("qcow2", 8 * MiB, False)
    assert subprocess.run(["qemu-img", "compare", "-U", str(source.disk), str(copy)], capture_output=True, check=False).returncode == 0
    source.unchanged()


def test_a_linked_clone_is_an_overlay_of_the_source_disk(source, tmp_path):
    name = f"{source.prefix}linked"
    results = playbook(four_times(clone_task(source.name, name, storage="linked")), tmp_path)
    assert [result["changed"] for result in results] == [True, True, False, False] and results[3]["differences"] == []
    overlay = source.path / f"{name}-vdb.qcow2"
    info = qemu_img(overlay)
    assert (info["format"], info["backing-filename"], info["backing-filename-format"], info["virtual-size"]) == ("qcow2", str(source.disk), "qcow2", 8 * MiB)
    assert results[1]["disks"][0]["how"] == "linked" and disk_sources(name)["vdb"] == str(overlay)
    assert definition(name).find("devices/disk/driver").get("type") == "qcow2"
    source.unchanged()


@pytest.mark.parametrize("storage", ["copy", "linked"])
def test_the_clone_starts_and_runs(source, tmp_path, storage):
    name = f"{source.prefix}{storage}"
    playbook([clone_task(source.name, name, storage=storage)], tmp_path)
    try:
        virsh("start", name)
        # The clone writes to the source's serial log (a file the domain writes, not a disk: the module warns).
        guest_tool("wait-log", source.name, "acpid started", "--timeout", "90")
        assert virsh("domstate", name) == "running"
    finally:
        virsh("destroy", name, check=False)
    assert virsh("domstate", source.name) == "shut off"
    source.unchanged()


@pytest.mark.parametrize("where", ["nvram_dir", "pool"])
def test_the_nvram_is_copied_with_identical_content(source, tmp_path, where):
    directory = NVRAM_DIR if where == "nvram_dir" else source.path
    vars_fd = directory / f"{source.name}_VARS.fd"
    shutil.copyfile(OVMF_VARS, vars_fd)
    os.chmod(vars_fd, 0o600)
    with open(vars_fd, "r+b") as handle:  # a variable store of its own, not the template's bytes
        handle.seek(4096)
        handle.write(os.urandom(64))
    virsh("pool-refresh", source.pool)
    before = digest(vars_fd)
    name = f"{source.prefix}efi"
    copy = directory / f"{name}_VARS.fd"
    try:
        redefine(
            source.name,
            lambda xml: xml.replace("</os>", f"<loader readonly='yes' type='pflash'>{OVMF_CODE}</loader><nvram>{vars_fd}</nvram></os>", 1),
        )
        source.keep()
        results = playbook(four_times(clone_task(source.name, name)), tmp_path)
        assert [result["changed"] for result in results] == [True, True, False, False]
        assert results[0]["nvram"] == results[1]["nvram"] == results[3]["nvram"] == str(copy)
        how = "a file copy where the module runs" if where == "nvram_dir" else f"volume '{name}_VARS.fd' of storage pool '{source.pool}', by libvirt"
        assert f"copy the NVRAM {vars_fd} to {copy} ({how})" in results[1]["actions"]
        assert digest(copy) == before == digest(vars_fd)
        assert (copy.stat().st_mode, copy.stat().st_uid, copy.stat().st_gid) == (vars_fd.stat().st_mode, vars_fd.stat().st_uid, vars_fd.stat().st_gid)
        assert definition(name).findtext("os/nvram") == str(copy)
        source.unchanged()
    finally:
        for path in (vars_fd, copy):
            path.unlink(missing_ok=True)


def test_a_running_source_is_refused_and_nothing_is_made(source):
    virsh("start", source.name)
    try:
        result, output = adhoc("virt_clone", {"source": source.name, "name": f"{source.prefix}hot"})
        assert result["failed"] and f"Domain '{source.name}' (option source) is running" in result["msg"], output
        assert "virt_power state=shutdown" in result["msg"] and "virt_snapshot" in result["msg"]
    finally:
        virsh("destroy", source.name, check=False)
    assert virsh("dominfo", f"{source.prefix}hot", check=False) == ""
    assert sorted(path.name for path in source.path.iterdir()) == ["data.qcow2", "install.iso"]


def test_check_mode_with_diff_ad_hoc_shows_the_clone_and_makes_nothing(source):
    name = f"{source.prefix}adhoc"
    result, output = adhoc("virt_clone", {"source": source.name, "name": name}, "--check", "--diff")
    assert not result["failed"] and result["changed"], output
    assert f"<name>{name}</name>" in output and f"vdb: copy of {source.disk}" in output and "sdc: shared" in output
    assert virsh("dominfo", name, check=False) == ""
    assert sorted(path.name for path in source.path.iterdir()) == ["data.qcow2", "install.iso"]


def test_refusals_name_what_to_do_and_make_nothing(source, pool):
    loose = POOLS / f"{pool[0]}-loose"
    loose.mkdir()
    try:
        cases = [
            ({"name": source.name}, "both name domain"),
            ({"name": "a/b"}, "is refused as the name of a volume"),
            ({"name": "a\x00b"}, "holds a NUL character"),
            ({"name": f"{source.prefix}x", "source": f"{source.prefix}missing"}, f"No domain named '{source.prefix}missing' (option source)"),
        ]
        for args, message in cases:
            result, output = adhoc("virt_clone", {"source": source.name, **args})
            assert result["failed"] and message in result["msg"], output
        (loose / "loose.img").write_bytes(b"\0" * MiB)
        disk = f"<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='{loose / 'loose.img'}'/><target dev='vdc' bus='virtio'/></disk>"
        redefine(source.name, lambda xml: add_devices(xml, disk))
        result, output = adhoc("virt_clone", {"source": source.name, "name": f"{source.prefix}loose"})
        assert result["failed"] and f"Disk vdc of domain '{source.name}' ({loose / 'loose.img'}) is writable and is not a volume" in result["msg"], output
        assert sorted(path.name for path in source.path.iterdir()) == ["data.qcow2", "install.iso"]
        assert virsh("dominfo", f"{source.prefix}loose", check=False) == ""
    finally:
        shutil.rmtree(loose, ignore_errors=True)


def test_a_failed_define_removes_the_volume_it_made(source):
    # The volume's name is safe (volume_names), so the copy is made; then libvirt refuses the clone's name.
    name = f"{source.prefix}bad/name"
    result, output = adhoc("virt_clone", {"source": source.name, "name": name, "volume_names": {"vdb": f"{source.prefix}bad.qcow2"}})
    assert result["failed"] and not result["changed"], output
    assert f"libvirt refused the definition of the clone '{name}'" in result["msg"] and "cannot contain '/'" in result["msg"]
    assert f"This run removed what it had made: volume '{source.prefix}bad.qcow2' of storage pool '{source.pool}'." in result["msg"]
    assert sorted(path.name for path in source.path.iterdir()) == ["data.qcow2", "install.iso"]
    source.unchanged()


def test_a_running_source_is_cloned_from_an_external_snapshot_of_it(source, tmp_path):
    virsh("start", source.name)
    clone = f"{source.prefix}hot"
    snapshot = {"uri": URI, "name": source.name, "snapshot": "for-copy"}
    try:
        taken, *results = playbook(
            [
                {"name": "Freeze the data disk", "virtops.libvirt.virt_snapshot": {**snapshot, "kind": "external"}},
                *four_times(clone_task(source.name, clone, snapshot="for-copy")),
            ],
            tmp_path,
        )
        assert taken["changed"] and taken["snapshot"]["kind"] == "external"
        predicted, applied, check_again, again = results
        assert (predicted["changed"], applied["changed"], check_again["changed"], again["changed"]) == (True, True, False, False)
        data = next(disk for disk in applied["disks"] if disk["target"] == "vdb")
        assert (data["how"], data["source"]) == ("copy", str(source.disk))
        assert virsh("domstate", source.name) == "running"
        compared = subprocess.run(["qemu-img", "compare", "-U", str(source.disk), data["clone"]], capture_output=True, text=True, check=False)
        assert compared.returncode == 0, compared.stdout + compared.stderr
        refused, output = adhoc("virt_clone", {"source": source.name, "name": f"{source.prefix}hot2", "snapshot": "for-copy", "storage": "linked"})
        assert refused["failed"] and "needs storage=copy" in refused["msg"], output
    finally:
        playbook([{"name": "Merge the overlay back", "virtops.libvirt.virt_snapshot": {**snapshot, "state": "absent"}}], tmp_path)
        virsh("destroy", source.name, check=False)
    assert virsh("domstate", source.name) == "shut off"
