"""The journey users make, on two real Debian guests (tests/testbed/build_image.sh):
image -> VMs made by the role virtops.libvirt.vm -> they boot -> the inventory plugin
finds them with ansible_host -> Ansible connects into them over ssh and a role runs
inside -> a re-run changes nothing -> a rolling restart that waits until Ansible can
log in again -> a shutdown of one through the guest agent -> the QEMU guest agent for
real: virt_power wait_for=agent starts it again and waits until its agent answers,
wait_for=ip with ip_sources=[agent], the inventory choosing ansible_host from the
agent's addresses by network; while it boots, a file written in the other,
snapshotted with its memory (virt_snapshot), changed and reverted is back -> the role
removes them and leaves the base image as it was.

Every real Debian boot costs ~45 s of TCG CPU, so the tests that need a real guest
use these two VMs rather than booting their own, and the snapshot step works in one
while the other boots (on its own core).

Test-bed plumbing: the guests' network lives in the network namespace `virtops`,
so ssh reaches them through `ip netns exec virtops nc %h %p` as its ProxyCommand
(tests/testbed/image_vars.yml). The steps run in file order and share the VMs; a
step that needs what an earlier one made fails, naming that step, when it is missing.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from fleet_harness import PlaybookRun, ansible_inventory, ensure_network, inventory_file
from test_snapshot import snapshot_names, snapshot_task
from virt_harness import ENV, ROOT, URI, Adhoc, BackgroundAdhoc, domstate, virsh
from vm_harness import IMAGE, POOLS, VARS, vm_play

VMS = ["jny-web1", "jny-web2"]
SNAPSHOT = "before-change"  # of VMS[0], taken and removed by the snapshot step
DEFAULT_NETWORK = ipaddress.ip_network("192.168.122.0/24")
AGENT_TIMEOUT = 150  # the agent answers ~45 s after a start under TCG; more on a busy machine
FIGURES: dict[str, float] = {}

INNER_ROLE = {
    # A small role run inside the guests: a file from facts, a user, a line in a config.
    "tasks/main.yml": [
        {
            "name": "Write what this host is",
            "ansible.builtin.copy": {
                "dest": "/etc/journey.txt",
                "mode": "0644",
                "content": "{{ inventory_hostname }} {{ ansible_facts.distribution }} {{ ansible_facts.distribution_major_version }}\n",
            },
        },
        {"name": "An operator account", "ansible.builtin.user": {"name": "deploy", "shell": "/bin/bash"}},
        {"name": "No DNS lookups by sshd", "ansible.builtin.lineinfile": {"path": "/etc/ssh/sshd_config", "line": "UseDNS no"}},
    ],
}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _recap(output: str) -> dict[str, dict[str, int]]:
    """PLAY RECAP as {host: {ok: n, changed: n, ...}}."""
    recap = {}
    for host, counts in re.findall(r"^(\S+)\s+: (ok=.*)$", output, re.M):
        recap[host] = {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", counts)}
    return recap


@pytest.fixture(scope="module")
def journey(tmp_path_factory):
    missing = [str(path) for path in (IMAGE, IMAGE.parent / "vmlinuz", IMAGE.parent / "initrd.img") if not path.exists()]
    assert not missing, f"the Debian test image is incomplete, {', '.join(missing)} missing: run `make setup` (tests/testbed/build_image.sh)"
    ensure_network()
    work = tmp_path_factory.mktemp("journey")
    role = work / "roles" / "journey_web"
    for name, content in INNER_ROLE.items():
        (role / name).parent.mkdir(parents=True, exist_ok=True)
        (role / name).write_text(yaml.safe_dump(content, sort_keys=False))
    plays = [
        vm_play("Make the journey's VMs from the image", VMS, "journey_state", "journey"),
        {
            "name": "Configure them from inside",
            "hosts": "journey",
            "gather_facts": False,
            "pre_tasks": [
                {"name": "Wait until ssh and Python answer", "ansible.builtin.wait_for_connection": {"timeout": 300}},
                {"name": "Gather facts", "ansible.builtin.setup": {}},
            ],
            "roles": ["journey_web"],
        },
    ]
    (work / "site.yml").write_text(yaml.safe_dump(plays, sort_keys=False))
    (work / "ssh.yml").write_text(yaml.safe_dump({"all": {"vars": _ssh_vars()}}, sort_keys=False))
    started = time.monotonic()
    PlaybookRun(str(POOLS), "localhost,").assert_ok()
    base = _sha256(IMAGE)
    yield {"work": work, "base": base}
    # A snapshot left by a failed step first: the role's virt_domain state=absent refuses a domain that has any.
    virsh("snapshot-delete", VMS[0], SNAPSHOT, check=False)
    PlaybookRun(str(work / "site.yml"), "localhost,", extra={"journey_state": "absent"})
    for name in VMS:
        virsh("destroy", name, check=False)
        virsh("undefine", name, "--snapshots-metadata", check=False)
        for volume in (f"{name}.qcow2", f"{name}-seed.iso"):
            virsh("vol-delete", volume, "--pool", "virtops-vms", check=False)
    FIGURES["whole journey (s)"] = time.monotonic() - started


def _made_by(journey, key: str, step: str):
    """What an earlier step left in ``journey``; a loud failure naming that step if it did not."""
    assert key in journey, f"{step} did not get as far as making {key!r}: this step needs it (see that test's failure)"
    return journey[key]


def _ssh_vars() -> dict:
    """The connection settings of image_vars.yml, for hosts from the inventory plugin."""
    text = VARS.read_text()
    key = re.search(r"^vm_ansible_ssh_private_key_file: (.*)$", text, re.M).group(1)
    args = yaml.safe_load(text)["vm_ansible_ssh_common_args"]
    return {"ansible_user": "root", "ansible_ssh_private_key_file": key, "ansible_ssh_common_args": args, "ansible_python_interpreter": "/usr/bin/python3"}


def _site(journey, *args: str, extra: dict | None = None) -> PlaybookRun:
    return PlaybookRun(str(journey["work"] / "site.yml"), "localhost,", extra=extra, args=args)


def test_check_mode_reports_the_vms_and_makes_nothing(journey):
    run = _site(journey, "--check").assert_ok()
    assert _recap(run.output)["localhost"]["changed"] > 0, run.output
    for name in VMS:
        assert virsh("dominfo", name, check=False) == "", f"check mode defined {name}"
    volumes = virsh("vol-list", "virtops-vms")
    assert not any(name in volumes for name in VMS), volumes


def test_the_role_makes_two_vms_that_boot_and_a_role_runs_inside(journey):
    run = _site(journey).assert_ok()
    FIGURES["provision and configure 2 VMs (s)"] = run.wall
    recap = _recap(run.output)
    assert recap["localhost"]["changed"] > 0, run.output
    for name in VMS:
        assert domstate(name) == "running"
        assert recap[name]["failed"] == 0 and recap[name]["changed"] >= 2, run.output
    first = subprocess.run(["virsh", "-c", "qemu:///system", "domifaddr", VMS[0], "--source", "lease"], capture_output=True, text=True, check=True)
    assert "192.168.122." in first.stdout


def test_a_second_run_changes_nothing(journey):
    run = _site(journey).assert_ok()
    recap = _recap(run.output)
    assert all(counts["changed"] == 0 for counts in recap.values()), run.output
    assert set(VMS) <= set(recap)


def test_check_mode_on_a_converged_journey_reports_nothing(journey):
    run = _site(journey, "--check").assert_ok()
    assert _recap(run.output)["localhost"]["changed"] == 0, run.output


def test_the_inventory_finds_them_and_ansible_connects(journey):
    inventory = inventory_file(journey["work"], "jny-", ip_sources=["lease"], set_ansible_host=True)
    data = ansible_inventory(inventory, "--list")
    hostvars = data["_meta"]["hostvars"]
    for name in VMS:
        assert re.fullmatch(r"192\.168\.122\.\d+", hostvars[name]["ansible_host"]), hostvars[name]
    journey["inventory"] = [inventory, journey["work"] / "ssh.yml"]
    sources = [arg for source in journey["inventory"] for arg in ("-i", str(source))]
    ping = subprocess.run(["ansible", "jny-*", *sources, "-m", "ansible.builtin.ping"], capture_output=True, text=True, env=ENV, check=False, cwd=ROOT)
    assert ping.returncode == 0 and ping.stdout.count('"ping": "pong"') == len(VMS), ping.stdout + ping.stderr
    cmd = ["ansible", "jny-*", *sources, "-m", "ansible.builtin.command", "-a", "cat /etc/journey.txt"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=ENV, check=False, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for name in VMS:
        assert f"{name} Debian 12" in proc.stdout


def test_a_rolling_restart_waits_until_ansible_logs_in_again(journey):
    # Both in one batch: two TCG boots side by side cost about one. The order of
    # batches and the stop at a failure are tested on tiny guests (test_fleet.py).
    extra = {"restart_wait_for": {"connection": True, "timeout": 300}, "restart_batch": 2}
    inventory = _made_by(journey, "inventory", "test_the_inventory_finds_them_and_ansible_connects")
    run = PlaybookRun("restart_rolling", inventory, limit="jny-*", extra=extra).assert_ok()
    FIGURES["rolling restart of 2 VMs (s)"] = run.wall
    for name in VMS:
        assert "restart_wait_for met" in run.line_of(name), run.summary


def test_a_shutdown_through_the_guest_agent(journey):
    assert domstate(VMS[1]) == "running"
    run = Adhoc({"name": VMS[1], "state": "shutdown", "shutdown_mode": "agent", "timeout": 120})
    FIGURES["agent shutdown, request to shut off (s)"] = run.wall
    assert run.rc == 0 and run.status == "CHANGED", run.output
    assert '"shutdown:agent"' in run.output and '"forced": false' in run.output, run.output
    assert (run["previous_state"], run["state"], run["actions"], run["forced"]) == ("running", "shutoff", ["shutdown:agent"], False)
    assert domstate(VMS[1]) == "shut off"


@pytest.fixture(scope="module")
def agent_start(journey, tmp_path_factory):
    """The second VM, which the agent shutdown step leaves shut off, started by virt_power
    wait_for=agent in the background: its boot (~45 s of TCG on one core) runs while the
    snapshot step works in the first VM. (its state before, when the run began, the run)"""
    before, started = domstate(VMS[1]), time.monotonic()
    args = {"name": VMS[1], "state": "running", "wait_for": "agent", "ip_sources": "agent", "wait_for_timeout": AGENT_TIMEOUT}
    run = BackgroundAdhoc(args, tmp_path_factory.mktemp("agent"))
    yield before, started, run
    run.thread.join(AGENT_TIMEOUT + 120)  # not left running into the removal, whatever the tests did


@pytest.mark.usefixtures("agent_start")  # the other VM boots meanwhile; the agent step below waits for it
def test_a_file_changed_after_a_snapshot_is_back_after_the_revert(journey):
    """virt_snapshot in a real Debian guest, where the file system matters: a file written,
    snapshotted with the memory of the running VM, changed and reverted is back."""
    name, inventory = VMS[0], _made_by(journey, "inventory", "test_the_inventory_finds_them_and_ansible_connects")
    on_host = {"delegate_to": "localhost", "connection": "local", "vars": {"ansible_python_interpreter": "{{ ansible_playbook_python }}"}}
    read_file = {"name": "Read the file", "ansible.builtin.slurp": {"src": "/root/snp.txt"}}
    inside = {
        "name": "Snapshot, change, revert",
        "hosts": name,
        "gather_facts": False,
        "tasks": [
            {"name": "Wait until ssh and Python answer", "ansible.builtin.wait_for_connection": {"timeout": 300}},
            {"name": "Write the file", "ansible.builtin.copy": {"dest": "/root/snp.txt", "content": "before\n", "mode": "0644"}},
            {**snapshot_task(name, SNAPSHOT, description="before the change"), **on_host, "register": "taken"},
            {"name": "Change the file", "ansible.builtin.copy": {"dest": "/root/snp.txt", "content": "after\n", "mode": "0644"}},
            {**read_file, "register": "changed_file"},
            {**snapshot_task(name, SNAPSHOT, state="reverted"), **on_host, "register": "reverted"},
            {"name": "Wait until ssh answers again", "ansible.builtin.wait_for_connection": {"timeout": 120}},
            {**read_file, "register": "reverted_file"},
            {
                "name": "The file is back",
                "ansible.builtin.assert": {
                    "that": [
                        "taken.snapshot.memory and taken.snapshot.state == 'running'",
                        "changed_file.content | b64decode == 'after\\n'",
                        "reverted.changed and reverted.domain_state == 'running'",
                        "reverted_file.content | b64decode == 'before\\n'",
                    ]
                },
            },
            {**snapshot_task(name, SNAPSHOT, state="absent"), **on_host},
        ],
    }
    (journey["work"] / "snapshot.yml").write_text(yaml.safe_dump([inside], sort_keys=False))
    run = PlaybookRun(str(journey["work"] / "snapshot.yml"), inventory).assert_ok()
    FIGURES["snapshot, change, revert in a VM (s)"] = run.wall
    assert "The file is back" in run.output
    assert snapshot_names(name) == []


def test_wait_for_agent_starts_the_vm_and_waits_until_its_agent_answers(journey, agent_start):
    before, started, background = agent_start
    assert before == "shut off", f"{VMS[1]} was {before} when the start began: test_a_shutdown_through_the_guest_agent shuts it off first"
    agent = background.result(AGENT_TIMEOUT + 120)
    ip = Adhoc({"name": VMS[1], "state": "running", "wait_for": "ip", "ip_sources": "agent", "wait_for_timeout": 60})
    FIGURES["start, agent answers (s)"] = agent["wait_for_seconds"]
    print(
        f"\n{VMS[1]}: agent answered {agent['wait_for_seconds']:.1f} s after the start ({agent['elapsed']:.1f} s in the module, "
        f"{len(agent['addresses'])} address(es) then), an agent address {time.monotonic() - started:.1f} s after the first run began"
    )
    assert agent.status == "CHANGED", agent.output
    assert (agent["actions"], agent["state"], agent["waited"]) == (["start"], "running", True)
    assert 5 < agent["wait_for_seconds"] < AGENT_TIMEOUT
    assert all(address["source"] == "agent" for address in agent["addresses"])

    assert ip.status == "SUCCESS" and ip["changed"] is False, ip.output
    assert ipaddress.ip_address(ip["ip"]) in DEFAULT_NETWORK
    first = ip["addresses"][0]
    assert (first["source"], first["interface"], first["network"], first["bridge"], first["address"]) == ("agent", "eth0", "default", "virbr0", ip["ip"])
    journey["agent_ip"] = ip["ip"]


def test_the_inventory_reads_the_agent_and_chooses_by_network(journey, tmp_path):
    address = _made_by(journey, "agent_ip", "test_wait_for_agent_starts_the_vm_and_waits_until_its_agent_answers")

    def host(**options):
        return ansible_inventory(inventory_file(tmp_path, VMS[1], uris=[URI], ip_sources=["agent"], **options), "--host", VMS[1])

    plain = host()
    assert plain["ansible_host"] == address and plain["libvirt_addresses"][0]["source"] == "agent"
    by_network = host(ansible_host_networks=["default"])
    assert by_network["ansible_host"] == address and by_network["libvirt_addresses"][0]["network"] == "default"
    elsewhere = host(ansible_host_networks=["10.255.0.0/16"])
    assert "ansible_host" not in elsewhere and elsewhere["libvirt_ips"] == plain["libvirt_ips"]


def test_absent_removes_what_the_role_made_and_leaves_the_base_image(journey):
    _site(journey, extra={"journey_state": "absent"}).assert_ok()
    for name in VMS:
        assert virsh("dominfo", name, check=False) == "", f"{name} is still defined"
    volumes = virsh("vol-list", "virtops-vms")
    assert not any(name in volumes for name in VMS), volumes
    assert _sha256(IMAGE) == journey["base"]
    again = _site(journey, extra={"journey_state": "absent"}).assert_ok()
    assert _recap(again.output)["localhost"]["changed"] == 0, again.output
