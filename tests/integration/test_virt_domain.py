"""virt_domain through playbooks on the real QEMU driver: pending changes and
restarts, what undefine keeps, and hostile or invalid XML changing nothing."""

from __future__ import annotations

import os
import shutil
import uuid

import pytest
from virt_harness import URI, domstate, guest_tool, playbook, virsh

OVMF_CODE = "/usr/share/OVMF/OVMF_CODE_4M.fd"
OVMF_VARS = "/usr/share/OVMF/OVMF_VARS_4M.fd"


def guest_xml(name: str) -> str:
    return guest_tool("xml", name)


def domain_task(name: str, **options) -> dict:
    return {"name": f"virt_domain {name}", "virtops.libvirt.virt_domain": {"name": name, "uri": URI, **options}}


def power_task(name: str, state: str) -> dict:
    return {"name": f"virt_power {name} {state}", "virtops.libvirt.virt_power": {"name": name, "state": state}}


@pytest.fixture
def name(guests):
    """A fresh test-bed domain name (removed afterwards by the guests fixture)."""
    guests.count += 1
    return f"{guests.prefix}d{guests.count}"


def test_define_check_mode_idempotency_and_diff(name, tmp_path):
    xml = guest_xml(name)
    bigger = xml.replace("<memory unit='MiB'>128</memory>", "<memory unit='MiB'>160</memory>")
    results = playbook([
        {**domain_task(name, xml=xml), "check_mode": True},
        domain_task(name, xml=xml),
        {**domain_task(name, xml=xml), "check_mode": True},
        domain_task(name, xml=xml),
        {**domain_task(name, xml=bigger), "check_mode": True},
        domain_task(name, xml=bigger),
        domain_task(name, xml=bigger),
    ], tmp_path, diff=True)
    predicted, defined, check_again, again, predicted_change, changed, changed_again = results
    assert predicted["changed"] and defined["changed"]
    assert (check_again["changed"], again["changed"]) == (False, False)
    assert predicted_change["changed"] and changed["changed"] and not changed_again["changed"]
    assert predicted_change["differences"] == changed["differences"] == ["/domain/memory: want '160', have '131072'"]
    assert '<memory unit="KiB">131072</memory>' in changed["diff"]["before"]
    assert '<memory unit="KiB">163840</memory>' in changed["diff"]["after"]
    assert changed["uuid"] == defined["uuid"] == virsh("domuuid", name)
    assert "163840" in virsh("dumpxml", "--inactive", name)


def test_pending_restart_and_restart_if_pending(name, guests, tmp_path):
    xml = guest_xml(name)
    playbook([domain_task(name, xml=xml), power_task(name, "running")], tmp_path)
    guests.wait_ready(name)
    old_id = virsh("domid", name)
    bigger = xml.replace("<memory unit='MiB'>128</memory>", "<memory unit='MiB'>192</memory>")
    left, kept, restarted, settled = playbook([
        domain_task(name, xml=bigger),
        domain_task(name, xml=bigger),
        domain_task(name, xml=bigger, restart="if_pending", restart_timeout=60),
        domain_task(name, xml=bigger, restart="if_pending"),
    ], tmp_path)
    assert (left["changed"], left["pending_restart"], left["restarted"]) == (True, True, False)
    assert (kept["changed"], kept["pending_restart"]) == (False, True)
    assert (restarted["changed"], restarted["restarted"], restarted["pending_restart"]) == (True, True, False)
    assert (settled["changed"], settled["pending_restart"], settled["restarted"]) == (False, False, False)
    assert domstate(name) == "running" and virsh("domid", name) != old_id
    assert "196608" in virsh("dominfo", name).replace(" ", "")  # Max memory: 196608 KiB


def efi_xml(name: str, nvram: str) -> str:
    return f"""<domain type='qemu'>
  <name>{name}</name>
  <metadata><virtops:testbed xmlns:virtops='https://virtops.dev/testbed' variant='normal'/></metadata>
  <memory unit='MiB'>128</memory>
  <os><type arch='x86_64' machine='q35'>hvm</type>
    <loader readonly='yes' type='pflash'>{OVMF_CODE}</loader>
    <nvram template='{OVMF_VARS}'>{nvram}</nvram></os>
  <features><acpi/></features>
  <devices>
    <disk type='file' device='disk'><source file='{nvram}.disk.raw'/><target dev='vda' bus='virtio'/></disk>
    <tpm model='tpm-crb'><backend type='emulator' version='2.0'/></tpm>
  </devices>
</domain>"""


