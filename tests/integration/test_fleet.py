"""The fleet playbooks virtops.libvirt.power and virtops.libvirt.restart_rolling with
the inventory plugin virtops.libvirt.libvirt, on real QEMU guests: addresses from
DHCP leases, a tag group shut down while another keeps running, rolling restarts
(order, batches, a failure stopping the roll), and two hypervisors in one
inventory, one reached over ssh (see fleet_harness.py)."""

from __future__ import annotations

import re
import time

import pytest
import yaml
from fleet_harness import (
    GUEST_DIR,
    Fleet,
    LogWatch,
    PlaybookRun,
    ansible_inventory,
    ensure_network,
    ensure_sshd,
    inventory_file,
    sshd_logins,
    tagged_xml,
)
from virt_harness import domstate, guest_tool, playbook, virsh

# restart_wait_for that holds each batch until its guests have booted again
# (the serial log is not truncated by a reboot, so the second "acpid started")
BOOTED_AGAIN = {
    "path": f"{GUEST_DIR}/logs/{{{{ libvirt_name }}}}.log",
    "search_regex": r"acpid started[\s\S]*acpid started",
    "timeout": 120,
}


@pytest.fixture
def fleet(tmp_path):
    made = Fleet(tmp_path)
    yield made
    made.cleanup()


@pytest.fixture(scope="module")
def ssh_uri():
    return ensure_sshd()


def boot_count(name: str) -> int:
    return (GUEST_DIR / "logs" / f"{name}.log").read_text(errors="replace").count("virtops-guest: booted")


# --------------------------------------------------------------------------- inventory
def test_ips_from_dhcp_leases(fleet, tmp_path):
    ensure_network()
    name = fleet.define("net")
    virsh("start", name)
    guest_tool("wait-log", name, r"dhcp bound eth0 [0-9.]+", "--regex", "--timeout", "120")
    address = re.search(r"dhcp bound eth0 ([0-9.]+)", (GUEST_DIR / "logs" / f"{name}.log").read_text()).group(1)
    deadline = time.monotonic() + 15  # dnsmasq reports the lease to libvirt in the background
    while address not in virsh("net-dhcp-leases", "default"):
        assert time.monotonic() < deadline, f"no lease for {address}: {virsh('net-dhcp-leases', 'default')}"
        time.sleep(0.2)

    host = ansible_inventory(inventory_file(tmp_path, fleet.prefix, set_ansible_host=True), "--host", name)
    assert host["libvirt_ips"][0] == address
    assert host["ansible_host"] == address
    assert (host["libvirt_name"], host["libvirt_state"]) == (name, "running")

    host = ansible_inventory(inventory_file(tmp_path, fleet.prefix, set_ansible_host=False, ip_sources=["lease"]), "--host", name)
    assert host["libvirt_ips"][0] == address and "ansible_host" not in host


# --------------------------------------------------------------------------- power.yml
def test_power_playbook_shuts_down_a_tag_group_only(fleet, tmp_path):
    batch = fleet.define_many(2, tags=("batch",))
    web = fleet.define_many(2, tags=("web", "frontend"))
    fleet.start(*batch, *web)
    web_ids = [virsh("domid", name) for name in web]
    inventory = inventory_file(tmp_path, fleet.prefix, read_tags=True)

    run = PlaybookRun("power", inventory, limit="libvirt_running:&tag_batch", extra={"power_state": "shutdown"}).assert_ok()
    assert [domstate(name) for name in batch] == ["shut off"] * 2
    # the other group kept running, in the same QEMU processes
    assert [domstate(name) for name in web] == ["running"] * 2
    assert [virsh("domid", name) for name in web] == web_ids
    for name in batch:
        assert re.fullmatch(rf"{name}: running -> shutoff \(shutdown\), [0-9.]+ s, changed", run.line_of(name))
    assert run.summary[-1] == "power_state=shutdown: 2 domain(s), 2 changed, 0 failed"

    # the same request on the whole group is a no-op now
    again = PlaybookRun("power", inventory, limit="tag_batch", extra={"power_state": "shutdown"}).assert_ok()
    assert again.summary[-1] == "power_state=shutdown: 2 domain(s), 0 changed, 0 failed"
    assert all("(nothing to do)" in again.line_of(name) for name in batch)


