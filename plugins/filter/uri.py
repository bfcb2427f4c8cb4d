# Copyright: (c) 2026, virtops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The filter redact_uri (documented in redact_uri.yml): a URI as the modules show it."""

from __future__ import annotations

from typing import Any

from ansible_collections.virtops.libvirt.plugins.module_utils._core.errors import redact_uri as _redact


def redact_uri(value: Any) -> str:
    """``value`` (a URI, or a dict with ``uri`` such as a target of virt_drain) with its credentials hidden."""
    return _redact(value["uri"] if isinstance(value, dict) else value)


class FilterModule:
    def filters(self):
        return {"redact_uri": redact_uri}
