"""What the storage tests share besides fixtures."""

from __future__ import annotations

POOL = "default-pool"
# libvirt calls that write; a check-mode or no-op run makes none of them.
WRITES = {"createXML", "createXMLFrom", "resize", "delete", "upload", "storagePoolDefineXML", "create", "setAutostart", "destroy", "undefine", "build", "wipe"}


def writes(connection) -> list[str]:
    return [name for name in connection.calls if name in WRITES]
