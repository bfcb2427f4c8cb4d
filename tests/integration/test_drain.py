"""virt_drain on real QEMU guests between two real libvirt daemons of this machine (hv1 =
qemu:///system and hv2 of start_second_daemon.sh, see hypervisors.py), as a user drives
it: ad-hoc commands and playbooks, the inventory plugin read with ansible-inventory.

Other tests and the test bed's own guests run on hv1 meanwhile: every drain here leaves
them alone with exclude_names patterns that match every name not starting with the
test's prefix (drn-XXXXXX-), whatever domains come and go. Every domain made here is
destroyed and undefined on both daemons afterwards, whatever its state."""

from __future__ import annotations

import json
import re
import subprocess

import pytest
import yaml
from hypervisors import (
    HV1,
    HV1_FROM_HV2,
    HV2,
    MIGRATE_URI,
    Guests2,
    Run,
    domain_id,
    exclude_all_but,
    names_on,
    persistent_on,
    playbook,
    require_hv2,
    show_figures,
    where,
)
from virt_harness import ENV, ROOT

FIGURES: dict[str, str] = {}
HV1_GROUP, HV2_GROUP = "libvirt_hypervisor_localhost", "libvirt_hypervisor_hv2"


@pytest.fixture(scope="module", autouse=True)
def hv2_answers(request):
    require_hv2()
    yield
    show_figures(request, "virt_drain", FIGURES)


@pytest.fixture
def made():
    guests = Guests2("drn")
    yield guests
    guests.cleanup()


def drain_args(prefix: str, **options) -> dict:
    """Drain hv1 onto hv2, leaving alone every domain not named PREFIX..."""
    return {
        "uri": HV1,
        "targets": [{"uri": HV2, "migrate_uri": MIGRATE_URI}],
        "include_shutoff": True,
        "parallel": 2,
        "exclude_names": exclude_all_but(prefix),
        **options,
    }


def drain_task(prefix: str, **options) -> dict:
    return {"name": "Drain hv1 onto hv2", "virtops.libvirt.virt_drain": drain_args(prefix, **options)}


UNDRAIN = {
    "name": "Bring the domains back to hv1",
    "virtops.libvirt.virt_drain": {
        "uri": HV1,
        "state": "undrained",
        "targets": [HV2],
        "record": "{{ drained.moved }}",
        "peer_uri": HV1_FROM_HV2,
        "migrate_uri": MIGRATE_URI,
    },
}


