"""The action plugins of virt_power and virt_domain on real guests: the line said
before a long wait (at default verbosity, with the timeout the module will use),
and everything a module task does still working through them: module_defaults
(the collection's action group and the module's own), check mode, delegate_to
from an inventory host that is never contacted, async with and without polling."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml
from virt_harness import ENV, ROOT, domstate, guest_tool

# The same daemon, by another spelling of its URI: proves the group's module_defaults reached the module.
GROUP_URI = "qemu+unix:///system?socket=/run/libvirt/libvirt-sock"
# An inventory host whose connection would fail at once (loopback, closed port): the tasks
# delegated to localhost must never use it.
INVENTORY = "hv ansible_host=127.0.0.1 ansible_port=1 ansible_connection=ssh ansible_user=nobody\n"


def run_play(tasks: list[dict], tmp_path: Path, module_defaults: dict) -> tuple[dict, str]:
    """Run tasks on host hv, each delegated to localhost; (registered results by name, output)."""
    out = tmp_path / "results.json"
    names = [task["register"] for task in tasks if "register" in task]
    names += [inner["register"] for task in tasks for inner in task.get("block", ())]
    play = [
        {
            "name": "Action plugin test play",
            "hosts": "hv",
            "gather_facts": False,
            "module_defaults": module_defaults,
            "tasks": [
                *tasks,
                {
                    "name": "Save the results",
                    "delegate_to": "localhost",
                    "ansible.builtin.copy": {"content": "{{ {" + ", ".join(f"'{n}': {n}" for n in names) + "} | to_json }}", "dest": str(out), "mode": "0644"},
                },
            ],
        }
    ]
    (tmp_path / "inventory").write_text(INVENTORY)
    (tmp_path / "play.yml").write_text(yaml.safe_dump(play, sort_keys=False))
    cmd = ["ansible-playbook", "-i", str(tmp_path / "inventory"), str(tmp_path / "play.yml"), "-e", f"ansible_python_interpreter={sys.executable}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=ENV, check=False, cwd=ROOT)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    return json.loads(out.read_text()), output


def power(name: str, register: str, **options) -> dict:
    return {"name": f"{register} {name}", "virtops.libvirt.virt_power": {"name": name, **options}, "delegate_to": "localhost", "register": register}


def test_virt_power_through_its_action_plugin(guests, tmp_path):
    name = guests.booted("stubborn")
    tasks = [
        {**power(name, "predicted", state="restarted"), "check_mode": True},
        power(name, "stopped", state="shutdown"),
        {**power(name, "started", state="running"), "async": 120, "poll": 1},
        {**power(name, "job", state="restarted", timeout=2), "async": 120, "poll": 0},
        {
            "name": "Wait for the restart",
            "ansible.builtin.async_status": {"jid": "{{ job.ansible_job_id }}"},
            "delegate_to": "localhost",
            "register": "restarted",
            "until": "restarted.finished",
            "retries": 120,
            "delay": 1,
        },
        {**power("it-no-such-domain", "missing", state="running"), "ignore_errors": True},
    ]
    defaults = {"group/virtops.libvirt.libvirt": {"uri": GROUP_URI}, "virtops.libvirt.virt_power": {"timeout": 3, "on_timeout": "force"}}
    results, output = run_play(tasks, tmp_path, defaults)

    # The line before the one wait that blocks the play, with the timeout from module_defaults:
    line = f"[hv] virt_power: waiting at most 3 s for domain '{name}' to shut down, then power it off\n"
    assert output.count("virt_power: waiting at most") == 1, output  # none in check mode, none for async poll=0
    task = output.index(f"TASK [stopped {name}]")
    assert task < output.index(line) < output.index("changed: [hv -> localhost]", task)

    predicted, stopped = results["predicted"], results["stopped"]
    assert (predicted["changed"], predicted["actions"], predicted["state"]) == (True, ["reboot"], "running")
    # The module got module_defaults: it gave up after 3 s and forced the power-off.
    assert (stopped["forced"], stopped["actions"][-1], stopped["state"]) == (True, "destroy", "shutoff")
    assert 3 <= stopped["elapsed"] < 5
    assert f"[WARNING]: Domain '{name}' was powered off (on_timeout=force)" in output
    assert (results["started"]["actions"], results["started"]["state"]) == (["start"], "running")
    assert (results["restarted"]["actions"], results["restarted"]["forced"]) == (["reboot", "reset"], True)
    # ... and the group's: the URI it names is the one module_defaults set.
    assert f"No domain named 'it-no-such-domain' at URI '{GROUP_URI}'" in results["missing"]["msg"]
    assert domstate(name) == "running"


def test_virt_domain_announces_a_restart_if_pending(guests, tmp_path):
    guests.count += 1
    name = f"{guests.prefix}d{guests.count}"
    xml = guest_tool("xml", name)
    bigger = xml.replace("<memory unit='MiB'>128</memory>", "<memory unit='MiB'>160</memory>")

    def domain(register: str, **options) -> dict:
        return {"name": f"{register} {name}", "virtops.libvirt.virt_domain": {"name": name, **options}, "delegate_to": "localhost", "register": register}

    tasks = [
        domain("defined", xml=xml),
        power(name, "started", state="running"),
        {**domain("predicted", xml=bigger, restart="if_pending"), "check_mode": True},
        domain("restarted", xml=bigger, restart="if_pending"),
        {
            "name": "A default the module refuses reaches the module",
            "module_defaults": {"virtops.libvirt.virt_domain": {"restart_timeout": "nan"}},
            "block": [{**domain("refused", xml=bigger, restart="if_pending"), "ignore_errors": True}],
        },
    ]
    defaults = {"group/virtops.libvirt.libvirt": {"uri": GROUP_URI}, "virtops.libvirt.virt_domain": {"restart_timeout": 50}}
    results, output = run_play(tasks, tmp_path, defaults)
    line = f"[hv] virt_domain: if domain '{name}' has a change pending, it is restarted: waiting at most 50 s for it to shut down\n"
    assert output.count(line) == 1, output  # the real run only: not in check mode, not for a refused timeout
    assert results["predicted"]["restarted"] is True and results["restarted"]["restarted"] is True
    assert results["refused"]["failed"] and "Option restart_timeout must be a number of seconds" in results["refused"]["msg"]
    assert domstate(name) == "running"