def test_power_playbook_in_serial_batches_with_options(fleet, tmp_path):
    names = fleet.define_many(3, tags=("batch",))
    inventory = inventory_file(tmp_path, fleet.prefix, read_tags=True)
    extra = {"power_state": "running", "power_serial": 2, "power_throttle": 1, "power_timeout": 30, "power_wait": True}
    run = PlaybookRun("power", inventory, limit="tag_batch", extra=extra).assert_ok()
    assert [domstate(name) for name in names] == ["running"] * 3
    # two rounds of serial 2, each one virt_power batch, announced when it starts and ends
    assert run.output.count("TASK [Run virt_power over the batch's domains of this round]") == 2
    assert "virt_power: batch at 'qemu:///system': 2 domain(s) to state=running" in run.output
    assert "virt_power: batch at 'qemu:///system': 1 domain(s) to state=running" in run.output
    assert re.search(r"virt_power: batch at 'qemu:///system' done in [0-9.]+ s: 2 domain\(s\), 2 changed, 0 failed; slowest ", run.output)
    assert run.output.count('"msg": [') == 1  # one summary, after the last round
    assert run.summary[-1] == "power_state=running: 3 domain(s), 3 changed, 0 failed"
    # a stubborn guest and on_timeout=force, passed through as power_on_timeout
    stubborn = fleet.define("stubborn", tags=("stubborn",))
    fleet.start(stubborn)
    extra = {"power_state": "shutdown", "power_timeout": 2, "power_retry_interval": 0, "power_on_timeout": "force"}
    run = PlaybookRun("power", inventory_file(tmp_path, fleet.prefix, read_tags=True), limit="tag_stubborn", extra=extra).assert_ok()
    assert domstate(stubborn) == "shut off"
    assert re.fullmatch(rf"{stubborn}: running -> shutoff \(shutdown, destroy\), FORCED off after timeout, [0-9.]+ s, changed", run.line_of(stubborn))
    assert run.summary[-1] == "power_state=shutdown: 1 domain(s), 1 changed, 0 failed, 1 forced off"


def test_power_playbook_with_a_state_per_host(fleet, tmp_path):
    # power_state from the inventory (compose), not from -e: each host its own
    batch = fleet.define("normal", tags=("batch",))
    web = fleet.define("normal", tags=("web",))
    fleet.start(batch)
    inventory = inventory_file(tmp_path, fleet.prefix, read_tags=True, compose={"power_state": "'shutdown' if 'batch' in libvirt_tags else 'running'"})
    run = PlaybookRun("power", inventory, limit="tag_batch:tag_web").assert_ok()
    assert (domstate(batch), domstate(web)) == ("shut off", "running")
    assert run.summary[-1] == "power_state=shutdown,running: 2 domain(s), 2 changed, 0 failed"


def test_power_playbook_refuses_what_it_cannot_do():
    run = PlaybookRun("power", "localhost,", limit="localhost")
    assert run.rc != 0 and "power_state is not set" in run.output
    run = PlaybookRun("power", "localhost,", limit="localhost", extra={"power_state": "running"})
    assert run.rc != 0
    assert "localhost has no libvirt_name or libvirt_uri: it does not come from the virtops.libvirt.libvirt inventory plugin" in run.output
    assert run.summary[-1] == "power_state=running: 1 domain(s), 0 changed, 1 failed"


UNLIMITED = "No --limit given"


