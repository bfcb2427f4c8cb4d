"""virt_domain's kubectl-style apply on the real QEMU driver: devices added out of
band are kept (and removed only when asked), devices are matched by identity, a
live-only device is not lost by a restart unless forced, a one-line change is a
one-line diff, domains defined outside Ansible are adopted, check mode runs the
UUID pre-flight, a pending change is warned about, and concurrent runs converge."""

from __future__ import annotations

import difflib
import re
import shutil
import tempfile
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from lxml import etree
from test_virt_domain import adhoc, guest_xml, no_traceback
from virt_harness import domstate, virsh

APPLIED_NS = "https://virtops.dev/xmlns/libvirt/applied/1"
MEMORY_128 = "<memory unit='MiB'>128</memory>"


@pytest.fixture
def name(guests):
    """A fresh test-bed domain name (removed afterwards by the guests fixture)."""
    guests.count += 1
    return f"{guests.prefix}a{guests.count}"


@pytest.fixture
def disk_dir(guests):
    """A folder for disk files that QEMU (user libvirt-qemu) can reach; removed after
    this test's guests are gone."""
    path = Path(tempfile.mkdtemp(prefix="it-apply-", dir="/var/lib/virtops"))
    path.chmod(0o755)
    yield path
    guests.cleanup()
    shutil.rmtree(path, ignore_errors=True)


def apply(name: str, xml: str, *flags: str, **options) -> dict:
    """One ad-hoc virt_domain run; its result, with the whole output as result['output']."""
    result, output = adhoc("virt_domain", {"name": name, "xml": xml, **options}, *flags)
    assert "Traceback" not in output, output
    result["output"] = output
    return result


def with_memory(xml: str, mib: int) -> str:
    assert MEMORY_128 in xml
    return xml.replace(MEMORY_128, f"<memory unit='MiB'>{mib}</memory>")


def make_disk(directory: Path, file_name: str = "data.raw") -> Path:
    """A small sparse raw disk image (not a storage volume)."""
    path = directory / file_name
    with open(path, "wb") as handle:
        handle.truncate(4 * 1024 * 1024)
    path.chmod(0o644)
    return path


def disk_xml(path: Path, dev: str = "vdb") -> str:
    return f"<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='{path}'/><target dev='{dev}' bus='virtio'/></disk>"


def attach(name: str, device: str, where: str, tmp_path: Path) -> None:
    """virsh attach-device with --config (the persistent definition) or --live (the running domain only)."""
    path = tmp_path / f"device-{uuid.uuid4().hex[:6]}.xml"
    path.write_text(device)
    virsh("attach-device", name, str(path), where)


def disk_targets(xml: str) -> list[str]:
    return [target.get("dev") for target in etree.fromstring(xml.encode()).iterfind("devices/disk/target")]


def nics(xml: str) -> list[tuple[str, str]]:
    """(MAC, model) of each NIC, in order."""
    root = etree.fromstring(xml.encode())
    return [(nic.find("mac").get("address"), nic.find("model").get("type")) for nic in root.iterfind("devices/interface")]


def printed_diff(output: str) -> list[str]:
    """The changed lines (+/-) of the diff the callback printed (what a user sees with --diff)."""
    assert "--- before" in output and "+++ after" in output, output
    diff = output[output.index("--- before") : output.index("localhost | ")]
    return [line for line in diff.splitlines() if line.startswith(("+", "-")) and not line.startswith(("---", "+++"))]


def without_record(xml: str) -> bytes:
    """A definition in canonical form (blank text left out) without virt_domain's applied record."""
    root = etree.fromstring(xml.encode(), etree.XMLParser(remove_blank_text=True))
    for element in root.iterfind(f"metadata/{{{APPLIED_NS}}}applied"):
        element.getparent().remove(element)
    return etree.tostring(root, method="c14n")


def started(name: str, guests, ready: bool = False) -> str:
    """Start a defined test guest with virsh; wait for its ACPI handler when ``ready``. Its domain id."""
    virsh("start", name)
    if ready:
        guests.wait_ready(name)
    return virsh("domid", name)


