"""virt_power's waiting, timeouts, check mode, out-of-band changes and errors on
real QEMU guests, driven by ad-hoc commands as an operator would: other clients
acting at the same time, guests paused or powering off while waited for, and the
libvirt daemon restarting mid-wait."""

from __future__ import annotations

import subprocess
import threading
import time

import libvirt
import pytest
from virt_harness import (
    ENV,
    ROOT,
    URI,
    Adhoc,
    BackgroundAdhoc,
    daemon_answers,
    domstate,
    guest_tool,
    redefine,
    start_libvirtd,
    stop_libvirtd,
    virsh,
)


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
    # ansible's own start-up takes 2-4 s on a busy 2-core machine
    assert run.wall <= timeout + 5, f"failed after {run.wall:.1f} s"
    assert timeout <= run["elapsed"] < timeout + 1
    msg = run["msg"]
    assert f"did not finish a graceful shutdown within timeout={timeout} s" in msg
    assert "sent: shutdown, shutdown, shutdown" in msg and "it is now running" in msg and "on_timeout=force" in msg
    assert run["actions"] == ["shutdown"] * 3 and run["state"] == "running"
    # A failed run returns what a successful one does.
    assert (run["previous_state"], run["id"], run["changed"]) == ("running", int(before), True)
    # Untouched: still running, same QEMU process.
    assert domstate(name) == "running" and domid(name) == before


