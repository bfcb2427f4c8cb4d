# Copyright: (c) 2026, virtops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the fleet playbooks virtops.libvirt.power and virtops.libvirt.restart_rolling
(documented in the .yml file beside each filter's name)."""

from __future__ import annotations

from ansible_collections.virtops.libvirt.plugins.plugin_utils._fleet import (
    fleet_batch_outcomes,
    fleet_batches,
    fleet_leaders,
    fleet_outcomes,
    fleet_summary,
)


class FilterModule:
    def filters(self):
        return {
            "fleet_batches": fleet_batches,
            "fleet_batch_outcomes": fleet_batch_outcomes,
            "fleet_outcomes": fleet_outcomes,
            "fleet_summary": fleet_summary,
            "fleet_leaders": fleet_leaders,
        }
