# Copyright: (c) 2026, virtops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bytes in and out of a storage volume through a libvirt stream (the only way that
works over a remote URI too): ``upload`` from a readable binary file object,
``download_upto`` into memory up to a limit (not named like libvirt's own
methods, so that the layer test tells them apart).

A stream that fails half-way is aborted, so the daemon releases it; the error is a
VirtOpsError naming the volume and the URI, like every other libvirt call."""

from __future__ import annotations

import contextlib
from typing import Any, BinaryIO

from ansible_collections.virtops.libvirt.plugins.module_utils._core.client import Connection, libvirt
from ansible_collections.virtops.libvirt.plugins.module_utils._core.errors import VirtOpsError

CHUNK = 256 * 1024

VirStorageVol = Any  # libvirt.virStorageVol


def upload(conn: Connection, vol: VirStorageVol, source: BinaryIO, length: int, label: str) -> int:
    """Write ``length`` bytes read from ``source`` at offset 0 of ``vol``; the count sent.

    ``label`` names the volume in messages (for example ``volume 'seed.img' of pool 'images'``)."""
    stream = conn.call(f"open a stream to upload into {label}", conn.raw.newStream, 0)
    sent = 0
    try:
        conn.call(f"start the upload into {label}", vol.upload, stream, 0, length, 0)
        while sent < length:
            chunk = source.read(min(CHUNK, length - sent))
            if not chunk:
                raise VirtOpsError(f"The source of the upload into {label} ended after {sent} of {length} bytes (it changed meanwhile?).")
            view = memoryview(chunk)
            while view:
                count = conn.call(f"upload into {label}", stream.send, bytes(view))
                if count < 0:
                    raise VirtOpsError(f"libvirt did not take the data uploaded into {label} (stream.send returned {count}).")
                view = view[count:]
                sent += count
        conn.call(f"finish the upload into {label}", stream.finish)
    except BaseException:
        _abort(stream)
        raise
    return sent


def download_upto(conn: Connection, vol: VirStorageVol, limit: int, label: str) -> bytes:
    """The content of ``vol`` from offset 0, at most ``limit`` bytes (the whole
    volume when it is smaller)."""
    if limit <= 0:
        raise VirtOpsError(f"A download from {label} needs a limit above 0 bytes, not {limit!r}.")
    stream = conn.call(f"open a stream to download from {label}", conn.raw.newStream, 0)
    parts: list[bytes] = []
    got = 0
    try:
        conn.call(f"start the download from {label}", vol.download, stream, 0, limit, 0)
        while got < limit:
            chunk = conn.call(f"download from {label}", stream.recv, min(CHUNK, limit - got))
            if not isinstance(chunk, bytes) or not chunk:  # b"": the end of the volume
                break
            parts.append(chunk)
            got += len(chunk)
        conn.call(f"finish the download from {label}", stream.finish)
    except BaseException:
        _abort(stream)
        raise
    return b"".join(parts)


def _abort(stream: Any) -> None:
    """Let the daemon drop a stream that did not finish (it may already be gone)."""
    with contextlib.suppress(libvirt.libvirtError):
        stream.abort()