# -- 1. a device attached out of band ---------------------------------------------------
def test_a_disk_attached_out_of_band_is_kept_until_unowned_remove(name, disk_dir, tmp_path):
    xml = guest_xml(name)
    assert apply(name, xml)["changed"]
    disk = make_disk(disk_dir)
    attach(name, disk_xml(disk), "--config", tmp_path)
    assert disk_targets(virsh("dumpxml", "--inactive", name)) == ["vdb"]

    again = apply(name, xml)
    assert again["changed"] is False and again["failed"] is False, again["output"]
    not_owned = [line for line in again["differences"] if "not owned, kept" in line]
    assert len(not_owned) == 1 and "dev=vdb" in not_owned[0], again["differences"]

    bigger = apply(name, with_memory(xml, 160))
    assert bigger["changed"], bigger["output"]
    assert "memory: 128 MiB -> 160 MiB" in bigger["differences"]
    assert not_owned[0] in bigger["differences"], bigger["differences"]
    inactive = virsh("dumpxml", "--inactive", name)
    assert disk_targets(inactive) == ["vdb"] and str(disk) in inactive
    assert "<memory unit='KiB'>163840</memory>" in inactive

    removed = apply(name, with_memory(xml, 160), unowned="remove")
    assert removed["changed"], removed["output"]
    assert any("dev=vdb" in line and "removed" in line for line in removed["differences"]), removed["differences"]
    assert not any("not owned, kept" in line for line in removed["differences"])
    assert disk_targets(virsh("dumpxml", "--inactive", name)) == []
    assert disk.exists() and disk.stat().st_size == 4 * 1024 * 1024  # storage is never deleted

    settled = apply(name, with_memory(xml, 160), unowned="remove")
    assert settled["changed"] is False and settled["differences"] == [], settled["output"]


def test_a_device_attached_out_of_band_is_reported_on_every_run(name, disk_dir, tmp_path):
    """The not-owned line is there "whether or not anything changes": also on a run
    after the one that recorded the device (the record's fingerprint then holds it)."""
    xml = with_memory(guest_xml(name), 160)
    assert apply(name, guest_xml(name))["changed"]
    attach(name, disk_xml(make_disk(disk_dir)), "--config", tmp_path)
    recorded = apply(name, xml)  # a change: the record now knows the disk as not owned
    assert recorded["changed"], recorded["output"]
    not_owned = [line for line in recorded["differences"] if "not owned, kept" in line]
    assert len(not_owned) == 1 and "dev=vdb" in not_owned[0], recorded["differences"]

    again = apply(name, xml)
    assert again["changed"] is False, again["output"]
    assert again["differences"] == not_owned, again["differences"]
    assert disk_targets(virsh("dumpxml", "--inactive", name)) == ["vdb"]


# -- 2. devices matched by identity -----------------------------------------------------
def test_removing_the_first_of_two_macless_nics_keeps_the_second_nics_mac(name):
    """Two NICs without <mac> (libvirt makes up both MACs), told apart by their model:
    the template drops the first one; the one left keeps the MAC it had."""
    first = "<interface type='user'><model type='e1000'/></interface>"
    second = "<interface type='user'><model type='virtio'/></interface>"
    xml = guest_xml(name)
    both = xml.replace("<devices>", f"<devices>\n    {first}\n    {second}")
    assert apply(name, both)["changed"]
    defined = nics(virsh("dumpxml", "--inactive", name))
    assert [model for _mac, model in defined] == ["e1000", "virtio"] and defined[0][0] != defined[1][0]
    assert apply(name, both)["changed"] is False  # the MACs libvirt made are not a change

    only_second = xml.replace("<devices>", f"<devices>\n    {second}")
    dropped = apply(name, only_second)
    assert dropped["changed"], dropped["output"]
    assert f"devices/interface[mac={defined[0][0]}]: removed" in dropped["differences"], dropped["differences"]
    assert nics(virsh("dumpxml", "--inactive", name)) == [defined[1]]

    again = apply(name, only_second)
    assert again["changed"] is False and again["differences"] == [], again["output"]
    assert nics(virsh("dumpxml", "--inactive", name)) == [defined[1]]