def test_fleet_playbooks_refuse_an_unlimited_inventory(fleet, tmp_path):
    names = fleet.define_many(3, tags=("batch",))
    fleet.start(*names)
    ids = [virsh("domid", name) for name in names]
    inventory = inventory_file(tmp_path, fleet.prefix, read_tags=True)

    # no --limit: refused once, before any domain is touched (check mode too, and in serial batches)
    for extra, args in [
        ({"power_state": "destroyed"}, ()),
        ({"power_state": "destroyed"}, ("--check",)),
        ({"power_state": "destroyed", "power_serial": 1}, ()),
    ]:
        run = PlaybookRun("power", inventory, extra=extra, args=args)
        assert run.rc != 0 and UNLIMITED in run.output, run.output
        assert run.output.count("FAILED! =>") == 1, run.output  # once, not per host or batch
        assert "act on every host of the inventory (3 host(s))" in run.output
        assert "--limit <pattern> (-l <pattern>)" in run.output and "-e power_all=true" in run.output
        assert "TASK [Run virt_power over the batch's domains of this round]" not in run.output
    run = PlaybookRun("restart_rolling", inventory, extra={"restart_retry_interval": 2})
    assert run.rc != 0 and UNLIMITED in run.output and run.output.count("FAILED! =>") == 1, run.output
    assert "--limit <pattern> (-l <pattern>)" in run.output and "-e restart_all=true" in run.output
    assert "TASK [Reboot the guests of this batch and wait for the reboots]" not in run.output
    assert [domstate(name) for name in names] == ["running"] * 3
    assert [virsh("domid", name) for name in names] == ids
    assert [boot_count(name) for name in names] == [1] * 3

    # a limit: that domain only
    run = PlaybookRun("power", inventory, limit=names[0], extra={"power_state": "destroyed"}).assert_ok()
    assert [domstate(name) for name in names] == ["shut off", "running", "running"]
    assert run.summary[-1] == "power_state=destroyed: 1 domain(s), 1 changed, 0 failed"

    # the explicit variables, as documented (-e name=true)
    run = PlaybookRun("power", inventory, extra={"power_state": "destroyed"}, args=("-e", "power_all=true")).assert_ok()
    assert [domstate(name) for name in names] == ["shut off"] * 3
    assert run.summary[-1] == "power_state=destroyed: 3 domain(s), 2 changed, 0 failed"
    run = PlaybookRun("restart_rolling", inventory, extra={"restart_batch": 3}, args=("-e", "restart_all=true")).assert_ok()
    assert [domstate(name) for name in names] == ["running"] * 3
    assert run.summary[-1] == "rolling restart in batches of 3: 3 of 3 domain(s) restarted"


def decoy_localhost(tmp_path):
    """A static inventory in which localhost is a remote ssh host at 192.0.2.1. Its ssh
    sends no packet: the ProxyCommand notes each attempt in a file and fails."""
    attempts = tmp_path / "ssh-attempts"
    proxy = f"sh -c 'echo %h >> {attempts}; exit 1'"
    path = tmp_path / "decoy.yml"
    path.write_text(
        yaml.safe_dump(
            {
                "all": {
                    "hosts": {
                        "localhost": {
                            "ansible_host": "192.0.2.1",
                            "ansible_connection": "ssh",
                            "ansible_ssh_common_args": f'-o ConnectTimeout=2 -o ProxyCommand="{proxy}"',
                        }
                    }
                }
            }
        )
    )
    return path, attempts


def test_fleet_playbooks_run_on_the_controller_whatever_the_inventory_says_of_localhost(fleet, tmp_path):
    names = fleet.define_many(2, tags=("web",))
    fleet.start(*names)
    decoy, attempts = decoy_localhost(tmp_path)
    inventories = [decoy, inventory_file(tmp_path, fleet.prefix, read_tags=True)]
    assert ansible_inventory(decoy, "--host", "localhost")["ansible_host"] == "192.0.2.1"

    extra = {"restart_batch": 2, "restart_wait_for": BOOTED_AGAIN, "restart_retry_interval": 2}
    run = PlaybookRun("restart_rolling", inventories, limit="tag_web", extra=extra)
    assert not attempts.exists(), f"ssh to {attempts.read_text()}:\n{run.output}"
    run.assert_ok()
    assert run.summary[-1] == "rolling restart in batches of 2: 2 of 2 domain(s) restarted"
    assert [boot_count(name) for name in names] == [2, 2]

    for args in [("--check",), ()]:
        run = PlaybookRun("power", inventories, limit="tag_web", extra={"power_state": "shutdown"}, args=args)
        assert not attempts.exists(), f"ssh to {attempts.read_text()}:\n{run.output}"
        run.assert_ok()
        assert "UNREACHABLE" not in run.output
    assert [domstate(name) for name in names] == ["shut off"] * 2
    assert run.summary[-1] == "power_state=shutdown: 2 domain(s), 2 changed, 0 failed"


