# Copyright: (c) 2026, virtops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Snapshot names, checked before anything is connected.

libvirt keeps each snapshot of a QEMU domain in a file named after it and refuses
a ``/``; a NUL or a character XML 1.0 cannot hold could never reach it. Anything
else (blanks, ``<``, ``&``, quotes) is a valid name: the XML sent to libvirt is
built with lxml, which escapes it."""

from __future__ import annotations

from typing import Any

from ansible_collections.virtops.libvirt.plugins.module_utils._core.errors import VirtOpsError


def _xml_char(char: str) -> bool:
    code = ord(char)
    return code in (0x9, 0xA, 0xD) or 0x20 <= code <= 0xD7FF or 0xE000 <= code <= 0xFFFD or 0x10000 <= code <= 0x10FFFF


def check_snapshot_name(value: Any, option: str = "snapshot") -> str:
    """``value`` when libvirt can hold it as a snapshot name; VirtOpsError saying why not."""
    if not isinstance(value, str) or not value.strip():
        raise VirtOpsError(f"Option {option} must be the name of a snapshot, not {value!r}.")
    problem = ""
    if "\x00" in value:
        problem = "it holds a NUL character"
    elif "/" in value:
        problem = "it holds a '/' (libvirt stores each snapshot in a file named after it and refuses one)"
    elif not all(_xml_char(char) for char in value):
        problem = "it holds a character XML cannot carry"
    if problem:
        raise VirtOpsError(f"Option {option}: {value!r} is refused as a snapshot name: {problem}. Nothing was done.")
    return value


def check_description(value: Any, option: str = "description") -> str | None:
    """A description libvirt can hold (any text XML can carry), or None."""
    if value is None:
        return None
    if "\x00" in value or not all(_xml_char(char) for char in value):
        raise VirtOpsError(f"Option {option} holds a NUL or another character XML cannot carry. Nothing was done.")
    return value
