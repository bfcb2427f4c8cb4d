"""Snapshot names and descriptions: what libvirt can hold passes, the rest is refused before anything is done."""

from __future__ import annotations

import pytest

from ansible_collections.virtops.libvirt.plugins.module_utils._core.errors import VirtOpsError
from ansible_collections.virtops.libvirt.plugins.module_utils._snapshot.names import check_description, check_snapshot_name


@pytest.mark.parametrize("name", ["before-upgrade", " spaced ", "x<y&z'\"", "ünïcode ✓", "a" * 300, "--rm"])
def test_names_libvirt_can_hold_pass(name):
    assert check_snapshot_name(name) == name


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("a/b", "'/'"),
        ("a\x00b", "NUL"),
        ("a\x01b", "XML cannot carry"),
        ("\ufffe", "XML cannot carry"),
        ("", "must be the name"),
        ("  ", "must be"),
        (None, "must be"),
    ],
)
def test_names_libvirt_could_never_hold_are_refused(name, words):
    with pytest.raises(VirtOpsError, match="snapshot") as refused:
        check_snapshot_name(name)
    assert words in refused.value.msg


def test_descriptions():
    assert check_description(None) is None
    assert check_description("line 1\nline <2> & 'three'") == "line 1\nline <2> & 'three'"
    for bad in ("a\x00", "a\x07"):
        with pytest.raises(VirtOpsError, match="description"):
            check_description(bad)