@pytest.mark.parametrize("remove", [False, True])
def test_absent_keeps_nvram_tpm_and_disks_unless_asked(name, tmp_path, remove):
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    nvram = str(state_dir / f"{name}_VARS.fd")
    disk = f"{nvram}.disk.raw"
    for path in (nvram, disk):
        with open(path, "wb") as handle:
            handle.write(b"\0" * 4096)
    playbook([domain_task(name, xml=efi_xml(name, nvram))], tmp_path)
    tpm_state = f"/var/lib/libvirt/swtpm/{virsh('domuuid', name)}"
    os.makedirs(tpm_state, exist_ok=True)  # what swtpm leaves after a first boot
    options = {"state": "absent", "remove_nvram": remove, "remove_tpm": remove, "remove_storage": remove}
    predicted, removed, again = playbook([
        {**domain_task(name, **options), "check_mode": True}, domain_task(name, **options), domain_task(name, **options),
    ], tmp_path)
    expected_flags = ["nvram", "tpm"] if remove else ["keep_nvram", "keep_tpm"]
    assert predicted["changed"] and predicted["undefine_flags"] == expected_flags
    assert removed["changed"] and removed["undefine_flags"] == expected_flags
    assert removed["removed_volumes"] == [] and again["changed"] is False
    assert name not in virsh("list", "--all", "--name")
    assert os.path.exists(nvram) != remove
    assert os.path.exists(tpm_state) != remove
    assert os.path.exists(disk)  # not a storage volume libvirt manages: never touched
    shutil.rmtree(tpm_state, ignore_errors=True)  # the state this test made and libvirt rightly kept


def test_remove_storage_deletes_only_managed_volumes(name, tmp_path):
    pool = f"it-pool-{uuid.uuid4().hex[:6]}"
    pool_dir = tmp_path / "pool"
    pool_dir.mkdir()
    virsh("pool-create-as", pool, "dir", "--target", str(pool_dir))
    try:
        virsh("vol-create-as", pool, f"{name}.qcow2", "16M", "--format", "qcow2")
        volume = str(pool_dir / f"{name}.qcow2")
        outside = tmp_path / "outside.raw"
        outside.write_bytes(b"\0" * 4096)
        xml = guest_xml(name).replace("<devices>", f"""<devices>
    <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='{volume}'/><target dev='vda' bus='virtio'/></disk>
    <disk type='file' device='disk'><source file='{outside}'/><target dev='vdb' bus='virtio'/></disk>""")
        kept, removed = playbook([
            domain_task(name, xml=xml),
            domain_task(name, state="absent", remove_storage=True),
        ], tmp_path)
        assert kept["changed"] and removed["removed_volumes"] == [volume]
        assert not os.path.exists(volume) and outside.exists()
    finally:
        virsh("pool-destroy", pool)


def test_absent_refuses_a_running_domain_without_force(name, guests, tmp_path):
    results = playbook([
        domain_task(name, xml=guest_xml(name)), power_task(name, "running"),
        {**domain_task(name, state="absent"), "expect_failure": True},
        domain_task(name, state="absent", force=True),
    ], tmp_path)
    refused, removed = results[2], results[3]
    assert refused["failed"] and "is running, so it is not undefined" in refused["msg"]
    assert removed["changed"] and name not in virsh("list", "--all", "--name")


HOSTILE = {
    "entity": ("<!DOCTYPE domain [<!ENTITY secret SYSTEM 'file:///etc/shadow'>]>"
               "<domain type='qemu'><name>NAME</name><description>&secret;</description></domain>",
               "declares a DTD or entities"),
    "external dtd": ("<!DOCTYPE domain SYSTEM 'http://127.0.0.1:9/evil.dtd'><domain type='qemu'><name>NAME</name></domain>",
                     "declares a DTD or entities"),
    "wrong name": ("<domain type='qemu'><name>someone-else</name><memory>65536</memory></domain>",
                   "names the domain 'someone-else' but option name is"),
    "invalid value": ("<domain type='qemu'><name>NAME</name><memory unit='MiB'>lots</memory>"
                      "<os><type arch='x86_64'>hvm</type></os></domain>", "libvirt refused the definition of domain"),
    "not xml": ("<domain><name>NAME</name>", "is not well-formed"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_or_invalid_xml_changes_nothing(name, tmp_path, case):
    xml, message = HOSTILE[case]
    before = virsh("list", "--all", "--name")
    result, = playbook([{**domain_task(name, xml=xml.replace("NAME", name)), "expect_failure": True}], tmp_path)
    assert result["failed"] and message in result["msg"] and result["changed"] is False
    assert "root:" not in str(result)  # nothing of /etc/shadow was read
    assert virsh("list", "--all", "--name") == before