# -- 3. a device hot-plugged into the running domain only -------------------------------
def test_a_live_only_disk_is_not_pending_and_blocks_a_restart_unless_forced(name, guests, disk_dir, tmp_path):
    xml = guest_xml(name)
    assert apply(name, xml)["changed"]
    old_id = started(name, guests, ready=True)
    disk = make_disk(disk_dir)
    attach(name, disk_xml(disk), "--live", tmp_path)
    assert disk_targets(virsh("dumpxml", name)) == ["vdb"] and disk_targets(virsh("dumpxml", "--inactive", name)) == []

    unchanged = apply(name, xml)
    assert unchanged["changed"] is False and unchanged["failed"] is False, unchanged["output"]
    assert unchanged["pending_restart"] == [] and unchanged["restarted"] is False
    assert len(unchanged["live_only"]) == 1 and "vdb" in unchanged["live_only"][0], unchanged["live_only"]
    assert "runs on its previous definition" not in unchanged["output"]

    bigger = with_memory(xml, 160)
    refused = apply(name, bigger, restart="if_pending", restart_timeout=60)
    assert refused["failed"], refused["output"]
    assert "a restart would lose it" in refused["msg"] and "vdb" in refused["msg"], refused["msg"]
    assert refused["changed"] is True  # the definition was written before the refusal
    assert no_traceback(refused)
    assert domstate(name) == "running" and virsh("domid", name) == old_id
    assert disk_targets(virsh("dumpxml", name)) == ["vdb"]
    assert "<memory unit='KiB'>163840</memory>" in virsh("dumpxml", "--inactive", name)

    forced = apply(name, bigger, restart="if_pending", restart_timeout=60, force=True)
    assert forced["failed"] is False, forced["output"]
    assert forced["changed"] is True and forced["restarted"] is True
    assert forced["pending_restart"] == [] and forced["live_only"] == []
    assert domstate(name) == "running" and virsh("domid", name) != old_id
    live = virsh("dumpxml", name)
    assert disk_targets(live) == [] and "<memory unit='KiB'>163840</memory>" in live
    assert disk.exists()


# -- 4. a one-line change is a one-line diff --------------------------------------------
def test_check_diff_of_a_memory_change_shows_only_memory_lines(name):
    xml = guest_xml(name)
    assert apply(name, xml)["changed"]
    before = virsh("dumpxml", "--inactive", name)
    bigger = with_memory(xml, 160)
    expected = [
        '-  <memory unit="KiB">131072</memory>',
        '-  <currentMemory unit="KiB">131072</currentMemory>',
        '+  <memory unit="KiB">163840</memory>',
        '+  <currentMemory unit="KiB">163840</currentMemory>',
    ]

    predicted = apply(name, bigger, "--check", "--diff")
    assert predicted["changed"] and predicted["failed"] is False, predicted["output"]
    assert printed_diff(predicted["output"]) == expected, predicted["output"]
    assert predicted["differences"] == ["memory: 128 MiB -> 160 MiB", "currentMemory: 128 MiB -> 160 MiB (follows memory)"]
    assert virsh("dumpxml", "--inactive", name) == before  # check mode wrote nothing (not even a record)

    changed = apply(name, bigger, "--diff")
    assert changed["changed"], changed["output"]
    assert printed_diff(changed["output"]) == expected, changed["output"]
    assert changed["differences"] == predicted["differences"]
    after = virsh("dumpxml", "--inactive", name)
    changed_lines = [line for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0) if line.startswith(("+", "-"))]
    # libvirt's own view: the memory lines and the record (metadata) changed, nothing else
    assert [line for line in changed_lines if "virtopsapplied" not in line and not line.startswith(("---", "+++"))] == [
        "-  <memory unit='KiB'>131072</memory>",
        "-  <currentMemory unit='KiB'>131072</currentMemory>",
        "+  <memory unit='KiB'>163840</memory>",
        "+  <currentMemory unit='KiB'>163840</currentMemory>",
    ], changed_lines


# -- 5. adoption ------------------------------------------------------------------------
def test_a_domain_defined_by_virsh_is_adopted_once(name, tmp_path):
    xml = guest_xml(name)
    path = tmp_path / "guest.xml"
    path.write_text(xml)
    virsh("define", str(path))
    before = virsh("dumpxml", "--inactive", name)
    assert APPLIED_NS not in before

    adopted = apply(name, xml)
    assert (adopted["changed"], adopted["adopted"], adopted["failed"]) == (True, True, False), adopted["output"]
    assert any(line.startswith("adopted:") for line in adopted["differences"]), adopted["differences"]
    after = virsh("dumpxml", "--inactive", name)
    assert APPLIED_NS in after
    assert without_record(after) == without_record(before)  # only the record was written

    again = apply(name, xml)
    assert (again["changed"], again["adopted"]) == (False, False) and again["differences"] == [], again["output"]
    assert virsh("dumpxml", "--inactive", name) == after