def test_stubborn_guest_with_on_timeout_force(guests):
    name = guests.booted("stubborn")
    run = Adhoc({"name": name, "state": "shutdown", "timeout": 3, "retry_interval": 1, "on_timeout": "force"})
    assert run["forced"] is True and run["changed"] is True
    # Said at default verbosity: what is awaited before the wait, what was forced after it.
    assert f"[localhost] virt_power: waiting at most 3 s for domain '{name}' to shut down, then power it off" in run.output
    assert (f"[WARNING]: Domain '{name}' was powered off (on_timeout=force): it did not finish a graceful shutdown within timeout=3 s (waited 3.") in run.output
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
    for state, actions in (
        ("shutdown", ["shutdown"]),
        ("paused", ["suspend"]),
        ("saved", ["managedsave"]),
        ("restarted", ["reboot"]),
        ("reset", ["reset"]),
        ("destroyed", ["destroy"]),
    ):
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
    steps = [("running", ["start"]), ("paused", ["suspend"]), ("running", ["resume"]), ("saved", ["managedsave"]), ("running", ["start"])]
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
        [
            "ansible",
            "localhost",
            "-m",
            "virtops.libvirt.virt_power",
            "-a",
            f"uuid={uuid} state=paused",
            "-e",
            f"ansible_python_interpreter={ENV['PATH'].split(':')[0]}/python",
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert domstate(name) == "paused"


def test_shutdown_modes(guests):
    name = guests.booted()
    refused = Adhoc({"name": name, "state": "shutdown", "shutdown_mode": ["agent"]})
    assert refused.failed and "agent: " in refused["msg"] and "guest agent is not configured" in refused["msg"]
    assert (refused["previous_state"], refused["id"], refused["changed"]) == ("running", int(domid(name)), False)
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
        while time.monotonic() < deadline and subprocess.run(["pgrep", "-f", "AnsiballZ_virt_power"], capture_output=True, check=False).returncode:
            time.sleep(0.05)
        time.sleep(1)
        virsh("undefine", name)
        virsh("destroy", name)

    remover = threading.Thread(target=vanish)
    remover.start()
    run = Adhoc({"name": name, "state": "shutdown", "timeout": 30})
    remover.join()
    assert run.failed and f"Domain '{name}' vanished" in run["msg"]
    assert (run["previous_state"], run["id"], run["actions"], run["changed"]) == ("running", None, ["shutdown"], True)
    assert run.wall < 15


def test_unknown_domain_names_the_uri():
    run = Adhoc({"name": "it-no-such-domain", "state": "running"})
    assert run.failed
    assert run["msg"].startswith(f"No domain named 'it-no-such-domain' at URI '{URI}'")


def test_unreachable_uri():
    run = Adhoc({"uri": "qemu+unix:///system?socket=/run/virtops-nowhere.sock", "name": "x", "state": "running"})
    assert run.failed and "Cannot connect to libvirt at URI" in run["msg"] and "virtops-nowhere.sock" in run["msg"]


# -- the domain changing under the module ------------------------------------------------------
def test_twenty_parallel_running_calls_on_four_fresh_guests_all_succeed(guests):
    """5 calls per guest at once: one of them starts it, the others find it starting
    or started, wait or plan again, and report no change; none fails."""
    names = [guests.define() for _guest in range(4)]
    runs: list = []
    lock = threading.Lock()

    def one(name: str) -> None:
        run = Adhoc({"name": name, "state": "running", "timeout": 120})
        with lock:
            runs.append((name, run))

    threads = [threading.Thread(target=one, args=(name,)) for name in names for _call in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    failed = [(name, run["msg"]) for name, run in runs if run.rc != 0]
    assert failed == [] and len(runs) == 20
    for name in names:
        results = [run for each, run in runs if each == name]
        assert domstate(name) == "running", name
        assert all(run["state"] == "running" for run in results), name
        assert sum(run["actions"] == ["start"] for run in results) == 1, [run["actions"] for run in results]
        assert all(run["changed"] == (run["actions"] == ["start"]) for run in results), name


def test_paused_asked_while_the_guest_starts_ends_paused(guests, tmp_path):
    name = guests.define()
    conn = libvirt.open(URI)
    try:
        domain = conn.lookupByName(name)
        run = BackgroundAdhoc({"name": name, "state": "paused", "timeout": 60}, tmp_path)
        run.module_started()
        domain.create()  # libvirt reports it paused (starting up) for most of a second meanwhile
        result = run.result()
    finally:
        conn.close()
    assert result.rc == 0, result.output
    assert (result["state"], result["actions"]) == ("paused", ["suspend"])
    assert domstate(name) == "paused"
    time.sleep(2)
    assert domstate(name) == "paused"  # not resumed by the start that was under way


# -- options that a wait cannot honour --------------------------------------------------------
@pytest.mark.parametrize(
    ("option", "value"), [("timeout", "nan"), ("timeout", "-1"), ("timeout", "inf"), ("retry_interval", "0.001"), ("retry_interval", "nan")]
)
def test_a_duration_a_wait_cannot_honour_is_refused_before_anything_is_sent(guests, option, value):
    name = guests.booted()  # a guest that would power off at once if a shutdown were sent
    before = domid(name)
    run = Adhoc({"name": name, "state": "shutdown", option: value})
    assert run.failed and run.wall < 30
    assert run["msg"].startswith(f"Option {option} must be a number of seconds, ")
    assert run["msg"].endswith(f"not {float(value)!r}.")
    assert run["changed"] is False and "actions" not in run.result
    assert domstate(name) == "running" and domid(name) == before


# -- reboots that power off, guests paused meanwhile -----------------------------------------
def test_restart_of_a_guest_whose_reboot_powers_off_starts_it_again_at_once(guests):
    name = guests.define()
    redefine(name, lambda xml: xml.replace("<on_reboot>restart</on_reboot>", "<on_reboot>destroy</on_reboot>"))
    virsh("start", name)
    guests.wait_ready(name)
    before = domid(name)
    run = Adhoc({"name": name, "state": "restarted", "timeout": 60, "on_timeout": "force"})
    assert run.rc == 0, run.output
    assert (run["actions"], run["state"], run["forced"], run["changed"]) == (["reboot", "start"], "running", False, True)
    assert run["elapsed"] < 20, "waited for a reboot that could not come"
    assert f"[WARNING]: Domain '{name}' powered off instead of rebooting" in run.output
    assert domstate(name) == "running" and domid(name) != before  # a new QEMU process, not a reset
    guests.wait_ready(name)  # and it boots (its serial log starts anew with the new process)


def test_a_guest_paused_during_a_shutdown_wait_is_reported_as_paused(guests, tmp_path):
    name = guests.booted("stubborn")
    run = BackgroundAdhoc({"name": name, "state": "shutdown", "timeout": 8, "retry_interval": 0}, tmp_path)
    run.module_started()
    time.sleep(2)
    virsh("suspend", name)
    result = run.result()
    assert result.failed
    msg = result["msg"]
    assert "it is now paused (user)" in msg and "paused by a user or a tool (for example virsh suspend)" in msg
    assert f"virsh resume {name}" in msg and "ACPI" not in msg
    assert (result["state"], result["previous_state"], result["actions"]) == ("paused", "running", ["shutdown"])
    assert domstate(name) == "paused"


# -- the daemon restarting while the module waits ----------------------------------------------
@pytest.fixture
def daemon():
    """Stops libvirtd mid-test when asked; whatever happens, it runs and answers afterwards."""
    yield stop_libvirtd
    if not daemon_answers():
        start_libvirtd()


def test_a_daemon_restart_mid_wait_is_survived_and_on_timeout_applied(guests, tmp_path, daemon):
    name = guests.booted("stubborn")
    run = BackgroundAdhoc({"name": name, "state": "shutdown", "timeout": 20, "retry_interval": 5, "on_timeout": "force"}, tmp_path)
    started = run.module_started()
    time.sleep(max(0.0, started + 6 - time.monotonic()))
    daemon()
    time.sleep(1)
    start_libvirtd()
    result = run.result()
    assert result.rc == 0, result.output
    assert (result["changed"], result["forced"], result["state"]) == (True, True, "shutoff")
    assert result["actions"][-1] == "destroy" and set(result["actions"][:-1]) == {"shutdown"}
    assert len(result["actions"]) >= 3  # sent before the restart and again after it
    assert "[WARNING]: The connection to libvirt at URI 'qemu:///system' broke while waiting for domain" in result.output
    assert f"[WARNING]: Domain '{name}' was powered off (on_timeout=force)" in result.output
    assert 20 <= result["elapsed"] < 30
    assert domstate(name) == "shut off"


def test_a_daemon_that_stays_away_is_a_clear_failure_naming_what_was_sent(guests, tmp_path, daemon):
    name = guests.booted("stubborn")
    run = BackgroundAdhoc({"name": name, "state": "shutdown", "timeout": 8, "retry_interval": 0, "on_timeout": "force"}, tmp_path)
    started = run.module_started()
    time.sleep(max(0.0, started + 3 - time.monotonic()))
    daemon()
    result = run.result()
    start_libvirtd()
    assert result.failed
    msg = result["msg"]
    assert "broke while waiting for domain" in msg and "could not be opened again within the" in msg
    assert "Sent: shutdown. The domain was last seen running (booted)." in msg
    assert (result["changed"], result["actions"], result["state"], result["forced"]) == (True, ["shutdown"], "running", False)
    assert domstate(name) == "running"  # the guest survived; nothing forced without the daemon
