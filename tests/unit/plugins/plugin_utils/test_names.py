"""Hypervisor labels and the host name rule of the inventory plugin."""

from __future__ import annotations

import itertools
import random

import pytest

from ansible_collections.virtops.libvirt.plugins.module_utils._core.errors import VirtOpsError
from ansible_collections.virtops.libvirt.plugins.plugin_utils._names import (
    Hypervisor,
    ReservedNames,
    default_label,
    host_names,
    hypervisors,
    names_the_controller,
)


@pytest.mark.parametrize(
    ("uri", "label"),
    [
        ("qemu:///system", "localhost"),
        ("qemu:///session", "localhost"),
        ("test:///default", "localhost"),
        ("qemu+ssh://root@kvm1.example.com/system", "kvm1.example.com"),
        ("qemu+ssh://admin@KVM2.Example.com:2222/system?keyfile=/k", "kvm2.example.com"),
        ("qemu+tls://[2001:db8::1]/system", "2001:db8::1"),
        ("qemu+tcp://192.0.2.7/system", "192.0.2.7"),
        ("qemu+ssh://[::1/system", "localhost"),  # malformed: libvirt will say what is wrong
    ],
)
def test_the_default_label_is_the_host_part_of_the_uri(uri, label):
    assert default_label(uri) == label


def test_entries_are_uris_or_dicts_naming_them():
    assert hypervisors(["qemu:///system", {"uri": "qemu+ssh://kvm1/system"}, {"uri": " test:///default ", "name": "lab"}]) == [
        Hypervisor("qemu:///system", "localhost"),
        Hypervisor("qemu+ssh://kvm1/system", "kvm1"),
        Hypervisor("test:///default", "lab"),
    ]


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ([], "lists no URI"),
        (["qemu:///system", "qemu:///session"], "'qemu:///system' and 'qemu:///session' both have the hypervisor label 'localhost'"),
        (["qemu+ssh://a@kvm1/system", {"uri": "qemu:///system", "name": "kvm1"}], "both have the hypervisor label 'kvm1'"),
        ([{"uri": "qemu:///system", "label": "x"}], "unknown keys \\['label'\\]"),
        ([{"name": "x"}], "has no URI"),
        ([""], "has no URI"),
        ([42], "must be a URI or a dict"),
        ([{"uri": "qemu:///system", "name": "a@b"}], "without '@'"),
        ([{"uri": "qemu:///system", "name": " "}], "non-empty string"),
    ],
)
def test_bad_entries_are_explained(entries, message):
    with pytest.raises(VirtOpsError, match=message):
        hypervisors(entries)


@pytest.mark.parametrize(
    "entries",
    [
        ["qemu+tcp://user:pw@kvm1/system", "qemu+ssh://admin:pw@kvm1:22/system"],
        [{"uri": "qemu+tcp://user:pw@kvm1/system", "name": "a@b"}],
        [["qemu+tcp://user:pw@kvm1/system"]],
        [{"uri": ["qemu+tcp://user:pw@kvm1/system"]}],
    ],
)
def test_errors_about_entries_show_no_password(entries):
    with pytest.raises(VirtOpsError) as failed:
        hypervisors(entries)
    assert "pw" not in failed.value.msg


def test_a_clash_names_both_uris_redacted():
    with pytest.raises(VirtOpsError, match="'qemu\\+tcp://user:\\*{8}@kvm1/system' and 'qemu:///system\\?socket=/s' both"):
        hypervisors(["qemu+tcp://user:pw@kvm1/system", {"uri": "qemu:///system?socket=/s", "name": "kvm1"}])


@pytest.mark.parametrize(
    ("name", "controller"),
    [
        ("localhost", True),
        ("127.0.0.1", True),
        ("::1", True),
        ("LocalHost", True),
        ("localhost.", True),
        ("localhost.localdomain", True),
        ("localhost4", True),
        ("localhost6.localdomain6", True),
        ("ip6-localhost", True),
        ("ip6-loopback", True),
        ("127.1.2.3", True),
        ("0:0:0:0:0:0:0:1", True),
        ("0.0.0.0", True),
        ("::", True),
        ("localhost@kvm1", False),
        ("mylocalhost", False),
        ("localhost-web", False),
        ("10.0.0.1", False),
        ("2001:db8::1", False),
        ("1web", False),
        ("a:b", False),
        ("", False),
    ],
)
def test_names_that_stand_for_the_controller(name, controller):
    assert names_the_controller(name) is controller