def inventory(tmp_path, prefix: str) -> dict[str, list[str]]:
    """The hosts of PREFIX in each hypervisor's group, as `ansible-inventory --list` shows
    them with an inventory file of the plugin reading both daemons."""
    config = tmp_path / "hypervisors.libvirt.yml"
    plugin = {"plugin": "virtops.libvirt.libvirt", "uris": [HV1, {"uri": HV2, "name": "hv2"}], "include_names": [f"{prefix}*"], "ip_sources": []}
    config.write_text(yaml.safe_dump(plugin))
    env = {**ENV, "ANSIBLE_INVENTORY_UNPARSED_FAILED": "true"}
    proc = subprocess.run(["ansible-inventory", "-i", str(config), "--list"], capture_output=True, text=True, env=env, cwd=ROOT, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    listed = json.loads(proc.stdout)
    return {group: sorted(listed.get(group, {}).get("hosts", [])) for group in (HV1_GROUP, HV2_GROUP)}


def timings(result: dict) -> str:
    each = ", ".join(f"{entry['name']} {entry['mode']} {entry['duration']} s, downtime {entry['downtime_ms']} ms" for entry in result["moved"])
    return f"{result['duration']} s ({each})"


def others_left_alone(result: dict, prefix: str) -> None:
    assert all(entry["reason"] == "excluded by exclude_names" and not entry["name"].startswith(prefix) for entry in result["untouched"]), result["untouched"]


# -- 8. drain four guests onto hv2, and bring them back ------------------------------------------------
def test_drain_four_guests_onto_hv2_and_bring_them_back(made, tmp_path):
    running = made.booted(3)
    shutoff = made.define()
    mine = sorted([*running, shutoff])
    home = {**{name: {"hv1": "running", "hv2": None} for name in running}, shutoff: {"hv1": "shut off", "hv2": None}}
    away = {**{name: {"hv1": None, "hv2": "running"} for name in running}, shutoff: {"hv1": None, "hv2": "shut off"}}
    modes = {**{name: "live" for name in running}, shutoff: "offline"}
    assert inventory(tmp_path, made.prefix) == {HV1_GROUP: mine, HV2_GROUP: []}
    ids = {name: domain_id(HV1, name) for name in running}

    plan = Run("virt_drain", drain_args(made.prefix), check=True)
    assert not plan.failed and plan["changed"], plan.output
    assert {entry["name"]: entry["mode"] for entry in plan["moved"]} == modes and len(plan["moved"]) == 4, plan["moved"]
    assert all((entry["from"], entry["to"]) == (HV1, HV2) for entry in plan["moved"])
    assert plan["summary"].startswith(f"would move 4 domain(s) off '{HV1}' (3 live, 1 offline)"), plan["summary"]
    assert {name: where(name) for name in mine} == home and {name: domain_id(HV1, name) for name in running} == ids  # nothing moved

    drained, again = playbook([drain_task(made.prefix), drain_task(made.prefix)], tmp_path)
    assert drained["changed"] and drained["failure"] is None and drained["remaining"] == [], drained
    assert {entry["name"]: entry["mode"] for entry in drained["moved"]} == modes and len(drained["moved"]) == 4, drained["moved"]
    for entry in drained["moved"]:
        assert (entry["from"], entry["to"]) == (HV1, HV2) and re.fullmatch(r"[0-9a-f-]{36}", entry["uuid"]), entry
        if entry["mode"] == "live":
            assert entry["duration"] > 0 and entry["downtime_ms"] > 0, entry
    assert re.fullmatch(rf"moved 4 domain\(s\) off '{re.escape(HV1)}' \(3 live, 1 offline\) in [\d.]+ s; \d+ left alone; 0 remaining", drained["summary"])
    others_left_alone(drained, made.prefix)
    assert drained["targets"][0]["uri"] == HV2 and drained["targets"][0]["placed_mib"] == 3 * 128
    assert (again["changed"], again["moved"], again["remaining"], again["failure"]) == (False, [], [], None), again
    assert {name: where(name) for name in mine} == away and all(persistent_on(HV2, name) for name in mine)
    assert names_on(HV1, made.prefix) == []
    assert inventory(tmp_path, made.prefix) == {HV1_GROUP: [], HV2_GROUP: mine}
    FIGURES["drain of 4 (3 live, 1 offline), parallel 2"] = timings(drained)

    back, back_again = playbook([UNDRAIN, UNDRAIN], tmp_path, extra_vars={"drained": drained})
    assert back["changed"] and back["failure"] is None and back["remaining"] == [] and back["untouched"] == [], back
    assert {entry["name"]: entry["mode"] for entry in back["moved"]} == modes and len(back["moved"]) == 4, back["moved"]
    assert all((entry["from"], entry["to"]) == (HV2, HV1) for entry in back["moved"])
    assert back["summary"].startswith(f"brought back 4 domain(s) to '{HV1}' (3 live, 1 offline)"), back["summary"]
    assert (back_again["changed"], back_again["moved"], back_again["remaining"], back_again["untouched"]) == (False, [], [], []), back_again
    assert {name: where(name) for name in mine} == home and all(persistent_on(HV1, name) for name in mine)
    assert names_on(HV2, made.prefix) == []
    assert inventory(tmp_path, made.prefix) == {HV1_GROUP: mine, HV2_GROUP: []}
    FIGURES["undrain of 4, parallel 2"] = timings(back)


# -- 9. a guest that can go nowhere ----------------------------------------------------------------------
def test_a_drain_that_cannot_place_a_guest_stops_naming_it(made, tmp_path):
    first, second = made.booted(2)
    (stopped,) = playbook([{**drain_task(made.prefix, memory_headroom_mib=1024 * 1024), "expect_failure": True}], tmp_path)
    assert stopped["failed"] and stopped["failure"]["name"] == first, stopped  # the same size: by name
    assert f"Domain {first} cannot go anywhere: no target has room for its 128 MiB (+1048576 MiB headroom)" in stopped["msg"], stopped["msg"]
    assert f"stopped at {first}" in stopped["summary"] and stopped["moved"] == [] and stopped["remaining"] == [first, second], stopped
    others_left_alone(stopped, made.prefix)
    assert where(first) == where(second) == {"hv1": "running", "hv2": None}


def test_a_drain_stops_at_a_guest_refused_and_reports_what_moved(made, tmp_path):
    """Biggest first: the big guest moves; the next one's network is not on hv2, so the
    drain stops there, naming it; the smallest is not even tried."""
    network = made.network_on_hv1_only()
    big = made.define(memory_mib=256)
    refused = made.define("net", edit=lambda xml: xml.replace("<source network='default'/>", f"<source network='{network}'/>"))
    small = made.define(memory_mib=96)
    made.start([big, refused, small], ready="booted")
    (stopped,) = playbook([{**drain_task(made.prefix), "expect_failure": True}], tmp_path)
    assert stopped["failed"] and stopped["failure"]["name"] == refused, stopped
    assert f"Domain {refused} cannot go anywhere: '{HV2}': " in stopped["msg"] and f"network '{network}' does not exist on the destination" in stopped["msg"]
    assert [(entry["name"], entry["mode"], entry["to"]) for entry in stopped["moved"]] == [(big, "live", HV2)], stopped["moved"]
    assert stopped["remaining"] == sorted([refused, small]), stopped["remaining"]
    assert where(big) == {"hv1": None, "hv2": "running"}
    assert where(refused) == where(small) == {"hv1": "running", "hv2": None}