# --------------------------------------------------------------------------- restart_rolling.yml
@pytest.mark.parametrize("batch_size", [1, 2])
def test_rolling_restart_in_batches(fleet, tmp_path, batch_size):
    names = fleet.define_many(3, tags=("web",))
    fleet.start(*names)
    inventory = inventory_file(tmp_path, fleet.prefix, read_tags=True)
    extra = {"restart_batch": batch_size, "restart_wait_for": BOOTED_AGAIN, "restart_retry_interval": 2}
    with LogWatch(names) as watch:
        run = PlaybookRun("restart_rolling", inventory, limit="libvirt_running:&tag_web", extra=extra).assert_ok()

    assert run.summary[-1] == f"rolling restart in batches of {batch_size}: 3 of 3 domain(s) restarted"
    order = [line.partition(":")[0] for line in run.summary[:-1]]
    assert sorted(order) == sorted(names)
    for name in names:
        assert re.match(rf"{name}: running -> running \(reboot\) in [0-9.]+ s, restart_wait_for met after", run.line_of(name))
        assert boot_count(name) == 2, f"{name} did not boot a second time"
        assert len(watch.times(name, "power button pressed")) == 1
        assert domstate(name) == "running"
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    for done, following in zip(batches, batches[1:]):
        # the next batch was asked to reboot only once the previous one had booted again
        back = max(watch.times(name, "acpid started")[-1] for name in done)
        asked = min(watch.times(name, "power button pressed")[0] for name in following)
        assert asked > back, f"batch {following} was rebooted before batch {done} was back"
    for together in batches:
        # the guests of one batch were rebooted at the same time
        asked = max(watch.times(name, "power button pressed")[0] for name in together)
        assert all(asked < watch.times(name, "acpid started")[-1] for name in together)


def stubborn_between_two(fleet: Fleet, tmp_path, tag: str):
    """Three running guests tagged TAG, the middle one ignoring ACPI, and an inventory of them."""
    first = fleet.define(tags=(tag,))
    stubborn = fleet.define("stubborn", tags=(tag,))
    last = fleet.define(tags=(tag,))
    fleet.start(first, stubborn, last)
    return first, stubborn, last, inventory_file(tmp_path, fleet.prefix, read_tags=True)


def test_rolling_restart_stops_at_a_failure(fleet, tmp_path):
    first, stubborn, last, inventory = stubborn_between_two(fleet, tmp_path, "web")
    extra = {"restart_timeout": 3, "restart_retry_interval": 0}
    run = PlaybookRun("restart_rolling", inventory, limit="tag_web", extra=extra)

    assert run.rc != 0
    assert run.line_of(first).startswith(f"{first}: running -> running (reboot)")
    assert run.line_of(stubborn).startswith(f"{stubborn}: FAILED: Domain '{stubborn}' did not finish a graceful reboot")
    assert run.summary[-1] == f"rolling restart in batches of 1: 1 of 3 domain(s) restarted, 1 failed (the roll stopped), not reached: {last}"
    Fleet.wait_ready(first, count=2)
    assert boot_count(stubborn) == 1 and domstate(stubborn) == "running"
    assert boot_count(last) == 1, "the roll went on after a failure"


def test_rolling_restart_shows_a_forced_reset(fleet, tmp_path):
    stubborn = fleet.define("stubborn", tags=("web",))
    fleet.start(stubborn)
    inventory = inventory_file(tmp_path, fleet.prefix, read_tags=True)
    extra = {"restart_timeout": 2, "restart_retry_interval": 0, "restart_on_timeout": "force"}
    run = PlaybookRun("restart_rolling", inventory, limit="tag_web", extra=extra).assert_ok()
    assert re.match(rf"{stubborn}: running -> running \(reboot, reset\), FORCED reset after timeout, in [0-9.]+ s", run.line_of(stubborn)), run.line_of(
        stubborn
    )
    assert run.summary[-1] == "rolling restart in batches of 1: 1 of 1 domain(s) restarted, 1 forced reset"
    Fleet.wait_ready(stubborn, count=2)
    assert boot_count(stubborn) == 2


