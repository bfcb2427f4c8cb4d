"""virt_cloud_init on the real daemon, as users run it (playbooks and ad-hoc
commands): each case in a directory pool of its own (test_storage's fixture).
Every change is run as check mode, apply, check mode again, apply again."""

from __future__ import annotations

import subprocess

import pycdlib
from test_storage import adhoc, four_times
from virt_harness import URI, playbook, virsh


def seed_task(pool_name: str, name: str = "web1-seed.iso", **options) -> dict:
    return {"name": f"virt_cloud_init {name}", "virtops.libvirt.virt_cloud_init": {"uri": URI, "pool": pool_name, "name": name, **options}}


def settled(results: list[dict]) -> None:
    predicted, applied, check_again, again = results
    assert (predicted["changed"], applied["changed"], check_again["changed"], again["changed"]) == (True, True, False, False), results


def files_in(path) -> dict[str, str]:
    iso = pycdlib.PyCdlib()
    iso.open(str(path))
    try:
        found = {}
        for name in ("user-data", "meta-data", "network-config"):
            try:
                record = iso.get_record(rr_path=f"/{name}")
            except pycdlib.pycdlibexception.PyCdlibException:
                continue
            with iso.open_file_from_iso(rr_path=f"/{name}") as handle:
                found[name] = handle.read().decode()
            assert record.rock_ridge is not None
        return found
    finally:
        iso.close()


def test_a_seed_is_written_once_and_rewritten_only_when_its_files_change(pool, tmp_path):
    name, path = pool
    first = seed_task(name, user_data={"hostname": "web1", "disable_root": False}, network_config={"version": 2, "ethernets": {"eth0": {"dhcp4": True}}})
    changed = seed_task(name, user_data={"hostname": "web2"})
    results = playbook([*four_times(first), *four_times(changed)], tmp_path, diff=True)
    settled(results[:4])
    settled(results[4:])
    seed = results[1]["seed"]
    assert (seed["pool"], seed["name"], seed["path"]) == (name, "web1-seed.iso", str(path / "web1-seed.iso"))
    assert set(seed["files"]) == {"user-data", "meta-data", "network-config"}
    assert "hostname: web1" in results[4]["diff"]["before"] and "hostname: web2" in results[4]["diff"]["after"]
    assert files_in(path / "web1-seed.iso") == {"user-data": "#cloud-config\nhostname: web2\n", "meta-data": "instance-id: web1-seed.iso\n"}
    blkid = subprocess.run(["blkid", "-o", "value", "-s", "LABEL", str(path / "web1-seed.iso")], capture_output=True, text=True, check=False)
    assert blkid.stdout.strip() == "cidata"


def test_a_volume_that_is_not_a_seed_is_never_overwritten_or_deleted(pool):
    name, path = pool
    (path / "data.img").write_bytes(b"precious" * 4096)
    virsh("pool-refresh", name)
    for state in ("present", "absent"):
        result, output = adhoc("virt_cloud_init", {"pool": name, "name": "data.img", "state": state, "user_data": "#cloud-config\n"})
        assert result["failed"] and "is not a cloud-init NoCloud seed" in result["msg"] and "left as it is" in result["msg"], output
    assert (path / "data.img").read_bytes() == b"precious" * 4096


def test_absent_refuses_while_a_domain_uses_the_seed_then_deletes_it(pool, tmp_path):
    name, path = pool
    playbook([seed_task(name, "it-seed.iso")], tmp_path)
    domain = f"it-{name}-seeded"
    xml = (
        f"<domain type='qemu'><name>{domain}</name><memory unit='MiB'>64</memory><os><type arch='x86_64'>hvm</type></os>"
        f"<devices><disk type='volume' device='cdrom'><source pool='{name}' volume='it-seed.iso'/><target dev='sda' bus='scsi'/><readonly/></disk>"
        "</devices></domain>"
    )
    (tmp_path / "d.xml").write_text(xml)
    virsh("define", str(tmp_path / "d.xml"))
    refused, output = adhoc("virt_cloud_init", {"pool": name, "name": "it-seed.iso", "state": "absent"})
    assert refused["failed"] and f"used by domain '{domain}'" in refused["msg"], output
    assert (path / "it-seed.iso").exists()
    virsh("undefine", domain)
    results = playbook(four_times(seed_task(name, "it-seed.iso", state="absent")), tmp_path)
    settled(results)
    assert results[1]["seed"] is None and not (path / "it-seed.iso").exists()


def test_a_missing_pool_says_how_to_create_it():
    result, output = adhoc("virt_cloud_init", {"pool": "no-such-pool-x", "name": "s.iso"})
    assert result["failed"] and "create it with virtops.libvirt.virt_pool" in result["msg"], output
    gone, output = adhoc("virt_cloud_init", {"pool": "no-such-pool-x", "name": "s.iso", "state": "absent"})
    assert not gone["failed"] and not gone["changed"], output


def test_hostile_names_and_content_are_refused(pool):
    name, path = pool
    for bad in ("../escape.iso", "a/b.iso", "-rf.iso"):
        result, output = adhoc("virt_cloud_init", {"pool": name, "name": bad})
        assert result["failed"] and "is refused as the name of a volume" in result["msg"], output
    result, output = adhoc("virt_cloud_init", {"pool": name, "name": "s.iso", "user_data": 42})
    assert result["failed"] and "must be a string or a mapping" in result["msg"], output
    assert list(path.iterdir()) == []
