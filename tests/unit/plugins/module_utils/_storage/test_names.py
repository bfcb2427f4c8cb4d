"""Names that could leave the pool's directory, or be read as options, are refused."""

from __future__ import annotations

import pytest

from ansible_collections.virtops.libvirt.plugins.module_utils._core.errors import VirtOpsError
from ansible_collections.virtops.libvirt.plugins.module_utils._storage.names import check_name, check_path


@pytest.mark.parametrize("name", ["disk.qcow2", "web1_data-2.img", "é" * 127, "a" * 255, "x..y"])
def test_ordinary_names_pass(name):
    assert check_name(name, "name", "volume") == name


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("../etc/passwd", "'/'"),
        ("a/b", "'/'"),
        ("..", "names a directory"),
        (".", "names a directory"),
        ("a\x00b", "NUL"),
        ("a\nb", "control character"),
        ("-rf", "begins with '-'"),
        (" disk", "blanks"),
        ("a" * 256, "longer than 255 bytes"),
        ("é" * 128, "longer than 255 bytes"),
        ("", "must be the name"),
        (None, "must be the name"),
    ],
)
def test_hostile_names_are_refused(name, reason):
    with pytest.raises(VirtOpsError) as raised:
        check_name(name, "name", "volume")
    assert reason in raised.value.msg


def test_paths_are_absolute_and_normalised():
    assert check_path("/srv//images/", "path") == "/srv/images"
    for bad in ("images", "/a\x00b", ""):
        with pytest.raises(VirtOpsError):
            check_path(bad, "path")
