"""Hypervisor labels and the host name rule of the inventory plugin."""

from __future__ import annotations

import itertools
import random

import pytest

from ansible_collections.virtops.libvirt.plugins.module_utils._core.errors import VirtOpsError
from ansible_collections.virtops.libvirt.plugins.plugin_utils._names import (
    Hypervisor,
    default_label,
    host_names,
    hypervisors,
)


@pytest.mark.parametrize(("uri", "label"), [
    ("qemu:///system", "localhost"),
    ("qemu:///session", "localhost"),
    ("test:///default", "localhost"),
    ("qemu+ssh://root@kvm1.example.com/system", "kvm1.example.com"),
    ("qemu+ssh://admin@KVM2.Example.com:2222/system?keyfile=/k", "kvm2.example.com"),
    ("qemu+tls://[2001:db8::1]/system", "2001:db8::1"),
    ("qemu+tcp://192.0.2.7/system", "192.0.2.7"),
    ("qemu+ssh://[::1/system", "localhost"),  # malformed: libvirt will say what is wrong
])
def test_the_default_label_is_the_host_part_of_the_uri(uri, label):
    assert default_label(uri) == label


def test_entries_are_uris_or_dicts_naming_them():
    assert hypervisors(["qemu:///system", {"uri": "qemu+ssh://kvm1/system"}, {"uri": " test:///default ", "name": "lab"}]) == [
        Hypervisor("qemu:///system", "localhost"),
        Hypervisor("qemu+ssh://kvm1/system", "kvm1"),
        Hypervisor("test:///default", "lab"),
    ]


@pytest.mark.parametrize(("entries", "message"), [
    ([], "lists no URI"),
    (["qemu:///system", "qemu:///session"], "'qemu:///system' and 'qemu:///session' both have the hypervisor label 'localhost'"),
    (["qemu+ssh://a@kvm1/system", {"uri": "qemu:///system", "name": "kvm1"}], "both have the hypervisor label 'kvm1'"),
    ([{"uri": "qemu:///system", "label": "x"}], "unknown keys \\['label'\\]"),
    ([{"name": "x"}], "has no URI"),
    ([""], "has no URI"),
    ([42], "must be a URI or a dict"),
    ([{"uri": "qemu:///system", "name": "a@b"}], "without '@'"),
    ([{"uri": "qemu:///system", "name": " "}], "non-empty string"),
])
def test_bad_entries_are_explained(entries, message):
    with pytest.raises(VirtOpsError, match=message):
        hypervisors(entries)


def test_unique_names_are_kept_and_shared_names_are_qualified_everywhere():
    names = host_names({"kvm1": ["web", "db", "a"], "kvm2": ["web", "b"], "kvm3": ["web", "db"]})
    assert names == {
        ("kvm1", "web"): "web@kvm1", ("kvm2", "web"): "web@kvm2", ("kvm3", "web"): "web@kvm3",
        ("kvm1", "db"): "db@kvm1", ("kvm3", "db"): "db@kvm3",
        ("kvm1", "a"): "a", ("kvm2", "b"): "b",
    }


def test_a_unique_name_that_reads_like_a_qualified_one_is_qualified_too():
    names = host_names({"kvm1": ["web", "web@kvm2"], "kvm2": ["web"]})
    assert names == {("kvm1", "web"): "web@kvm1", ("kvm2", "web"): "web@kvm2", ("kvm1", "web@kvm2"): "web@kvm2@kvm1"}


def test_host_names_are_unique_and_do_not_depend_on_the_order():
    generator = random.Random(7)
    pool = ["web", "db", "web@kvm1", "db@kvm2", "x@y", "cache"]
    for _round in range(200):
        labels = generator.sample(["kvm1", "kvm2", "y", "lab"], k=generator.randint(1, 4))
        fleet = {label: generator.sample(pool, k=generator.randint(0, len(pool))) for label in labels}
        expected = host_names(fleet)
        assert len(set(expected.values())) == len(expected)
        for order in itertools.islice(itertools.permutations(fleet.items()), 6):
            assert host_names({label: list(reversed(names)) for label, names in order}) == expected


@pytest.mark.parametrize(("uri", "remote"), [
    ("qemu:///system", False), ("qemu+unix:///system", False), ("test:///default", False),
    ("qemu+ssh://root@kvm1/system", True), ("qemu://kvm1/system", True), ("qemu+tcp://127.0.0.1:16509/system", True),
    ("qemu+ext:///system?command=/bin/proxy", True),
])
def test_remote_uris_are_those_reaching_the_daemon_over_a_network(uri, remote):
    assert Hypervisor(uri, "x").remote is remote