# --------------------------------------------------------------------------- two hypervisors
def test_two_hypervisors_one_over_ssh(fleet, tmp_path, ssh_uri):
    names = fleet.define_many(2, tags=("batch",))
    fleet.start(*names)
    uris = [{"uri": "qemu:///system", "name": "local"}, {"uri": ssh_uri, "name": "viassh"}]
    inventory = inventory_file(tmp_path, fleet.prefix, uris=uris, read_tags=True)

    listing = ansible_inventory(inventory, "--list")
    hostvars = listing["_meta"]["hostvars"]
    # the same daemon twice: every name is on both, so each becomes <name>@<label>
    assert sorted(hostvars) == sorted(f"{name}@{label}" for name in names for label in ("local", "viassh"))
    for name in names:
        local, remote = hostvars[f"{name}@local"], hostvars[f"{name}@viassh"]
        assert (local["libvirt_name"], local["libvirt_uri"], local["libvirt_hypervisor"]) == (name, "qemu:///system", "local")
        assert (remote["libvirt_name"], remote["libvirt_uri"], remote["libvirt_hypervisor"]) == (name, ssh_uri, "viassh")
        assert local["libvirt_uuid"] == remote["libvirt_uuid"]
    assert sorted(listing["libvirt_hypervisor_viassh"]["hosts"]) == sorted(f"{name}@viassh" for name in names)
    assert sorted(listing["tag_batch"]["hosts"]) == sorted(hostvars)

    logins = sshd_logins()
    run = PlaybookRun("power", inventory, limit="libvirt_hypervisor_viassh:&libvirt_running", extra={"power_state": "shutdown"}).assert_ok()
    assert [domstate(name) for name in names] == ["shut off"] * 2
    assert run.summary[-1] == "power_state=shutdown: 2 domain(s), 2 changed, 0 failed"
    for name in names:
        assert run.line_of(f"{name}@viassh").startswith(f"{name}@viassh: running -> shutoff (shutdown)")
    # the inventory read and one virt_power batch for both domains: one connection each
    assert sshd_logins() == logins + 2

    run = PlaybookRun("power", inventory, limit="libvirt_hypervisor_local", extra={"power_state": "running"}).assert_ok()
    assert [domstate(name) for name in names] == ["running"] * 2
    assert run.summary[-1] == "power_state=running: 2 domain(s), 2 changed, 0 failed"


def test_virt_domain_and_virt_power_over_ssh(fleet, tmp_path, ssh_uri):
    name = f"{fleet.prefix}ssh"
    xml = tagged_xml(name, "normal", ["viassh"])
    domain = {"name": name, "uri": ssh_uri}
    results = playbook(
        [
            {"name": "Define over ssh", "virtops.libvirt.virt_domain": {**domain, "xml": xml}},
            {"name": "Define again over ssh", "virtops.libvirt.virt_domain": {**domain, "xml": xml}},
            {"name": "Start over ssh", "virtops.libvirt.virt_power": {**domain, "state": "running"}},
            {"name": "Pause over ssh", "virtops.libvirt.virt_power": {**domain, "state": "paused"}},
            {"name": "Power off over ssh", "virtops.libvirt.virt_power": {**domain, "state": "destroyed"}},
            {"name": "Undefine over ssh", "virtops.libvirt.virt_domain": {**domain, "state": "absent"}},
        ],
        tmp_path,
    )
    define, define_again, start, pause, power_off, undefine = results
    assert define["changed"] and not define_again["changed"]
    assert (start["changed"], start["previous_state"], start["state"]) == (True, "shutoff", "running")
    assert (pause["changed"], pause["state"]) == (True, "paused")
    assert (power_off["changed"], power_off["state"]) == (True, "shutoff")
    assert undefine["changed"]
    assert name not in virsh("list", "--all", "--name").split()


