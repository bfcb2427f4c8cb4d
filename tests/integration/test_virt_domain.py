"""virt_domain through playbooks and ad-hoc commands on the real QEMU driver:
pending changes and restarts, what undefine keeps, secrets never shown, and
hostile or invalid XML changing nothing."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid

import pytest
from virt_harness import ENV, ROOT, URI, daemon_answers, domstate, guest_tool, playbook, start_libvirtd, stop_libvirtd, virsh

OVMF_CODE = "/usr/share/OVMF/OVMF_CODE_4M.fd"
OVMF_VARS = "/usr/share/OVMF/OVMF_VARS_4M.fd"


def guest_xml(name: str, *options: str) -> str:
    return guest_tool("xml", name, *options)


def adhoc(module: str, args: dict, *flags: str) -> tuple[dict | None, str]:
    """One `ansible localhost -m virtops.libvirt.<module> -a '<json>'` run: its
    result (None with -v... flags, whose output is not one JSON) and its whole output."""
    cmd = [
        "ansible",
        "localhost",
        "-m",
        f"virtops.libvirt.{module}",
        "-a",
        json.dumps({"uri": URI, **args}),
        "-e",
        f"ansible_python_interpreter={sys.executable}",
        *flags,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=ENV, check=False, cwd=ROOT)
    output = proc.stdout + proc.stderr
    if any(flag.startswith("-v") for flag in flags):
        return None, output
    status, _sep, body = proc.stdout.partition(" => ")
    result = json.loads(body[: body.rindex("}") + 1])
    result["failed"] = status.rpartition("| ")[2].strip() == "FAILED!"  # the callback leaves it out
    return result, output


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
    results = playbook(
        [
            {**domain_task(name, xml=xml), "check_mode": True},
            domain_task(name, xml=xml),
            {**domain_task(name, xml=xml), "check_mode": True},
            domain_task(name, xml=xml),
            {**domain_task(name, xml=bigger), "check_mode": True},
            domain_task(name, xml=bigger),
            domain_task(name, xml=bigger),
        ],
        tmp_path,
        diff=True,
    )
    predicted, defined, check_again, again, predicted_change, changed, changed_again = results
    assert predicted["changed"] and defined["changed"]
    assert (check_again["changed"], again["changed"]) == (False, False)
    assert predicted_change["changed"] and changed["changed"] and not changed_again["changed"]
    assert predicted_change["differences"] == changed["differences"] == ["memory: 128 MiB -> 160 MiB", "currentMemory: 128 MiB -> 160 MiB (follows memory)"]
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
    left, kept, restarted, settled = playbook(
        [
            domain_task(name, xml=bigger),
            domain_task(name, xml=bigger),
            domain_task(name, xml=bigger, restart="if_pending", restart_timeout=60),
            domain_task(name, xml=bigger, restart="if_pending"),
        ],
        tmp_path,
    )
    assert (left["changed"], bool(left["pending_restart"]), left["restarted"]) == (True, True, False)
    assert (kept["changed"], kept["pending_restart"]) == (False, left["pending_restart"])
    assert (restarted["changed"], restarted["restarted"], restarted["pending_restart"]) == (True, True, [])
    assert (settled["changed"], settled["pending_restart"], settled["restarted"]) == (False, [], False)
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
    predicted, removed, again = playbook(
        [
            {**domain_task(name, **options), "check_mode": True},
            domain_task(name, **options),
            domain_task(name, **options),
        ],
        tmp_path,
    )
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
        xml = guest_xml(name).replace(
            "<devices>",
            f"""<devices>
    <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='{volume}'/><target dev='vda' bus='virtio'/></disk>
    <disk type='file' device='disk'><source file='{outside}'/><target dev='vdb' bus='virtio'/></disk>""",
        )
        kept, removed = playbook(
            [
                domain_task(name, xml=xml),
                domain_task(name, state="absent", remove_storage=True),
            ],
            tmp_path,
        )
        assert kept["changed"] and removed["removed_volumes"] == [volume]
        assert not os.path.exists(volume) and outside.exists()
    finally:
        virsh("pool-destroy", pool)


def test_absent_refuses_a_running_domain_without_force(name, guests, tmp_path):
    results = playbook(
        [
            domain_task(name, xml=guest_xml(name)),
            power_task(name, "running"),
            {**domain_task(name, state="absent"), "expect_failure": True},
            domain_task(name, state="absent", force=True),
        ],
        tmp_path,
    )
    refused, removed = results[2], results[3]
    assert refused["failed"] and "is running, so it is not undefined" in refused["msg"]
    assert removed["changed"] and name not in virsh("list", "--all", "--name")


HOSTILE = {
    "entity": (
        "<!DOCTYPE domain [<!ENTITY secret SYSTEM 'file:///etc/shadow'>]><domain type='qemu'><name>NAME</name><description>&secret;</description></domain>",
        "has a document type declaration (<!DOCTYPE ...>)",
    ),
    "external dtd": (
        "<!DOCTYPE domain SYSTEM 'http://127.0.0.1:9/evil.dtd'><domain type='qemu'><name>NAME</name></domain>",
        "has a document type declaration (<!DOCTYPE ...>)",
    ),
    "utf-7 dtd": (
        '<?xml version="1.0" encoding="UTF-7"?>+ADw-!DOCTYPE domain +AFs-+ADw-!ENTITY secret SYSTEM '
        "'file:///etc/shadow'+AD4-+AF0-+AD4-<domain type='qemu'><name>NAME</name></domain>",
        "is not well-formed",
    ),
    "wrong name": ("<domain type='qemu'><name>someone-else</name><memory>65536</memory></domain>", "names the domain 'someone-else' but option name is"),
    "invalid value": (
        "<domain type='qemu'><name>NAME</name><memory unit='MiB'>lots</memory><os><type arch='x86_64'>hvm</type></os></domain>",
        "libvirt refused the definition of domain",
    ),
    "not xml": ("<domain><name>NAME</name>", "is not well-formed"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_or_invalid_xml_changes_nothing(name, tmp_path, case):
    xml, message = HOSTILE[case]
    task = domain_task(name, xml=xml.replace("NAME", name))
    checked, result = playbook([{**task, "check_mode": True, "expect_failure": True}, {**task, "expect_failure": True}], tmp_path)
    # Check mode refuses what the module refuses; only libvirt's own validation needs a define.
    for outcome in (result,) if case == "invalid value" else (checked, result):
        assert outcome["failed"] and message in outcome["msg"] and outcome["changed"] is False
        assert no_traceback(outcome)
        assert "root:" not in str(outcome)  # nothing of /etc/shadow was read
    assert name not in virsh("list", "--all", "--name")


def no_traceback(result: dict) -> bool:
    """An expected failure: ansible-core 2.19 marks its registered result with an
    exception placeholder, never a traceback."""
    return result.get("exception", "(traceback unavailable)") == "(traceback unavailable)" and "Traceback" not in str(result)


# -- secrets ----------------------------------------------------------------------------
SECRET_DEVICES = """<devices>
    <disk type='network' device='cdrom'><driver name='qemu' type='raw'/>
      <source protocol='https' name='/x.iso' query='token=QUERY_SECRET_1'><host name='example.com' port='443'/>
        <cookies><cookie name='session'>COOKIE_SECRET_1</cookie></cookies></source>
      <target dev='hdc' bus='ide'/><readonly/></disk>
    <graphics type='vnc' port='-1' autoport='yes' passwd='VNCSEC_1'><listen type='none'/></graphics>"""


def test_secrets_never_appear_in_any_output(name):
    """Define, predict and apply a change of every secret, list the domain, and have
    libvirt refuse a definition: no output of any of them holds a secret (ad-hoc, with
    --diff, and once with -vvv, which shows the module's invocation)."""
    first = guest_xml(name).replace("<devices>", SECRET_DEVICES)
    second = first.replace("_1", "_2")
    refused = second.replace("<memory unit='MiB'>128</memory>", "<memory unit='MiB'>lots</memory>")
    outputs = []
    for args, flags in [
        ({"name": name, "xml": first}, ["--diff"]),
        ({"name": name, "xml": second}, ["--diff", "--check"]),
        ({"name": name, "xml": second}, ["--diff"]),
        ({"name": name, "xml": second, "match": "exact"}, ["--diff", "-vvv"]),
        ({"name": name, "xml": refused}, ["--diff", "-vvv"]),
    ]:
        result, output = adhoc("virt_domain", args, *flags)
        outputs.append(output)
        if result is not None:
            assert result["changed"], output
    info, output = adhoc("virt_domain_info", {"name": name, "definition": True})
    outputs.append(output)
    assert 'passwd="********"' in info["domains"][0]["definition"]
    assert "'********' -> '********'" in outputs[2] and "libvirt refused the definition" in outputs[4]
    shown = "\n".join(outputs)
    leaked = [secret for secret in ("VNCSEC_", "COOKIE_SECRET", "QUERY_SECRET") if secret in shown]
    assert not leaked, shown
    secure = virsh("dumpxml", "--inactive", "--security-info", name)
    assert "VNCSEC_2" in secure and "COOKIE_SECRET_2" in secure and "QUERY_SECRET_2" in secure


# -- absent: managed save, snapshots ----------------------------------------------------
def redefine_snapshot(name: str, tmp_path) -> None:
    """Snapshot metadata (what undefine would delete) for a guest without disks."""
    path = tmp_path / "snapshot.xml"
    path.write_text(
        "<domainsnapshot><name>s1</name><state>shutoff</state><creationTime>1700000000</creationTime>"
        f"<memory snapshot='no'/>{virsh('dumpxml', '--inactive', name)}</domainsnapshot>"
    )
    virsh("snapshot-create", name, str(path), "--redefine")


def test_absent_refuses_a_saved_image_and_snapshots_unless_asked(guests, tmp_path):
    name = guests.in_state("saved")
    redefine_snapshot(name, tmp_path)
    role = {
        "name": "domains role",
        "ansible.builtin.include_role": {"name": "virtops.libvirt.domains"},
        "vars": {"domains_uri": URI, "domains_list": [{"name": name, "state": "absent", "remove_managed_save": True, "remove_snapshots_metadata": True}]},
    }
    checked, refused, half, _role = playbook(
        [
            {**domain_task(name, state="absent"), "check_mode": True, "expect_failure": True},
            {**domain_task(name, state="absent", force=True), "expect_failure": True},
            {**domain_task(name, state="absent", remove_managed_save=True), "expect_failure": True},
            role,
        ],
        tmp_path,
    )
    for outcome in (checked, refused):
        assert outcome["failed"] and outcome["changed"] is False
        assert outcome["msg"].startswith(f"Domain '{name}' has a managed-save image and 1 snapshot(s); it is not removed")
        assert "remove_managed_save=true and remove_snapshots_metadata=true" in outcome["msg"]
    assert half["failed"] and f"Domain '{name}' has 1 snapshot(s)" in half["msg"]
    assert name not in virsh("list", "--all", "--name")  # the role, with both options, removed it


def test_absent_keeps_what_it_refuses_to_delete(guests, tmp_path):
    name = guests.in_state("saved")
    redefine_snapshot(name, tmp_path)
    playbook([{**domain_task(name, state="absent"), "expect_failure": True}], tmp_path)
    assert domstate(name) == "shut off" and "yes" in virsh("dominfo", name).split("Managed save:")[1].split("\n")[0]
    assert virsh("snapshot-list", name, "--name") == "s1"
    virsh("managedsave-remove", name)
    virsh("snapshot-delete", name, "s1", "--metadata")


# -- remove_storage: volumes other domains use stay ------------------------------------
@pytest.fixture
def pool(tmp_path):
    """A dir storage pool of this test (defined, built, started; removed afterwards)."""
    pool_name = f"it-pool-{uuid.uuid4().hex[:6]}"
    pool_dir = tmp_path / "pool"
    virsh("pool-define-as", pool_name, "dir", "--target", str(pool_dir))
    try:
        virsh("pool-build", pool_name)
        virsh("pool-start", pool_name)
        yield pool_name, pool_dir
    finally:
        virsh("pool-destroy", pool_name, check=False)
        virsh("pool-undefine", pool_name, check=False)


def test_remove_storage_keeps_volumes_other_domains_use(guests, pool, tmp_path):
    """Two domains share a disk (the other one reads it): it stays, as does an ISO."""
    pool_name, pool_dir = pool
    for volume, size in (("own.qcow2", "16M"), ("shared.qcow2", "16M"), ("media.iso", "1M")):
        virsh("vol-create-as", pool_name, volume, size, "--format", "raw" if volume.endswith(".iso") else "qcow2")
    guests.count += 1
    name, other = f"{guests.prefix}s{guests.count}", f"{guests.prefix}t{guests.count}"
    qcow2 = "<driver name='qemu' type='qcow2'/>"
    disks = (
        f"<devices><disk type='file' device='disk'>{qcow2}<source file='{pool_dir}/own.qcow2'/>"
        "<target dev='vda' bus='virtio'/></disk>"
        f"<disk type='file' device='disk'>{qcow2}<source file='{pool_dir}/shared.qcow2'/>"
        "<target dev='vdb' bus='virtio'/></disk>"
        f"<disk type='file' device='cdrom'><source file='{pool_dir}/media.iso'/><target dev='hdc' bus='ide'/>"
        "<readonly/></disk>"
    )
    reader = f"<devices><disk type='file' device='disk'>{qcow2}<source file='{pool_dir}/shared.qcow2'/><target dev='vda' bus='virtio'/><readonly/></disk>"
    options = {"state": "absent", "remove_storage": True}
    predicted, removed = playbook(
        [
            domain_task(name, xml=guest_xml(name).replace("<devices>", disks)),
            domain_task(other, xml=guest_xml(other).replace("<devices>", reader)),
            {**domain_task(name, **options), "check_mode": True},
            domain_task(name, **options),
        ],
        tmp_path,
    )[2:]
    kept = [
        {"path": f"{pool_dir}/media.iso", "reason": "a read-only or shareable disk (installation media or data other domains may use)"},
        {"path": f"{pool_dir}/shared.qcow2", "reason": f"used by domain '{other}'"},
    ]
    assert predicted["removed_volumes"] == removed["removed_volumes"] == [f"{pool_dir}/own.qcow2"]
    assert predicted["kept_volumes"] == removed["kept_volumes"] == kept
    assert sorted(os.listdir(pool_dir)) == ["media.iso", "shared.qcow2"]
    assert name not in virsh("list", "--all", "--name") and other in virsh("list", "--all", "--name")


def test_remove_storage_keeps_a_writable_volume_another_domain_names(guests, pool, tmp_path):
    pool_name, pool_dir = pool
    for volume in ("own.qcow2", "data.qcow2"):
        virsh("vol-create-as", pool_name, volume, "16M", "--format", "qcow2")
    guests.count += 1
    name, other = f"{guests.prefix}s{guests.count}", f"{guests.prefix}t{guests.count}"
    disks = "".join(
        f"<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='{pool_dir}/{v}'/><target dev='{t}' bus='virtio'/></disk>"
        for v, t in (("own.qcow2", "vda"), ("data.qcow2", "vdb"))
    )
    by_pool = (
        f"<disk type='volume' device='disk'><driver name='qemu' type='qcow2'/><source pool='{pool_name}' "
        "volume='data.qcow2'/><target dev='vda' bus='virtio'/></disk>"
    )
    options = {"state": "absent", "remove_storage": True}
    predicted, removed = playbook(
        [
            domain_task(name, xml=guest_xml(name).replace("<devices>", "<devices>" + disks)),
            domain_task(other, xml=guest_xml(other).replace("<devices>", "<devices>" + by_pool)),
            {**domain_task(name, **options), "check_mode": True},
            domain_task(name, **options),
        ],
        tmp_path,
    )[2:]
    kept = [{"path": f"{pool_dir}/data.qcow2", "reason": f"used by domain '{other}'"}]
    assert predicted["kept_volumes"] == removed["kept_volumes"] == kept
    assert removed["removed_volumes"] == [f"{pool_dir}/own.qcow2"] and os.listdir(pool_dir) == ["data.qcow2"]


# -- names, encodings, DOCTYPE in text -------------------------------------------------
def test_names_must_be_exact_and_hold_no_nul(name):
    for args, message in [
        (
            {"name": name, "xml": guest_xml(name).replace(f"<name>{name}</name>", f"<name> {name} </name>")},
            f"The XML names the domain ' {name} ' but option name is '{name}'",
        ),
        (
            {"name": f" {name}", "xml": guest_xml(name).replace(f"<name>{name}</name>", f"<name> {name}</name>")},
            f"Option name ' {name}' begins or ends with blanks",
        ),
        ({"name": f"{name}\x00x", "xml": guest_xml(name)}, "Option name holds a NUL character"),
    ]:
        result, output = adhoc("virt_domain", args)
        assert result["failed"] and message in result["msg"], output
        assert result["changed"] is False and no_traceback(result) and "Traceback" not in output
    assert name not in virsh("list", "--all", "--name").replace(" ", "")


def test_text_is_read_as_utf8_whatever_the_declaration(name, tmp_path):
    xml = '<?xml version="1.0" encoding="ISO-8859-1"?>\n' + guest_xml(name).replace(
        "<description>virtops test guest</description>", "<description>café</description>"
    )
    defined, again = playbook([domain_task(name, xml=xml), domain_task(name, xml=xml)], tmp_path)
    assert defined["changed"] and again["changed"] is False
    assert virsh("desc", name) == "café"


def test_a_doctype_mentioned_in_text_is_fine(name, tmp_path):
    """Comments and CDATA may say anything: defined, listed, removed."""
    xml = (
        guest_xml(name)
        .replace(
            "<description>virtops test guest</description>",
            "<!-- <!DOCTYPE d [<!ENTITY e SYSTEM 'file:///etc/passwd'>]> -->"
            "<description><![CDATA[<!DOCTYPE x [<!ENTITY y SYSTEM 'file:///etc/shadow'>]>]]></description>",
        )
        .replace("</metadata>", "<app:note xmlns:app='https://example.com/app'><![CDATA[<!ENTITY z 'z'>]]></app:note></metadata>")
    )
    defined, again, one, every, removed, gone = playbook(
        [
            domain_task(name, xml=xml),
            domain_task(name, xml=xml),
            {"name": "info", "virtops.libvirt.virt_domain_info": {"uri": URI, "name": name, "definition": True}},
            {"name": "info all", "virtops.libvirt.virt_domain_info": {"uri": URI}},
            domain_task(name, state="absent"),
            {"name": "info all after", "virtops.libvirt.virt_domain_info": {"uri": URI}},
        ],
        tmp_path,
    )
    assert defined["changed"] and again["changed"] is False
    assert "&lt;!DOCTYPE x [&lt;!ENTITY y SYSTEM 'file:///etc/shadow'&gt;]&gt;" in one["domains"][0]["definition"]
    assert name in [entry["name"] for entry in every["domains"]]
    assert removed["changed"] and name not in [entry["name"] for entry in gone["domains"]]


# -- options checked, and what a failure returns ----------------------------------------
@pytest.mark.parametrize("value", ["-1", "nan", "inf", "-inf"])
def test_restart_timeout_must_be_a_sane_number(name, value):
    result, output = adhoc("virt_domain", {"name": name, "xml": guest_xml(name), "restart": "if_pending", "restart_timeout": value})
    assert result["failed"] and "Option restart_timeout must be a number of seconds" in result["msg"], output
    assert name not in virsh("list", "--all", "--name")


def test_a_failed_restart_reports_the_define_it_made(name, guests, tmp_path):
    xml = guest_xml(name, "--variant", "stubborn")
    playbook([domain_task(name, xml=xml), power_task(name, "running")], tmp_path)
    guests.wait_ready(name)
    bigger = xml.replace("<memory unit='MiB'>128</memory>", "<memory unit='MiB'>160</memory>")
    (failed,) = playbook([{**domain_task(name, xml=bigger, restart="if_pending", restart_timeout=2), "expect_failure": True}], tmp_path)
    assert failed["failed"] and failed["msg"].startswith(f"restart=if_pending could not restart domain '{name}' within restart_timeout=2 s (it is now running")
    assert "sent: shutdown" in failed["msg"] and "raise restart_timeout" in failed["msg"]
    assert failed["changed"] is True  # the definition was written before the restart failed
    assert failed["differences"] == ["memory: 128 MiB -> 160 MiB", "currentMemory: 128 MiB -> 160 MiB (follows memory)"]
    assert (bool(failed["pending_restart"]), failed["restarted"], failed["uuid"]) == (True, False, virsh("domuuid", name))
    assert '<memory unit="KiB">163840</memory>' in failed["definition"]
    assert "163840" in virsh("dumpxml", "--inactive", name)


def test_restart_if_pending_survives_a_daemon_restart(name, guests, tmp_path):
    """libvirtd restarts while restart=if_pending waits for the guest to shut down:
    the run reconnects, sees the guest go down, starts it on its new definition."""
    xml = guest_xml(name, "--variant", "stubborn")  # ignores ACPI: the wait lasts until the test ends it
    playbook([domain_task(name, xml=xml), power_task(name, "running")], tmp_path)
    guests.wait_ready(name)
    bigger = xml.replace("<memory unit='MiB'>128</memory>", "<memory unit='MiB'>160</memory>")
    remote_tmp = tmp_path / "remote-tmp"
    args = {"uri": URI, "name": name, "xml": bigger, "restart": "if_pending", "restart_timeout": 60}
    cmd = ["ansible", "localhost", "-m", "virtops.libvirt.virt_domain", "-a", json.dumps(args), "-e", f"ansible_python_interpreter={sys.executable}"]
    run = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**ENV, "ANSIBLE_REMOTE_TMP": str(remote_tmp)}, cwd=ROOT)
    try:
        deadline = time.monotonic() + 60
        while not _module_runs(remote_tmp, "virt_domain"):
            assert run.poll() is None and time.monotonic() < deadline, "the module did not start waiting"
            time.sleep(0.1)
        time.sleep(3)  # it is waiting for the shutdown now
        stop_libvirtd()
        time.sleep(1)
        start_libvirtd()
        time.sleep(2)
        virsh("destroy", name)  # the guest goes down at last
        output = run.communicate(timeout=120)[0]
    finally:
        if run.poll() is None:
            run.kill()
            if not daemon_answers():
                start_libvirtd()
    result = json.loads(output.partition(" => ")[2])
    assert run.returncode == 0, output
    assert (result["changed"], result["restarted"], result["pending_restart"]) == (True, True, []), output
    assert "The connection to libvirt at URI 'qemu:///system' broke while" in output
    assert domstate(name) == "running" and "163840" in virsh("dumpxml", name)


def _module_runs(remote_tmp, module: str) -> bool:
    return subprocess.run(["pgrep", "-f", f"{remote_tmp}/.*AnsiballZ_{module}"], capture_output=True, check=False).returncode == 0
