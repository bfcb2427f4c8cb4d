"""The examples of docs/ run as the docs say: docs/examples/three_vms.yml defines its
VMs from docs/examples/vm.xml.j2, and a second run changes nothing."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from virt_harness import ENV, ROOT, URI, virsh

NAMES = ["it-docs-app1", "it-docs-app2", "it-docs-db1"]


def run_example(*extra: str) -> str:
    vms = [
        {"name": NAMES[0], "memory_mib": 64, "tags": ["app"]},
        {"name": NAMES[1], "memory_mib": 64, "tags": ["app"]},
        {"name": NAMES[2], "memory_mib": 96, "vcpus": 2, "tags": ["db"]},
    ]
    cmd = [
        "ansible-playbook",
        str(ROOT / "docs" / "examples" / "three_vms.yml"),
        "-e",
        json.dumps({"vms": vms, "vm_uri": URI, "vm_domain_type_override": "qemu", "ansible_python_interpreter": sys.executable}),
        *extra,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=ENV, check=False, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def recap(output: str) -> dict[str, int]:
    line = re.search(r"localhost\s*:(.*)", output.split("PLAY RECAP")[1]).group(1)
    return {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", line)}


@pytest.fixture
def cleanup():
    yield
    for name in NAMES:
        virsh("undefine", name, check=False)


def test_one_template_n_vms(cleanup):
    assert recap(run_example("--check"))["changed"] == 1  # one looped task
    assert not set(NAMES) & set(virsh("list", "--all", "--name").split())  # check mode defined nothing
    first = run_example()
    assert recap(first)["changed"] == 1 and first.count("changed: [localhost]") == 3
    for name in NAMES:
        stored = virsh("dumpxml", "--inactive", name)
        assert "https://virtops.dev/xmlns/libvirt/applied/1" in stored and "<virtops:tag>" in stored
    assert "memory unit='KiB'>98304<" in virsh("dumpxml", "--inactive", NAMES[2])
    second = run_example("--diff")
    assert recap(second)["changed"] == 0 and second.count("ok: [localhost]") == 3