def test_reserved_names_are_the_controllers_the_implicit_groups_and_those_given():
    reserved = ReservedNames(frozenset({"big", "libvirt_running"}), ("tag_", "role_"))
    assert reserved.why("localhost") == "it would stand for the controller (localhost)"
    for name in ("all", "ungrouped", "big", "libvirt_running", "tag_web", "tag_", "role_db"):
        assert reserved.why(name) == "it is the name of an inventory group, or of a group this configuration makes"
    for name in ("web", "Big", "libvirt-running", "tags", "xtag_web", "role", "tag_web-1", "tag_web@kvm1"):
        assert reserved.why(name) is None
    assert ReservedNames().why("all") and ReservedNames().why("tag_web") is None


def test_reserved_names_are_qualified_on_every_hypervisor():
    reserved = ReservedNames(frozenset({"big"}), ("tag_",))
    names = host_names({"kvm1": ["localhost", "all", "big", "tag_x", "web"], "kvm2": ["big", "db"]}, reserved)
    assert names == {
        ("kvm1", "localhost"): "localhost@kvm1",
        ("kvm1", "all"): "all@kvm1",
        ("kvm1", "big"): "big@kvm1",
        ("kvm1", "tag_x"): "tag_x@kvm1",
        ("kvm1", "web"): "web",
        ("kvm2", "big"): "big@kvm2",
        ("kvm2", "db"): "db",
    }
    # even without options, the controller's name and the implicit groups are never host names
    assert host_names({"kvm1": ["localhost", "ungrouped", "web"]}) == {
        ("kvm1", "localhost"): "localhost@kvm1",
        ("kvm1", "ungrouped"): "ungrouped@kvm1",
        ("kvm1", "web"): "web",
    }


def test_a_unique_name_that_reads_like_a_reserved_one_qualified_is_qualified_too():
    names = host_names({"kvm1": ["localhost", "localhost@kvm1"]})
    assert names == {("kvm1", "localhost"): "localhost@kvm1", ("kvm1", "localhost@kvm1"): "localhost@kvm1@kvm1"}


def test_unique_names_are_kept_and_shared_names_are_qualified_everywhere():
    names = host_names({"kvm1": ["web", "db", "a"], "kvm2": ["web", "b"], "kvm3": ["web", "db"]})
    assert names == {
        ("kvm1", "web"): "web@kvm1",
        ("kvm2", "web"): "web@kvm2",
        ("kvm3", "web"): "web@kvm3",
        ("kvm1", "db"): "db@kvm1",
        ("kvm3", "db"): "db@kvm3",
        ("kvm1", "a"): "a",
        ("kvm2", "b"): "b",
    }


def test_a_unique_name_that_reads_like_a_qualified_one_is_qualified_too():
    names = host_names({"kvm1": ["web", "web@kvm2"], "kvm2": ["web"]})
    assert names == {("kvm1", "web"): "web@kvm1", ("kvm2", "web"): "web@kvm2", ("kvm1", "web@kvm2"): "web@kvm2@kvm1"}


def test_host_names_are_unique_and_do_not_depend_on_the_order():
    generator = random.Random(7)
    pool = ["web", "db", "web@kvm1", "db@kvm2", "x@y", "cache", "localhost", "localhost@kvm1", "all", "tag_web", "tag_web@y"]
    reserved = ReservedNames(frozenset(), ("tag_",))
    for _round in range(200):
        labels = generator.sample(["kvm1", "kvm2", "y", "lab"], k=generator.randint(1, 4))
        fleet = {label: generator.sample(pool, k=generator.randint(0, len(pool))) for label in labels}
        expected = host_names(fleet, reserved)
        assert len(set(expected.values())) == len(expected)
        assert not any(reserved.why(host) for host in expected.values())
        for order in itertools.islice(itertools.permutations(fleet.items()), 6):
            assert host_names({label: list(reversed(names)) for label, names in order}, reserved) == expected


@pytest.mark.parametrize(
    ("uri", "remote"),
    [
        ("qemu:///system", False),
        ("qemu+unix:///system", False),
        ("test:///default", False),
        ("qemu+ssh://root@kvm1/system", True),
        ("qemu://kvm1/system", True),
        ("qemu+tcp://127.0.0.1:16509/system", True),
        ("qemu+ext:///system?command=/bin/proxy", True),
    ],
)
def test_remote_uris_are_those_reaching_the_daemon_over_a_network(uri, remote):
    assert Hypervisor(uri, "x").remote is remote
