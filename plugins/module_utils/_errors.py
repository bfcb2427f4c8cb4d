# Copyright: (c) 2026, virtops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Exceptions shared by the collection's libvirt code.

Every expected failure becomes a VirtOpsError carrying a message a person can act
on plus whatever result fields were known when it happened; modules turn it into
exactly one ``fail_json``.
"""

from __future__ import annotations

from typing import Any


class VirtOpsError(Exception):
    """An expected failure with an actionable message and partial results."""

    def __init__(self, msg: str, **result: Any) -> None:
        super().__init__(msg)
        self.msg = msg
        self.result = result


class DomainVanishedError(VirtOpsError):
    """The domain disappeared from libvirt while we were acting on it."""
