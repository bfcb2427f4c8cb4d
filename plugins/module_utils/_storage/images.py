# Copyright: (c) 2026, virtops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A local image file to upload (virt_volume's ``src``), checked against the format
it is declared in before anything is created.

The user says the format; the file is only checked to agree with it. A qcow2 file
must have qcow2's header, and one that names a backing file or an external data
file is refused: uploaded into a pool it would make QEMU open a file the image
chose, not one the user chose."""

from __future__ import annotations

import os
import stat
import struct
from dataclasses import dataclass, field

from ansible_collections.virtops.libvirt.plugins.module_utils._core.errors import VirtOpsError

QCOW2_MAGIC = b"QFI\xfb"
_EXTERNAL_DATA_FILE = 1 << 2  # qcow2 v3 incompatible feature bit


@dataclass
class ImageFile:
    """A file to upload: its path and size, and the size of the disk it holds
    (the file size for raw, the virtual size of a qcow2 image)."""

    path: str
    size: int
    virtual_size: int
    warnings: list[str] = field(default_factory=list)


def inspect(path: str, fmt: str, option: str = "src") -> ImageFile:
    """``path`` as an image of format ``fmt``; VirtOpsError saying why it cannot be uploaded."""
    try:
        with open(path, "rb") as handle:
            info = os.fstat(handle.fileno())
            header = handle.read(104)
    except OSError as err:
        raise VirtOpsError(f"Option {option}: cannot read {path!r} where the module runs: {err.strerror}.") from None
    if not stat.S_ISREG(info.st_mode):
        raise VirtOpsError(f"Option {option}: {path!r} is not a regular file.")
    if info.st_size == 0:
        raise VirtOpsError(f"Option {option}: {path!r} is empty; there is nothing to upload.")
    image = ImageFile(path, info.st_size, info.st_size)
    is_qcow2 = header[:4] == QCOW2_MAGIC
    if fmt == "qcow2":
        if not is_qcow2 or len(header) < 32:
            raise VirtOpsError(f"Option {option}: {path!r} is not a qcow2 image (no qcow2 header), but format is qcow2. Set format=raw for a raw image.")
        version, backing_offset, _backing_size, _cluster_bits, virtual_size = struct.unpack(">IQIIQ", header[4:32])
        if backing_offset:
            raise VirtOpsError(
                f"Option {option}: the qcow2 image {path!r} names a backing file of its own; it is refused, as QEMU would open that file. "
                "Upload a standalone image (qemu-img convert -O qcow2), or upload the base and use option backing."
            )
        if version >= 3 and len(header) >= 80 and struct.unpack(">Q", header[72:80])[0] & _EXTERNAL_DATA_FILE:
            raise VirtOpsError(f"Option {option}: the qcow2 image {path!r} keeps its data in an external file; it is refused. Convert it first.")
        image.virtual_size = virtual_size
    elif is_qcow2:
        image.warnings.append(f"{path!r} holds a qcow2 image, uploaded as raw bytes (format=raw): a guest sees the qcow2 file, not its disk.")
    return image
