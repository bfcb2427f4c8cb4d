"""virt_power's waiting, timeouts, check mode, out-of-band changes and errors on
real QEMU guests, driven by ad-hoc commands as an operator would."""

from __future__ import annotations

import subprocess
import threading
import time

from virt_harness import ENV, ROOT, URI, Adhoc, domstate, guest_tool, virsh


def domid(name: str) -> str:
    return virsh("domid", name)


def test_graceful_shutdown_waits_until_really_off(guests):
    name = guests.booted()
    run = Adhoc({"name": name, "state": "shutdown"})
    # Read right after the command returned: the module waited for "shut off".
    assert domstate(name) == "shut off"
    assert (run["changed"], run["state"], run["previous_state"], run["reason"]) == (True, "shutoff", "running", "shutdown")
    assert run["actions"] == ["shutdown"] and run["forced"] is False
    assert run["id"] is None and run["name"] == name
    again = Adhoc({"name": name, "state": "stopped"})
    assert (again["changed"], again["actions"]) == (False, [])


def test_shutdown_of_a_guest_still_booting_is_retried(guests):
    name = guests.define()
    virsh("start", name)  # no waiting: the guest cannot hear ACPI for about 2 s
    run = Adhoc({"name": name, "state": "shutdown", "retry_interval": 1, "timeout": 30})
    assert run["state"] == "shutoff" and domstate(name) == "shut off"
    assert set(run["actions"]) == {"shutdown"}


def test_stubborn_guest_with_on_timeout_fail(guests):
    name = guests.booted("stubborn")
    before = domid(name)
    timeout = 4
    run = Adhoc({"name": name, "state": "shutdown", "timeout": timeout, "retry_interval": 1.5})
    assert run.failed
    assert run.wall <= timeout + 2, f"failed after {run.wall:.1f} s"
    assert timeout <= run["elapsed"] < timeout + 1
    msg = run["msg"]
    assert f"did not finish a graceful shutdown within timeout={timeout} s" in msg
    assert "sent: shutdown, shutdown, shutdown" in msg and "it is now running" in msg and "on_timeout=force" in msg
    assert run["actions"] == ["shutdown"] * 3 and run["state"] == "running"
    # Untouched: still running, same QEMU process.
    assert domstate(name) == "running" and domid(name) == before


def test_stubborn_guest_with_on_timeout_force(guests):
    name = guests.booted("stubborn")
    run = Adhoc({"name": name, "state": "shutdown", "timeout": 3, "retry_interval": 1, "on_timeout": "force"})
    assert run["forced"] is True and run["changed"] is True
    assert run["state"] == "shutoff" and run["reason"] == "destroyed" and domstate(name) == "shut off"
    assert run["actions"][-1] == "destroy" and set(run["actions"][:-1]) == {"shutdown"}
    assert len(run["actions"]) >= 3


def test_stubborn_guest_restart_forced_by_reset(guests):
    name = guests.booted("stubborn")
    before = domid(name)
    run = Adhoc({"name": name, "state": "restarted", "timeout": 2, "retry_interval": 0, "on_timeout": "force"})
    assert run["actions"] == ["reboot", "reset"] and run["forced"] is True
    assert run["state"] == "running" and domid(name) == before
    guests.wait_ready(name, count=2)  # booted a second time


def test_restart_waits_for_the_reboot(guests):
    name = guests.booted()
    run = Adhoc({"name": name, "state": "restarted"})
    assert (run["changed"], run["actions"], run["state"], run["forced"]) == (True, ["reboot"], "running", False)
    guests.wait_ready(name, count=2)


def test_check_mode_changes_nothing(guests):
    name = guests.booted()
    before = domid(name)
    for state, actions in (("shutdown", ["shutdown"]), ("paused", ["suspend"]), ("saved", ["managedsave"]),
                           ("restarted", ["reboot"]), ("reset", ["reset"]), ("destroyed", ["destroy"])):
        run = Adhoc({"name": name, "state": state}, check=True)
        assert (run["changed"], run["actions"], run["state"]) == (True, actions, "running"), state
    assert domstate(name) == "running" and domid(name) == before
    noop = Adhoc({"name": name, "state": "running"}, check=True)
    assert (noop["changed"], noop["actions"]) == (False, [])


