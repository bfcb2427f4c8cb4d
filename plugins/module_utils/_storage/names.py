# Copyright: (c) 2026, virtops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Names of pools and volumes, checked before anything is called.

In a directory pool a volume's name is a file name: libvirt itself takes
``../x`` and makes a file outside the pool. So a name is refused when it could
leave its directory or be read as an option by a tool: a ``/``, ``.`` or ``..``,
a NUL or other control character, a leading ``-``, or more than 255 bytes."""

from __future__ import annotations

import posixpath
from typing import Any

from ansible_collections.virtops.libvirt.plugins.module_utils._core.errors import VirtOpsError

MAX_BYTES = 255


def check_name(value: Any, option: str, what: str) -> str:
    """``value`` when it is a safe name of a ``what`` (a volume, a storage pool)."""
    if not isinstance(value, str) or not value:
        raise VirtOpsError(f"Option {option} must be the name of a {what}, not {value!r}.")
    problem = _problem(value)
    if problem:
        raise VirtOpsError(f"Option {option}: {value!r} is refused as the name of a {what}: {problem}. Nothing was done.")
    return value


def _problem(value: str) -> str:
    if "\x00" in value:
        return "it holds a NUL character"
    if any(ord(char) < 32 or ord(char) == 127 for char in value):
        return "it holds a control character"
    if "/" in value:
        return "it holds a '/' (a name is one file name, never a path)"
    if value in (".", ".."):
        return "it names a directory"
    if value.startswith("-"):
        return "it begins with '-' (tools would read it as an option)"
    if value != value.strip():
        return "it begins or ends with blanks"
    if len(value.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        return f"it is longer than {MAX_BYTES} bytes"
    return ""


def check_path(value: Any, option: str) -> str:
    """An absolute path without NUL, normalised (``/a//b/`` -> ``/a/b``)."""
    if not isinstance(value, str) or not value.startswith("/"):
        raise VirtOpsError(f"Option {option} must be an absolute path, not {value!r}.")
    if "\x00" in value:
        raise VirtOpsError(f"Option {option} holds a NUL character; a path cannot.")
    return posixpath.normpath(value)