# --------------------------------------------------------------------------- batches per hypervisor
def two_hypervisor_inventories(tmp_path, fleet: Fleet, local: list[str], remote: list[str], ssh_uri: str) -> list:
    """Two inventory sources: LOCAL's domains through qemu:///system, REMOTE's through
    the loopback sshd (the same daemon, so each domain is listed by one source only)."""
    return [
        inventory_file(tmp_path, fleet.prefix, include_names=local, uris=[{"uri": "qemu:///system", "name": "local"}], read_tags=True),
        inventory_file(tmp_path, fleet.prefix, include_names=remote, uris=[{"uri": ssh_uri, "name": "viassh"}], read_tags=True),
    ]


def test_power_runs_one_batch_per_hypervisor_in_parallel_from_mixed_states(fleet, tmp_path, ssh_uri):
    running_local, off_local, running_remote, paused_remote = fleet.define_many(4, tags=("batch",))
    fleet.start(running_local, running_remote, paused_remote)
    virsh("suspend", paused_remote)
    inventories = two_hypervisor_inventories(tmp_path, fleet, [running_local, off_local], [running_remote, paused_remote], ssh_uri)

    # check mode predicts each domain and sends nothing
    run = PlaybookRun("power", inventories, limit="tag_batch", extra={"power_state": "shutdown"}, args=("--check",)).assert_ok()
    assert run.line_of(running_local) == f"{running_local}: running, would send: shutdown"
    assert run.line_of(off_local) == f"{off_local}: shutoff, would send: nothing to do"
    assert run.line_of(running_remote) == f"{running_remote}: running, would send: shutdown"
    assert run.line_of(paused_remote) == f"{paused_remote}: paused, would send: resume, shutdown"
    assert run.summary[-1] == "power_state=shutdown: 4 domain(s), 3 changed, 0 failed (check mode: nothing was sent)"
    assert [domstate(name) for name in (running_local, off_local, running_remote, paused_remote)] == ["running", "shut off", "running", "paused"]

    logins = sshd_logins()
    run = PlaybookRun("power", inventories, limit="tag_batch", extra={"power_state": "shutdown"}).assert_ok()
    assert [domstate(name) for name in (running_local, off_local, running_remote, paused_remote)] == ["shut off"] * 4
    assert re.fullmatch(rf"{running_local}: running -> shutoff \(shutdown\), [0-9.]+ s, changed", run.line_of(running_local))
    assert run.line_of(off_local) == f"{off_local}: shutoff -> shutoff (nothing to do), 0.0 s"
    assert re.fullmatch(rf"{paused_remote}: paused -> shutoff \(resume, shutdown\), [0-9.]+ s, changed", run.line_of(paused_remote))
    assert run.summary[-1] == "power_state=shutdown: 4 domain(s), 3 changed, 0 failed"
    # one batch per hypervisor, both in the one task (in parallel, one host each), each announced and concluded
    assert run.output.count("TASK [Run virt_power over the batch's domains of this round]") == 1
    assert "virt_power: batch at 'qemu:///system': 2 domain(s) to state=shutdown, waiting at most 120 s for each to shut down" in run.output
    assert f"virt_power: batch at '{ssh_uri}': 2 domain(s) to state=shutdown" in run.output
    assert len(re.findall(r"virt_power: batch at '[^']+' done in [0-9.]+ s: 2 domain\(s\), [12] changed, 0 failed; slowest ", run.output)) == 2
    # the inventory read and one connection for both remote domains
    assert sshd_logins() == logins + 2

    again = PlaybookRun("power", inventories, limit="tag_batch", extra={"power_state": "shutdown"}).assert_ok()
    assert again.summary[-1] == "power_state=shutdown: 4 domain(s), 0 changed, 0 failed"

    # a rolling restart over both hypervisors: one batch of 2, one domain on each
    fleet.start(running_local, running_remote)
    extra = {"restart_batch": 2, "restart_wait_for": BOOTED_AGAIN, "restart_retry_interval": 2}
    run = PlaybookRun("restart_rolling", inventories, limit="libvirt_running", extra=extra).assert_ok()
    assert run.summary[-1] == "rolling restart in batches of 2: 2 of 2 domain(s) restarted"
    assert run.output.count("TASK [Reboot the guests of this batch and wait for the reboots]") == 1
    assert [boot_count(name) for name in (running_local, running_remote)] == [2, 2]


