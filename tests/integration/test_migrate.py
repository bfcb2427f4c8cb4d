"""virt_migrate on real QEMU guests between two real libvirt daemons of this machine (hv1
= qemu:///system and hv2 of start_second_daemon.sh, see hypervisors.py), as a user drives
it: ad-hoc commands and playbooks. Tiny guests (tests/testbed/guest.py: ~2 s to boot,
~1 s to migrate); every domain made here is named mig-XXXXXX-N and destroyed and
undefined on both daemons afterwards, whatever its state. What is asserted is read back
with virsh on both daemons. The figures measured are printed at the end of the run."""

from __future__ import annotations

import re
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest
from hypervisors import (
    HV1,
    HV1_FROM_HV2,
    HV2,
    Guests2,
    Pinger,
    Run,
    domain_id,
    free_mib,
    host_uuid,
    migrate,
    names_on,
    persistent_on,
    playbook,
    require_hv2,
    show_figures,
    state_on,
    virsh_on,
    where,
)

FIGURES: dict[str, str] = {}
ON_HV1 = {"hv1": "running", "hv2": None}
ON_HV2 = {"hv1": None, "hv2": "running"}


@pytest.fixture(scope="module", autouse=True)
def hv2_answers(request):
    require_hv2()
    yield
    show_figures(request, "virt_migrate", FIGURES)


@pytest.fixture
def made():
    guests = Guests2("mig")
    yield guests
    guests.cleanup()


def figures(label: str, run: Run) -> None:
    FIGURES[label] = f"duration {run['duration']} s, downtime {run['downtime_ms']} ms, {run['data_transferred']} bytes, {run['iterations']} passes"


def moved_live(run: Run, name: str, source: str, dest: str) -> None:
    """RUN moved NAME live from SOURCE to DEST, and both daemons say so."""
    assert not run.failed, run.output
    assert (run["changed"], run["action"], run["mode"], run["state"], run["name"]) == (True, "migrate", "live", "running", name), run.result
    assert state_on(dest, name) == "running", where(name)
    assert state_on(source, name) is None, where(name)  # undefined there, not merely stopped
    assert persistent_on(dest, name)
    assert run["downtime_ms"] > 0 and run["duration"] > 0 and run["data_transferred"] > 0, run.result
    assert run["host_uuid"] == host_uuid(dest) != host_uuid(source)
    assert {"source: suspended (migrated)", "destination: resumed (migrated)"} <= set(run["events"]), run["events"]
    assert run["preflight"]["problems"] == [] and run["preflight"]["memory"]["needed_mib"] >= 128


def lease_address(name: str, timeout: float = 30) -> str:
    """NAME's IPv4 address from hv1's DHCP lease."""
    deadline = time.monotonic() + timeout
    while True:
        found = re.search(r"ipv4\s+([\d.]+)/", virsh_on(HV1, "domifaddr", "--source", "lease", name))
        if found:
            return found.group(1)
        assert time.monotonic() < deadline, f"no lease for {name}"
        time.sleep(0.2)


# -- 1. live, there and back, the guest answering throughout -------------------------------------
def test_live_there_and_back_while_the_guest_answers(made):
    (name,) = made.booted(variant="net")  # waits for "dhcp bound"
    address = lease_address(name)
    pinger = Pinger(address)
    try:
        pinger.wait_replies(5)
        there = migrate(name, HV1, HV2)  # peer-to-peer, the default
        moved_live(there, name, HV1, HV2)
        pinger.wait_replies(5)
        back = migrate(name, HV2, HV1, peer_uri=HV1_FROM_HV2)
        moved_live(back, name, HV2, HV1)
        pinger.wait_replies(5)
        pings = pinger.stop()
    finally:
        pinger.kill()
    figures("live hv1->hv2 (peer-to-peer)", there)
    figures("live hv2->hv1 (peer-to-peer, peer_uri)", back)
    FIGURES["ping every 0.1 s during both"] = f"{pings['sent']} sent, {pings['lost']} lost, at most {pings['longest_gap']} in a row"
    assert pings["lost"] <= 10 and pings["longest_gap"] <= 8, pings
    # The guest still hears the ACPI power button after its journey.
    off = Run("virt_power", {"uri": HV1, "name": name, "state": "shutdown", "shutdown_mode": ["acpi"], "timeout": 60})
    assert not off.failed and off["changed"] and not off["forced"], off.output
    assert where(name) == {"hv1": "shut off", "hv2": None}


