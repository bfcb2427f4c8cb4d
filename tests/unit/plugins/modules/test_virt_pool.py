"""virt_pool as Ansible runs it, on libvirt's test driver."""

from __future__ import annotations

import json

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.virtops.libvirt.plugins.modules import virt_pool


def run_module(capsys, **args):
    with patch_module_args({"uri": "test:///default", "name": "modpool", **args}), pytest.raises(SystemExit) as exited:
        virt_pool.main()
    result = json.loads(capsys.readouterr().out)
    result["rc"] = exited.value.code
    return result


@pytest.fixture
def pools(conn):
    yield conn
    for pool in conn.listAllStoragePools(0):
        if pool.name() == "modpool":
            if pool.isActive():
                pool.destroy()
            pool.undefine()


def test_check_mode_then_create_then_nothing_to_do_then_absent(pools, capsys):
    predicted = run_module(capsys, path="/modpool", _ansible_check_mode=True, _ansible_diff=True)
    assert (predicted["rc"], predicted["changed"], predicted["diff"]["before"]) == (0, True, {"state": "absent"})
    assert "modpool" not in [pool.name() for pool in pools.listAllStoragePools(0)]
    made = run_module(capsys, path="/modpool")
    assert made["changed"] and made["pool"]["active"] and made["pool"]["autostart"]
    assert set(made["pool"]) == {"name", "type", "path", "active", "autostart", "capacity", "available", "volumes"}
    assert run_module(capsys, path="/modpool/")["changed"] is False
    assert run_module(capsys, state="absent")["changed"] is True
    assert run_module(capsys, state="absent")["changed"] is False


@pytest.mark.parametrize(("args", "words"), [({"name": "a/b", "path": "/x"}, "never a path"), ({"path": "relative"}, "absolute path")])
def test_bad_options_are_refused(pools, capsys, args, words):
    result = run_module(capsys, **args)
    assert result["rc"] == 1 and words in result["msg"], result["msg"]