def test_a_stubborn_guest_fails_alone_and_the_run_names_it(fleet, tmp_path):
    first, stubborn, last, inventory = stubborn_between_two(fleet, tmp_path, "batch")
    extra = {"power_state": "shutdown", "power_timeout": 8, "power_retry_interval": 0, "power_on_timeout": "fail"}
    started = time.monotonic()
    run = PlaybookRun("power", inventory, limit="tag_batch", extra=extra)
    took = time.monotonic() - started

    assert run.rc != 0
    # the others reached the state, at the same time as the stubborn guest was waited for
    assert [domstate(name) for name in (first, stubborn, last)] == ["shut off", "running", "shut off"]
    assert took < 8 * 2 + 10, f"the guests were waited for one after the other ({took:.1f} s)"
    assert re.fullmatch(rf"{first}: running -> shutoff \(shutdown\), [0-9.]+ s, changed", run.line_of(first))
    assert run.line_of(stubborn).startswith(f"{stubborn}: FAILED: Domain '{stubborn}' did not finish a graceful shutdown within timeout=8 s")
    assert run.summary[-1] == "power_state=shutdown: 3 domain(s), 2 changed, 1 failed"
    assert run.output.count("FAILED! =>") == 1  # the summary fails the run, once
    assert re.search(r"virt_power: batch at 'qemu:///system' done in [0-9.]+ s: 3 domain\(s\), 3 changed, 1 failed; slowest " + stubborn, run.output)


def test_limit_intersections_select_the_domains_of_the_batches(fleet, tmp_path):
    web_running, web_other, web_off = fleet.define_many(3, tags=("web",))
    batch_running = fleet.define(tags=("batch",))
    fleet.start(web_running, web_other, batch_running)
    inventory = inventory_file(tmp_path, fleet.prefix, read_tags=True)

    run = PlaybookRun("power", inventory, limit=f"tag_web:&libvirt_running:!{web_other}", extra={"power_state": "destroyed"}).assert_ok()
    assert [line.partition(":")[0] for line in run.summary[:-1]] == [web_running]
    assert run.summary[-1] == "power_state=destroyed: 1 domain(s), 1 changed, 0 failed"
    assert [domstate(name) for name in (web_running, web_other, web_off, batch_running)] == ["shut off", "running", "shut off", "running"]

    run = PlaybookRun("power", inventory, limit="tag_web:tag_batch:&libvirt_shutoff", extra={"power_state": "running"}, args=("--check",)).assert_ok()
    assert sorted(line.partition(":")[0] for line in run.summary[:-1]) == sorted([web_running, web_off])
    assert run.summary[-1] == "power_state=running: 2 domain(s), 2 changed, 0 failed (check mode: nothing was sent)"


def test_imported_with_vars_as_the_guide_shows(fleet, tmp_path):
    names = fleet.define_many(2, tags=("batch",))
    fleet.start(*names)
    inventory = inventory_file(tmp_path, fleet.prefix, read_tags=True)
    site = tmp_path / "site.yml"
    site.write_text(
        yaml.safe_dump(
            [
                {"name": "Shut down the batch workers", "ansible.builtin.import_playbook": "virtops.libvirt.power", "vars": {"power_state": "shutdown"}},
                {"name": "Start them again", "ansible.builtin.import_playbook": "virtops.libvirt.power", "vars": {"power_state": "running"}},
            ]
        )
    )
    run = PlaybookRun(str(site), inventory, limit="tag_batch").assert_ok()
    summaries = re.findall(r'"(power_state=[^"]*)"', run.output)
    assert summaries == ["power_state=shutdown: 2 domain(s), 2 changed, 0 failed", "power_state=running: 2 domain(s), 2 changed, 0 failed"]
    assert [domstate(name) for name in names] == ["running"] * 2
