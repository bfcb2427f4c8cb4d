"""capacity: bytes or a number with a 1024-based unit; everything else is refused with a reason."""

from __future__ import annotations

import math

import pytest

from ansible_collections.virtops.libvirt.plugins.module_utils._core.errors import VirtOpsError
from ansible_collections.virtops.libvirt.plugins.module_utils._storage.size import MAXIMUM, human, parse_size


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (4096, 4096),
        ("4096", 4096),
        ("10G", 10 * 1024**3),
        ("10g", 10 * 1024**3),
        ("10GiB", 10 * 1024**3),
        ("10 GiB", 10 * 1024**3),
        ("512MiB", 512 * 1024**2),
        ("512M", 512 * 1024**2),
        ("1T", 1024**4),
        ("1.5G", 3 * 512 * 1024**2),
        ("64K", 65536),
        ("100B", 100),
        (2048.0, 2048),
    ],
)
def test_sizes_are_read_as_qemu_img_reads_them(value, expected):
    assert parse_size(value) == expected


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (0, "above 0"),
        ("0G", "above 0"),
        (-1, "above 0"),
        ("-1G", "is not one"),
        (math.nan, "whole number"),
        (math.inf, "whole number"),
        ("NaN", "is not one"),
        ("inf", "is not one"),
        (True, "size in bytes"),
        (False, "size in bytes"),
        ("10GB", "ambiguous"),
        ("10 MB", "ambiguous"),
        ("10X", "unknown unit"),
        ("ten", "is not one"),
        ("", "is not one"),
        ("1.5", "whole number of bytes"),
        (1.5, "whole number"),
        ([10], "size in bytes"),
        (None, "size in bytes"),
        ("1e9", "is not one"),
        (MAXIMUM + 1, "too large"),
        ("9000000P", "too large"),
    ],
)
def test_what_is_not_a_size_is_refused_with_a_reason(value, reason):
    with pytest.raises(VirtOpsError) as raised:
        parse_size(value)
    assert raised.value.msg.startswith("Option capacity") and reason in raised.value.msg


def test_sizes_are_shown_exactly():
    assert human(10 * 1024**3) == "10 GiB (10737418240 bytes)"
    assert human(1536 * 1024**2) == "1536 MiB (1610612736 bytes)"
    assert human(3000000) == "3000000 bytes"
    assert human(None) == "unknown"