def test_out_of_band_shutdown_then_running_starts_it_again(guests):
    name = guests.booted()
    assert Adhoc({"name": name, "state": "running"})["changed"] is False
    virsh("shutdown", name)
    deadline = time.monotonic() + 30
    while domstate(name) != "shut off" and time.monotonic() < deadline:
        time.sleep(0.2)
    run = Adhoc({"name": name, "state": "running"})
    assert (run["changed"], run["previous_state"], run["actions"], run["state"]) == (True, "shutoff", ["start"], "running")
    assert domstate(name) == "running"


def test_ad_hoc_lifecycle(guests):
    """The whole lifecycle as a sequence of ad-hoc commands, each one idempotent."""
    name = guests.define()
    steps = [("running", ["start"]), ("paused", ["suspend"]), ("running", ["resume"]),
             ("saved", ["managedsave"]), ("running", ["start"])]
    for state, actions in steps:
        run = Adhoc({"name": name, "state": state})
        assert (run["changed"], run["actions"], run["state"]) == (True, actions, state), state
        again = Adhoc({"name": name, "state": state})
        assert (again["changed"], again["actions"]) == (False, []), state
    # Restored from its saved image, the guest's acpid is already running.
    run = Adhoc({"name": name, "state": "shutdown"})
    assert (run["state"], domstate(name)) == ("shutoff", "shut off")


def test_uuid_and_module_defaults_uri_from_environment(guests):
    name = guests.define()
    uuid = virsh("domuuid", name)
    env = {**ENV, "LIBVIRT_DEFAULT_URI": URI}
    proc = subprocess.run(
        ["ansible", "localhost", "-m", "virtops.libvirt.virt_power", "-a", f"uuid={uuid} state=paused",
         "-e", f"ansible_python_interpreter={ENV['PATH'].split(':')[0]}/python"],
        capture_output=True, text=True, env=env, check=False, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert domstate(name) == "paused"


def test_shutdown_modes(guests):
    name = guests.booted()
    refused = Adhoc({"name": name, "state": "shutdown", "shutdown_mode": ["agent"]})
    assert refused.failed and "agent: " in refused["msg"] and "guest agent is not configured" in refused["msg"]
    assert domstate(name) == "running"
    run = Adhoc({"name": name, "state": "shutdown", "shutdown_mode": ["agent", "acpi"]})
    assert run["actions"] == ["shutdown:acpi"] and domstate(name) == "shut off"


def test_wait_false_returns_after_the_request(guests):
    name = guests.booted("stubborn")
    run = Adhoc({"name": name, "state": "shutdown", "wait": False})
    assert (run["changed"], run["actions"], run["state"]) == (True, ["shutdown"], "running")
    assert run["elapsed"] < 1


def test_transient_guest_that_vanishes_on_shutdown_counts_as_done(guests):
    name = f"{guests.prefix}transient"
    guest_tool("create", name, "--transient")
    guests.wait_ready(name)
    run = Adhoc({"name": name, "state": "shutdown"})
    assert (run["changed"], run["state"], run["reason"]) == (True, "shutoff", "transient domain removed")
    assert name not in virsh("list", "--all", "--name")


def test_domain_vanishing_while_waited_for_is_an_error(guests):
    name = guests.booted("stubborn")

    def vanish():
        # Once the module runs, give it a second to send its request and wait.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and subprocess.run(
                ["pgrep", "-f", "AnsiballZ_virt_power"], capture_output=True, check=False).returncode:
            time.sleep(0.05)
        time.sleep(1)
        virsh("undefine", name)
        virsh("destroy", name)

    remover = threading.Thread(target=vanish)
    remover.start()
    run = Adhoc({"name": name, "state": "shutdown", "timeout": 30})
    remover.join()
    assert run.failed and f"Domain '{name}' vanished" in run["msg"]
    assert run.wall < 15


def test_unknown_domain_names_the_uri():
    run = Adhoc({"name": "it-no-such-domain", "state": "running"})
    assert run.failed
    assert run["msg"].startswith(f"No domain named 'it-no-such-domain' at URI '{URI}'")


def test_unreachable_uri():
    run = Adhoc({"uri": "qemu+unix:///system?socket=/run/virtops-nowhere.sock", "name": "x", "state": "running"})
    assert run.failed and "Cannot connect to libvirt at URI" in run["msg"] and "virtops-nowhere.sock" in run["msg"]