# -- 2. driven by this controller ------------------------------------------------------------------
def test_controller_driven_live_there_and_back(made):
    (name,) = made.booted()
    there = migrate(name, HV1, HV2, peer_to_peer=False)
    moved_live(there, name, HV1, HV2)
    back = migrate(name, HV2, HV1, peer_to_peer=False)
    moved_live(back, name, HV2, HV1)
    figures("live hv1->hv2 (controller-driven)", there)
    figures("live hv2->hv1 (controller-driven)", back)


# -- 3. check mode, diff, idempotency ----------------------------------------------------------------
def test_check_mode_moves_nothing_and_a_second_run_changes_nothing(made):
    (name,) = made.booted()
    first_id = domain_id(HV1, name)
    predicted = migrate(name, HV1, HV2, check=True, diff=True)
    assert (predicted["changed"], predicted["action"], predicted["mode"], predicted["state"], predicted["host"]) == (True, "migrate", "live", "running", None)
    preflight = predicted["preflight"]
    assert preflight["memory"]["needed_mib"] == 128 and preflight["memory"]["free_mib"] > 128 and preflight["problems"] == [], preflight
    assert preflight["cpu"] in ("identical", "superset") and preflight["unchecked"] == [], preflight
    assert (predicted["events"], predicted["duration"]) == ([], 0.0)
    assert f'-    "hypervisor": "{HV1}"' in predicted.before and f'+    "hypervisor": "{HV2}"' in predicted.before, predicted.before
    assert where(name) == ON_HV1 and domain_id(HV1, name) == first_id  # nothing moved
    moved = migrate(name, HV1, HV2, diff=True)
    moved_live(moved, name, HV1, HV2)
    assert f'+    "hypervisor": "{HV2}"' in moved.before
    moved_id = domain_id(HV2, name)
    for check in (True, False):
        again = migrate(name, HV1, HV2, check=check, diff=True)
        assert not again.failed, again.output
        assert (again["changed"], again["action"], again["mode"], again["state"], again["duration"]) == (False, "none", None, "running", 0.0), again.result
        assert (again["host_uuid"], again["events"], again.before.strip()) == (host_uuid(HV2), [], "")
        assert where(name) == ON_HV2 and domain_id(HV2, name) == moved_id  # the same QEMU process, not touched


# -- 4. offline -------------------------------------------------------------------------------------
def test_offline_move_of_a_shut_off_domain_both_ways(made):
    name = made.define()
    definition = virsh_on(HV1, "dumpxml", "--inactive", name)
    for source, dest, peer_to_peer in ((HV1, HV2, True), (HV2, HV1, False)):
        run = migrate(name, source, dest, peer_to_peer=peer_to_peer, **({"peer_uri": HV1_FROM_HV2} if dest == HV1 and peer_to_peer else {}))
        assert not run.failed, run.output
        assert (run["changed"], run["action"], run["mode"], run["state"], run["downtime_ms"]) == (True, "migrate", "offline", "shutoff", None), run.result
        assert state_on(dest, name) == "shut off" and persistent_on(dest, name)
        assert state_on(source, name) is None
        assert run["host_uuid"] == host_uuid(dest)
        FIGURES[f"offline {'peer-to-peer' if peer_to_peer else 'controller-driven'}"] = f"duration {run['duration']} s"
    assert virsh_on(HV1, "dumpxml", "--inactive", name) == definition  # the same definition came back


