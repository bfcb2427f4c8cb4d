"""virt_domain as Ansible runs it, on libvirt's test driver: parameters in, one
JSON result out; check mode, diff and idempotency; options refused before
anything is connected."""

from __future__ import annotations

import json
import math

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.virtops.libvirt.plugins.modules import virt_domain

XML = "<domain type='test'><name>mod1</name><memory unit='MiB'>64</memory><vcpu>1</vcpu><os><type>hvm</type></os></domain>"


def run_module(capsys, **args):
    with patch_module_args({"uri": "test:///default", "name": "mod1", **args}), pytest.raises(SystemExit) as exited:
        virt_domain.main()
    result = json.loads(capsys.readouterr().out)
    result["rc"] = exited.value.code
    return result


def test_check_mode_then_define_then_nothing_to_do(conn, capsys):
    predicted = run_module(capsys, xml=XML, _ansible_check_mode=True, _ansible_diff=True)
    assert (predicted["rc"], predicted["changed"], predicted["diff"]["before"]) == (0, True, "")
    assert "mod1" not in [domain.name() for domain in conn.listAllDomains()]
    defined = run_module(capsys, xml=XML)
    assert (defined["changed"], defined["differences"]) == (True, ["the domain is not defined"])
    again = run_module(capsys, xml=XML, _ansible_diff=True)
    assert (again["changed"], again["differences"], again["diff"]["before"] == again["diff"]["after"]) == (False, [], True)


def test_absent_twice(conn, capsys):
    run_module(capsys, xml=XML)
    assert run_module(capsys, state="absent")["changed"] is True
    assert run_module(capsys, state="absent")["changed"] is False


@pytest.mark.parametrize("value", [-1, math.nan, math.inf])
def test_restart_timeout_is_refused_before_anything_is_done(conn, capsys, value):
    result = run_module(capsys, xml=XML, restart="if_pending", restart_timeout=value)
    assert result["rc"] == 1 and result["msg"].startswith("Option restart_timeout must be a number of seconds")
    assert "mod1" not in [domain.name() for domain in conn.listAllDomains()]


def test_a_nul_in_the_name_is_a_clear_error(conn, capsys):
    result = run_module(capsys, name="mod\x001", xml=XML)
    assert result["rc"] == 1 and "NUL character" in result["msg"]
