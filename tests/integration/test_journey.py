"""The journey users make, on two real Debian guests (tests/testbed/build_image.sh):
image -> VMs made by the role virtops.libvirt.vm -> they boot -> the inventory plugin
finds them with ansible_host -> Ansible connects into them over ssh and a role runs
inside -> a re-run changes nothing -> a rolling restart that waits until Ansible can
log in again -> a shutdown through the guest agent -> the role removes them and
leaves the base image as it was.

Test-bed plumbing: the guests' network lives in the network namespace `virtops`,
so ssh reaches them through `ip netns exec virtops nc %h %p` as its ProxyCommand
(tests/testbed/image_vars.yml). The steps run in file order and share the VMs.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from fleet_harness import PlaybookRun, ansible_inventory, ensure_network, inventory_file
from virt_harness import ENV, ROOT, domstate, virsh
from vm_harness import IMAGE, POOLS, VARS, vm_play

VMS = ["jny-web1", "jny-web2"]
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
    assert IMAGE.exists(), f"{IMAGE} is missing: run `make setup` (tests/testbed/build_image.sh builds it)"
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
    PlaybookRun(str(work / "site.yml"), "localhost,", extra={"journey_state": "absent"})
    for name in VMS:
        virsh("destroy", name, check=False)
        virsh("undefine", name, check=False)
    FIGURES["whole journey (s)"] = time.monotonic() - started


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
    run = PlaybookRun("restart_rolling", journey["inventory"], limit="jny-*", extra=extra).assert_ok()
    FIGURES["rolling restart of 2 VMs (s)"] = run.wall
    for name in VMS:
        assert "restart_wait_for met" in run.line_of(name), run.summary


def test_a_shutdown_through_the_guest_agent(journey):
    cmd = [
        "ansible",
        "localhost",
        "-m",
        "virtops.libvirt.virt_power",
        "-e",
        f"ansible_python_interpreter={sys.executable}",
        "-a",
        f"name={VMS[1]} state=shutdown shutdown_mode=agent timeout=120",
    ]
    started = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=ENV, check=False, cwd=ROOT)
    FIGURES["agent shutdown, request to shut off (s)"] = time.monotonic() - started
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert '"shutdown:agent"' in proc.stdout and '"forced": false' in proc.stdout, proc.stdout
    assert domstate(VMS[1]) == "shut off"


def test_absent_removes_what_the_role_made_and_leaves_the_base_image(journey):
    _site(journey, extra={"journey_state": "absent"}).assert_ok()
    for name in VMS:
        assert virsh("dominfo", name, check=False) == "", f"{name} is still defined"
    volumes = virsh("vol-list", "virtops-vms")
    assert not any(name in volumes for name in VMS), volumes
    assert _sha256(IMAGE) == journey["base"]
    again = _site(journey, extra={"journey_state": "absent"}).assert_ok()
    assert _recap(again.output)["localhost"]["changed"] == 0, again.output