# -- 6. the UUID pre-flight, in check mode too ------------------------------------------
def test_a_uuid_of_another_domain_fails_in_check_mode_and_for_real(name, guests):
    other = guests.define()
    other_uuid = virsh("domuuid", other)
    xml = guest_xml(name).replace(f"<name>{name}</name>", f"<name>{name}</name>\n  <uuid>{other_uuid}</uuid>")
    for flags in (["--check"], []):
        result = apply(name, xml, *flags)
        assert result["failed"] and result["changed"] is False, result["output"]
        assert "already has" in result["msg"] and other in result["msg"] and other_uuid in result["msg"], result["msg"]
        assert no_traceback(result)
        assert name not in virsh("list", "--all", "--name").split()
    assert virsh("domuuid", other) == other_uuid and virsh("domname", other_uuid) == other


def test_a_uuid_different_from_the_domains_fails_in_check_mode_and_for_real(name):
    xml = guest_xml(name)
    assert apply(name, xml)["changed"]
    own = virsh("domuuid", name)
    before = virsh("dumpxml", "--inactive", name)
    other_uuid = str(uuid.uuid4())
    changed = with_memory(xml, 160).replace(f"<name>{name}</name>", f"<name>{name}</name>\n  <uuid>{other_uuid}</uuid>")
    for flags in (["--check"], []):
        result = apply(name, changed, *flags)
        assert result["failed"] and result["changed"] is False, result["output"]
        assert "cannot change" in result["msg"] and own in result["msg"] and other_uuid in result["msg"], result["msg"]
        assert no_traceback(result)
    assert virsh("domuuid", name) == own and virsh("dumpxml", "--inactive", name) == before


# -- 7. a pending change is warned about ------------------------------------------------
def test_a_pending_change_of_a_running_domain_is_warned_about(name, guests):
    xml = guest_xml(name)
    assert apply(name, xml)["changed"]
    old_id = started(name, guests)
    two = xml.replace("<vcpu>1</vcpu>", "<vcpu>2</vcpu>")
    assert two != xml

    pending = apply(name, two)
    assert pending["changed"] and pending["restarted"] is False and pending["failed"] is False, pending["output"]
    assert isinstance(pending["pending_restart"], list) and pending["pending_restart"], pending["pending_restart"]
    assert any("vcpu" in line for line in pending["pending_restart"]), pending["pending_restart"]
    shown = " ".join(pending["output"].split())  # the warning may be wrapped
    assert re.search(r"\[WARNING\]: Domain '[^']+' runs on its previous definition until it next starts", shown), pending["output"]
    assert domstate(name) == "running" and virsh("domid", name) == old_id
    assert "<vcpu placement='static'>2</vcpu>" in virsh("dumpxml", "--inactive", name)
    assert "<vcpu placement='static'>1</vcpu>" in virsh("dumpxml", name)

    still = apply(name, two)
    assert still["changed"] is False and still["pending_restart"], still["output"]
    assert "runs on its previous definition" in " ".join(still["output"].split())


# -- 8. two runs at once ----------------------------------------------------------------
def test_two_concurrent_applies_converge(name):
    xml = guest_xml(name)
    assert apply(name, xml)["changed"]
    first, second = with_memory(xml, 160), with_memory(xml, 192)
    for _round in range(2):
        with ThreadPoolExecutor(2) as pool:
            runs = list(pool.map(lambda template: adhoc("virt_domain", {"name": name, "xml": template}), (first, second)))
        for result, output in runs:
            assert "Traceback" not in output and no_traceback(result), output
            assert not result["failed"] or result.get("msg"), output
        changing = 0
        for _attempt in range(3):
            settled = apply(name, second)
            assert settled["failed"] is False, settled["output"]
            if not settled["changed"]:
                break
            changing += 1
        assert settled["changed"] is False and changing <= 1, f"{changing} changing runs after the concurrent pair: {settled['output']}"
        inactive = virsh("dumpxml", "--inactive", name)
        assert "<memory unit='KiB'>196608</memory>" in inactive and inactive.count(APPLIED_NS) == 1
