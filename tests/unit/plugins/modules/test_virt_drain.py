# Copyright: (c) 2026, virtops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""virt_drain in-process on libvirt's test driver: which domains a drain takes (include_names,
exclude_names, include_shutoff), its plan in check mode, and its refusals. The test driver
cannot migrate: real drains are tested in tests/integration/test_drain.py."""

from __future__ import annotations

import json

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.virtops.libvirt.plugins.modules import virt_drain


@pytest.fixture
def other_uri(tmp_path):
    """A hypervisor of its own: the test driver on an empty <node> file."""
    path = tmp_path / "node.xml"
    path.write_text("<node/>\n")
    return f"test://{path}"


def run_module(capsys, **args):
    with patch_module_args({"uri": "test:///default", "connect_timeout": 5, **args}), pytest.raises(SystemExit) as exited:
        virt_drain.main()
    result = json.loads(capsys.readouterr().out)
    result["rc"] = exited.value.code
    return result


def domains_of(conn):
    return sorted((d.name(), d.state()[0], d.isPersistent()) for d in conn.listAllDomains())


def test_check_mode_plans_the_running_domain_and_changes_nothing(conn, capsys, other_uri):
    before = domains_of(conn)
    result = run_module(capsys, targets=[other_uri], _ansible_check_mode=True, preflight=[])
    assert result["rc"] == 0, result
    assert [(m["name"], m["mode"], m["to"]) for m in result["moved"]] == [("test", "live", other_uri)]
    assert result["changed"] is True and result["uri"] == "test:///default"
    assert result["summary"].startswith("would move 1 domain(s) off 'test:///default' (1 live, 0 offline)")
    assert domains_of(conn) == before


def test_include_names_leaves_the_others_alone(conn, capsys, other_uri):
    result = run_module(capsys, targets=[other_uri], include_names=["web-*"], _ansible_check_mode=True, preflight=[])
    assert result["rc"] == 0 and result["moved"] == [] and result["changed"] is False, result
    assert {"name": "test", "reason": "not matched by include_names"} in result["untouched"]
    assert result["remaining"] == []


def test_exclude_names_wins_over_include_names(conn, capsys, other_uri):
    result = run_module(capsys, targets=[other_uri], include_names=["t*"], exclude_names=["test"], _ansible_check_mode=True, preflight=[])
    assert result["moved"] == [] and {"name": "test", "reason": "excluded by exclude_names"} in result["untouched"], result


def test_a_shut_off_domain_moves_only_with_include_shutoff(conn, capsys, other_uri):
    made = conn.defineXML("<domain type='test'><name>drain-off</name><memory unit='MiB'>1</memory><os><type>hvm</type></os></domain>")
    try:
        left = run_module(capsys, targets=[other_uri], include_names=["drain-*"], _ansible_check_mode=True, preflight=[])
        assert left["moved"] == [] and {"name": "drain-off", "reason": "shut off (include_shutoff is false)"} in left["untouched"], left
        taken = run_module(capsys, targets=[other_uri], include_names=["drain-*"], include_shutoff=True, _ansible_check_mode=True, preflight=[])
        assert [(m["name"], m["mode"]) for m in taken["moved"]] == [("drain-off", "offline")], taken
    finally:
        made.undefine()


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ({"targets": []}, "Option targets is empty"),
        ({"targets": [{"url": "x"}]}, "targets[0] must be a URI or a dict with uri"),
        ({"targets": ["a b"]}, "targets[0] must be a URI without spaces"),
        ({"targets": ["test:///x", "test:///x"]}, "names a hypervisor twice"),
        ({"targets": ["test:///x"], "parallel": 0}, "Option parallel must be a whole number"),
        ({"targets": ["test:///x"], "record": [{"name": "a", "to": "b"}]}, "Option record applies to state=undrained only"),
        ({"targets": ["test:///x"], "state": "undrained", "record": [{"name": 1}]}, "record[0] must be a dict with name and to"),
    ],
)
def test_bad_options_are_refused_before_anything(conn, capsys, args, words):
    before = domains_of(conn)
    result = run_module(capsys, **args)
    assert result["rc"] == 1 and words in result["msg"] and "Nothing was done." in result["msg"], result["msg"]
    assert domains_of(conn) == before


def test_the_drained_hypervisor_is_no_target(conn, capsys):
    result = run_module(capsys, targets=["test:///default"], _ansible_check_mode=True)
    assert result["rc"] == 1 and "is the hypervisor being drained" in result["msg"], result["msg"]