# -- 5. refused, nothing moved ---------------------------------------------------------------------------
def refused(name: str, options: dict, source: str = HV1, dest: str = HV2) -> dict:
    """A playbook task: virt_migrate that must fail."""
    args = {"name": name, "uri": source, "dest_uri": dest, "migrate_uri": "tcp://127.0.0.1", **options}
    return {"name": f"virt_migrate {name} {sorted(options)}", "virtops.libvirt.virt_migrate": args, "expect_failure": True}


def test_no_room_on_the_destination_is_refused(made, tmp_path):
    (small,) = made.booted()
    # Both daemons share this machine's memory, and the check counts what the host has available (free,
    # buffers, page cache): a guest bigger than that cannot even start on hv1 (QEMU: "cannot set up guest
    # memory 'pc.ram': Cannot allocate memory"). So the lack of room is made with memory_headroom_mib.
    (headroom,) = playbook([refused(small, {"memory_headroom_mib": 1024 * 1024})], tmp_path)
    assert (
        headroom["failed"] and f"Domain {small} cannot move to '{HV2}': no room: the domain needs 128 MiB plus memory_headroom_mib=1048576" in (headroom["msg"])
    )
    assert headroom["msg"].endswith("Nothing was moved.") and (headroom["changed"], headroom["action"]) == (False, "none"), headroom
    memory = headroom["preflight"]["memory"]
    assert memory["needed_mib"] == 128 and abs(memory["free_mib"] - free_mib(HV2)) < 2048, memory  # the host's available memory
    assert memory["free_mib"] < memory["needed_mib"] + memory["headroom_mib"]
    assert where(small) == ON_HV1 and names_on(HV2, made.prefix) == []


def test_a_network_the_destination_lacks_is_refused_naming_it(made, tmp_path):
    network = made.network_on_hv1_only()
    (name,) = made.booted(variant="net", edit=lambda xml: xml.replace("<source network='default'/>", f"<source network='{network}'/>"), ready="booted")
    # Running, its live XML shows the NIC as type='bridge' (the network's forward mode):
    # the check must still see the network.
    assert "<interface type='bridge'>" in virsh_on(HV1, "dumpxml", name)
    (result,) = playbook([refused(name, {})], tmp_path)
    assert result["failed"] and f"network '{network}' does not exist on the destination" in result["msg"], result["msg"]
    assert result["msg"].endswith("Nothing was moved.") and result["preflight"]["problems"], result
    assert where(name) == ON_HV1 and names_on(HV2, made.prefix) == []
    assert network not in virsh_on(HV2, "net-list", "--all", "--name").split()


def test_mistakes_are_refused_before_anything_moves(made, tmp_path):
    (name,) = made.booted()
    nowhere = f"{made.prefix}nowhere"
    missing = "qemu+unix:///system?socket=/var/lib/virtops/no-such-daemon/libvirt-sock"
    results = playbook(
        [
            refused(name, {}, dest=HV1),  # the same hypervisor, the same URI
            refused(name, {}, dest="qemu+unix:///system?socket=/run/libvirt/libvirt-sock"),  # the same, another URI
            refused(nowhere, {}),
            # copy_storage without copy_disks: refused before connecting (the URIs lead nowhere)
            refused(name, {"copy_storage": "all"}, source=missing, dest=missing),
        ],
        tmp_path,
    )
    same, same_socket, unknown, no_disks = results
    uuid1 = host_uuid(HV1)
    assert f"uri '{HV1}' and dest_uri '{HV1}' reach the same hypervisor (host UUID {uuid1})" in same["msg"], same["msg"]
    assert f"reach the same hypervisor (host UUID {uuid1})" in same_socket["msg"], same_socket["msg"]
    assert f"No domain {nowhere} at '{HV1}' or '{HV2}'. Check the name" in unknown["msg"], unknown["msg"]
    assert "Option copy_storage=all needs copy_disks" in no_disks["msg"] and "Cannot connect" not in no_disks["msg"], no_disks["msg"]
    assert all(result["failed"] and not result["changed"] for result in results)
    assert where(name) == ON_HV1 and names_on(HV2, made.prefix) == []


