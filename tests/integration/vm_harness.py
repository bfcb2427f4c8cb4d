"""Real Debian VMs for the integration tests, made as users make them: a play of the
role virtops.libvirt.vm with the test bed's variables (tests/testbed/image_vars.yml:
TCG, the image's own kernel, ssh through the network namespace `virtops`), after
tests/testbed/pools.yml has made the storage pools."""

from __future__ import annotations

from pathlib import Path

from virt_harness import ROOT

IMAGE = Path("/var/lib/virtops/image/debian-12.qcow2")
VARS = ROOT / "tests" / "testbed" / "image_vars.yml"
POOLS = ROOT / "tests" / "testbed" / "pools.yml"


def vm_play(title: str, names: list[str], state_var: str, group: str) -> dict:
    """A play on localhost making ``names`` with the role (their vm_state is the extra
    var ``state_var``, default present) and adding them to the inventory group ``group``."""
    return {
        "name": title,
        "hosts": "localhost",
        "connection": "local",
        "gather_facts": False,
        "vars_files": [str(VARS)],
        "vars": {"ansible_python_interpreter": "{{ ansible_playbook_python }}"},
        "roles": [
            {
                "role": "virtops.libvirt.vm",
                "vars": {
                    "vm_list": [{"name": name} for name in names],
                    "vm_state": "{{ " + state_var + " | default('present') }}",
                    "vm_add_host_groups": [group],
                },
            }
        ],
    }
