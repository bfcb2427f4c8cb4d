# Copyright: (c) 2026, virtops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The QEMU guest agent, through the libvirt layer: whether it answers.

libvirt_qemu (part of libvirt-python) passes a command to the agent inside the
guest; like every libvirt call here, it goes through ``Connection.call()``, so a
guest without an agent is a LibvirtCallError carrying libvirt's own words.
"""

from __future__ import annotations

import json
import math
from typing import Any

from ansible_collections.virtops.libvirt.plugins.module_utils._core.client import Connection

try:
    import libvirt_qemu
except ImportError:  # the client layer reports a missing libvirt-python
    libvirt_qemu = None

PING = json.dumps({"execute": "guest-ping"})


def agent_ping(conn: Connection, domain: Any, name: str, seconds: float) -> None:
    """Ask the guest agent for a ``guest-ping`` answer within ``seconds`` (at least 1:
    libvirt counts whole seconds); LibvirtCallError when it does not answer."""
    conn.call("reach its QEMU guest agent", libvirt_qemu.qemuAgentCommand, domain, PING, max(1, math.ceil(seconds)), 0, domain=name)