# -- 6. the timeout and its action ---------------------------------------------------------------------
def test_timeout_actions(made):
    (name,) = made.booted()
    first_id = domain_id(HV1, name)
    aborted = migrate(name, HV1, HV2, bandwidth=1, timeout=1, timeout_action="abort")
    assert aborted.failed and aborted["timeout_action"] == "abort", aborted.output
    assert f"The migration of {name} did not finish within 1 s (option timeout) and was aborted. It is still on the source, running" in aborted["msg"]
    assert aborted["changed"] is False and aborted["state"] == "running"
    assert where(name) == ON_HV1 and domain_id(HV1, name) == first_id  # running, not paused; the same QEMU
    assert "None" in virsh_on(HV1, "domjobinfo", name)  # no job left behind

    suspended = migrate(name, HV1, HV2, bandwidth=30, timeout=1, timeout_action="suspend")
    moved_live(suspended, name, HV1, HV2)
    assert suspended["timeout_action"] == "suspend" and suspended["duration"] > 1, suspended.result
    assert where(name) == ON_HV2  # running, not paused
    figures("live, suspended after 1 s at 30 MiB/s", suspended)

    # Post-copy, back: QEMU needs userfaultfd for it on the destination.
    postcopy = migrate(name, HV2, HV1, peer_uri=HV1_FROM_HV2, bandwidth=30, timeout=1, timeout_action="postcopy")
    if postcopy.failed:
        # QEMU 7.2 runs as an unprivileged user here and vm.unprivileged_userfaultfd is 0:
        # it refuses the post-copy capability when the migration starts.
        assert "Postcopy is not supported" in postcopy["msg"] and "It is still on the source, running" in postcopy["msg"], postcopy["msg"]
        assert postcopy["changed"] is False and where(name) == ON_HV2
        FIGURES["post-copy"] = f"refused at the start: {postcopy['msg']}"
    else:
        moved_live(postcopy, name, HV2, HV1)
        assert postcopy["timeout_action"] == "postcopy" and where(name) == ON_HV1
        figures("live, post-copy after 1 s at 30 MiB/s", postcopy)
    off = Run("virt_power", {"uri": HV1 if where(name)["hv1"] else HV2, "name": name, "state": "shutdown", "shutdown_mode": ["acpi"], "timeout": 60})
    assert not off.failed and not off["forced"], off.output  # the guest is fine wherever it is


# -- 7. a daemon that does not answer, a domain that vanishes ------------------------------------------------
def test_a_destination_that_does_not_answer(made):
    (name,) = made.booted()
    missing = migrate(name, HV1, "qemu+unix:///system?socket=/var/lib/virtops/no-such-daemon/libvirt-sock", connect_timeout=2)
    assert missing.failed and "Destination (dest_uri): Cannot connect to libvirt at URI" in missing["msg"], missing["msg"]
    assert "No such file or directory" in missing["msg"] and missing["msg"].endswith("Nothing was moved.")
    # A socket that accepts and never answers: connect_timeout bounds the wait.
    with tempfile.TemporaryDirectory(prefix="mig-mute-") as folder:
        path = Path(folder) / "libvirt-sock"
        mute = socket.socket(socket.AF_UNIX)
        mute.bind(str(path))
        mute.listen(8)
        try:
            silent = migrate(name, HV1, f"qemu+unix:///system?socket={path}", connect_timeout=2)
        finally:
            mute.close()
    assert silent.failed and "did not answer within 2 s (option connect_timeout)" in silent["msg"], silent["msg"]
    assert silent.wall < 20, silent.wall
    assert where(name) == ON_HV1 and names_on(HV2, made.prefix) == []


