"""virt_snapshot as Ansible runs it, on libvirt's test driver: parameters in, one JSON
result out; options refused before anything is connected; virt_domain_info's
snapshots option."""

from __future__ import annotations

import json
import math

import libvirt
import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.virtops.libvirt.plugins.modules import virt_domain_info, virt_snapshot

XML = """<domain type='test'><name>snapmod</name><memory unit='MiB'>64</memory><os><type>hvm</type></os>
<devices><disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='/g/m.qcow2'/><target dev='vda'/></disk></devices></domain>"""


def run_module(capsys, module=virt_snapshot, **args):
    defaults = {"uri": "test:///default", "name": "snapmod"}
    if module is virt_snapshot:
        defaults["snapshot"] = "s1"
    with patch_module_args({**defaults, **args}), pytest.raises(SystemExit) as exited:
        module.main()
    result = json.loads(capsys.readouterr().out)
    result["rc"] = exited.value.code
    return result


@pytest.fixture
def domain(conn):
    made = conn.defineXML(XML)
    yield made
    for snapshot in made.listAllSnapshots(libvirt.VIR_DOMAIN_SNAPSHOT_LIST_ROOTS):
        snapshot.delete(libvirt.VIR_DOMAIN_SNAPSHOT_DELETE_CHILDREN)
    made.undefine()


def test_check_mode_then_take_then_nothing_to_do(domain, capsys):
    predicted = run_module(capsys, _ansible_check_mode=True, _ansible_diff=True, retain=3)
    assert (predicted["rc"], predicted["changed"], predicted["diff"]) == (
        0,
        True,
        {"before": {"snapshots": [], "current": None}, "after": {"snapshots": ["s1"], "current": "s1"}},
    )
    assert domain.snapshotNum(0) == 0
    taken = run_module(capsys, retain=3)
    assert taken["changed"] and set(taken) >= {"snapshot", "snapshots", "pruned", "removed", "quiesced", "domain_state"}
    again = run_module(capsys, retain=3, _ansible_diff=True)
    assert (again["changed"], again["diff"]["before"] == again["diff"]["after"]) == (False, True)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ({"retain": math.nan}, "retain"),
        ({"retain": -1}, "from 1 to 10000"),
        ({"retain": 0}, "from 1 to 10000"),
        ({"retain": 1.5}, "retain"),
        ({"retain": "many"}, "retain"),
        ({"snapshot": "a/b"}, "'/'"),
        ({"snapshot": "a\x00b"}, "NUL"),
        ({"snapshot": ""}, "must be the name"),
        ({"description": "bell\x07"}, "description"),
        ({"name": "a\x00b"}, "NUL"),
        ({"state": "absent", "retain": 2}, "applies to state=present only"),
        ({"state": "reverted", "description": "x"}, "applies to state=present only"),
        ({"kind": "sideways"}, "kind"),
        ({"quiesce": "no"}, "quiesce"),
        ({"disks": [{"name": "vda"}]}, "file"),
    ],
)
def test_bad_options_are_refused_before_anything_is_done(domain, capsys, args, words):
    result = run_module(capsys, **args)
    assert result["rc"] == 1 and words in result["msg"], result["msg"]
    assert domain.snapshotNum(0) == 0


def test_the_domain_alias(domain, capsys):
    result = run_module(capsys, name=None, domain="snapmod")
    assert result["changed"] and result["snapshot"]["name"] == "s1"


def test_virt_domain_info_lists_snapshots_only_when_asked(domain, capsys):
    run_module(capsys, snapshot="a")
    run_module(capsys, snapshot="b")
    plain = run_module(capsys, module=virt_domain_info)
    assert "snapshots" not in plain["domains"][0]
    asked = run_module(capsys, module=virt_domain_info, snapshots=True)
    assert asked["domains"][0]["snapshots"] == [{"name": "a", "current": False}, {"name": "b", "current": True}]
    everyone = run_module(capsys, module=virt_domain_info, name=None, snapshots=True)
    assert {entry["name"]: entry["snapshots"] for entry in everyone["domains"]}["test"] == []
