"""virt_volume as Ansible runs it, on libvirt's test driver: parameters in, one JSON
result out; check mode, diff and idempotency; options refused before anything is
connected."""

from __future__ import annotations

import json
import math

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.virtops.libvirt.plugins.modules import virt_volume


def run_module(capsys, **args):
    with patch_module_args({"uri": "test:///default", "pool": "default-pool", "name": "mod.qcow2", **args}), pytest.raises(SystemExit) as exited:
        virt_volume.main()
    result = json.loads(capsys.readouterr().out)
    result["rc"] = exited.value.code
    return result


@pytest.fixture
def pool(conn):
    pool = conn.storagePoolLookupByName("default-pool")
    yield pool
    for volume in pool.listAllVolumes(0):
        volume.delete(0)


def test_check_mode_then_create_then_nothing_to_do(pool, capsys):
    predicted = run_module(capsys, capacity="1G", _ansible_check_mode=True, _ansible_diff=True)
    assert (predicted["rc"], predicted["changed"], predicted["diff"]["before"]) == (0, True, {"state": "absent"})
    assert pool.listAllVolumes(0) == []
    created = run_module(capsys, capacity="1G")
    assert created["changed"] and created["volume"]["capacity"] == 1024**3 and created["volume"]["format"] == "qcow2"
    again = run_module(capsys, capacity=1024**3, _ansible_diff=True)
    assert (again["changed"], again["actions"], again["diff"]["before"] == again["diff"]["after"]) == (False, [], True)
    assert set(again["volume"]) == {"name", "pool", "path", "key", "format", "capacity", "allocation", "backing"}


def test_absent_twice(pool, capsys):
    run_module(capsys, capacity="1M")
    removed = run_module(capsys, state="absent")
    assert removed["changed"] is True and removed["volume"]["name"] == "mod.qcow2"
    assert run_module(capsys, state="absent")["changed"] is False


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ({"capacity": math.nan}, "whole number"),
        ({"capacity": -1}, "above 0"),
        ({"capacity": True}, "size in bytes"),
        ({"capacity": "10GB"}, "ambiguous"),
        ({"name": "../../etc/x.qcow2", "capacity": "1M"}, "never a path"),
        ({"name": "-x", "capacity": "1M"}, "begins with '-'"),
        ({"name": "a" * 256, "capacity": "1M"}, "longer than 255 bytes"),
        ({"name": "a\x00b", "capacity": "1M"}, "NUL"),
        ({"pool": "../p", "capacity": "1M"}, "never a path"),
        ({"force_upload": True}, "needs option src"),
        ({"src": "/etc/hostname", "backing": {"volume": "x"}}, "mutually exclusive"),
        ({"backing": {"volume": "x", "path": "/y"}}, "mutually exclusive"),
        ({"backing": {"pool": "p"}}, "one of the following is required"),
        ({"backing": {"volume": "../x"}}, "backing.volume"),
    ],
)
def test_bad_options_are_refused_before_anything_is_done(pool, capsys, args, words):
    result = run_module(capsys, **args)
    assert result["rc"] == 1 and words in result["msg"], result["msg"]
    assert pool.listAllVolumes(0) == []