def test_a_domain_that_vanishes_while_it_moves(made):
    name = made.transient()
    outcome: dict[str, Run] = {}
    mover = threading.Thread(target=lambda: outcome.setdefault("run", migrate(name, HV1, HV2, bandwidth=1, timeout=0)))
    mover.start()
    try:
        deadline = time.monotonic() + 60
        while "Outgoing migration" not in virsh_on(HV1, "domjobinfo", name, check=False):
            assert mover.is_alive() and time.monotonic() < deadline, "the migration did not start"
            time.sleep(0.05)
        virsh_on(HV1, "destroy", name)  # a transient domain: gone
    finally:
        mover.join(120)
    vanished = outcome["run"]
    # libvirt says one or the other, by when the guest stopped during the migration
    said = (f"cannot migrate it: operation failed: domain '{name}' is not running", f"Domain '{name}' at URI '{HV1}' vanished while trying to migrate it")
    assert vanished.failed and any(text in vanished["msg"] for text in said), vanished.output
    assert "Check where it is with virsh list --all on both hypervisors." in vanished["msg"]
    assert vanished["changed"] is False and where(name) == {"hv1": None, "hv2": None}
    assert subprocess.run(["pgrep", "-f", f"guest=[^ ]*{name}"], capture_output=True, check=False).returncode == 1  # no QEMU left


# -- 8. storage the destination does not share, copied while the guest runs ----------------------
LOCAL_DIR = "/var/lib/libvirt/images"  # hv2 has a private /var/lib/libvirt: the same path is another folder there


@pytest.fixture
def local_pool(made):
    """A dir pool on hv2 at LOCAL_DIR (hv2's own folder), removed with what it holds afterwards."""
    name = f"{made.prefix}local"
    xml = f"<pool type='dir'><name>{name}</name><target><path>{LOCAL_DIR}</path></target></pool>"
    subprocess.run(["virsh", "-q", "-c", HV2, "pool-define", "/dev/stdin"], input=xml, text=True, check=True, capture_output=True)
    virsh_on(HV2, "pool-build", name)
    virsh_on(HV2, "pool-start", name)
    Path(LOCAL_DIR).mkdir(parents=True, exist_ok=True)
    made_files: list[str] = []
    yield name, made_files
    for path in made_files:
        virsh_on(HV2, "vol-delete", path, check=False)
        Path(path).unlink(missing_ok=True)
    virsh_on(HV2, "pool-destroy", name, check=False)
    virsh_on(HV2, "pool-undefine", name, check=False)


def test_copy_storage_copies_the_named_disk_to_storage_the_destination_does_not_share(made, local_pool):
    pool, made_files = local_pool
    disk = f"{LOCAL_DIR}/{made.prefix}disk.qcow2"
    made_files.append(disk)
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", disk, "16M"], check=True)
    subprocess.run(["qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 1M 64k", disk], check=True, capture_output=True)
    attach = f"<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='{disk}'/><target dev='vda' bus='virtio'/></disk></devices>"
    (name,) = made.booted(edit=lambda xml: xml.replace("</devices>", attach))
    # Without copy_storage the pre-flight check finds the folder in hv2's pool, without the file: refused, nothing moved.
    refused = migrate(name, HV1, HV2)
    assert refused.failed and f"disk vda: {disk} is not on the destination" in refused["msg"], refused.output
    assert where(name) == ON_HV1
    moved = migrate(name, HV1, HV2, copy_storage="all", copy_disks=["vda"])
    assert not moved.failed, moved.output
    assert (moved["changed"], moved["mode"], moved["state"]) == (True, "live", "running"), moved.result
    assert where(name) == ON_HV2
    # hv2's copy is a file of its own (in its private folder), holding what the guest's disk held.
    copy = Path("/var/lib/virtops/hv2/lib/images") / Path(disk).name
    assert copy.exists() and copy.stat().st_ino != Path(disk).stat().st_ino
    check = subprocess.run(["qemu-io", "-r", "-U", "-f", "qcow2", "-c", "read -P 0x5a 1M 64k", str(copy)], capture_output=True, text=True, check=False)
    assert check.returncode == 0 and "Pattern verification failed" not in check.stdout, check.stdout + check.stderr
    assert Path(disk).exists()  # the source's disk is never deleted
    FIGURES["copy_storage=all, 16 MiB qcow2 disk"] = f"duration {moved['duration']} s, downtime {moved['downtime_ms']} ms"
