# Copyright: (c) 2026, virtops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The clone's UEFI variable store (``<os><nvram>``): a copy of the source's, next to
it, named ``<clone>_VARS.fd`` (libvirt's own naming).

libvirt 9.0 has no call that copies an NVRAM file, so:
- when the source's NVRAM file is a volume of an active storage pool, libvirt copies
  it into a new volume of that pool (``createXMLFrom``): this works over any URI;
- otherwise, when the URI names no host (the module runs on the hypervisor), the file
  is copied here: read from the source, written to a new file that must not exist
  (never through a link), flushed to disk, then given the source's mode and owner;
- otherwise (a remote hypervisor) the task fails saying to put the NVRAM directory
  in a storage pool.
A source that has no NVRAM file yet (never started) has nothing to copy: the clone's
is made from the firmware's template when it first starts, as the source's would be.
A clone's NVRAM that exists already is reused when its bytes are the source's, and is
an error otherwise; it is never overwritten."""

from __future__ import annotations

import os
import posixpath
import shutil
import stat
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ansible_collections.virtops.libvirt.plugins.module_utils._core import xml as dxml
from ansible_collections.virtops.libvirt.plugins.module_utils._core.client import Connection
from ansible_collections.virtops.libvirt.plugins.module_utils._core.errors import VirtOpsError
from ansible_collections.virtops.libvirt.plugins.module_utils._definition import storage as dstorage
from ansible_collections.virtops.libvirt.plugins.module_utils._storage import names, volumes
from ansible_collections.virtops.libvirt.plugins.module_utils._storage.pools import active_pool

# An NVRAM store is a few MiB; anything read for comparison is kept below this.
MAX_NVRAM_BYTES = 64 * 1024 * 1024


@dataclass
class Nvram:
    """The clone's NVRAM and how it is made: ``volume``, ``file``, ``template`` (nothing to
    copy yet) or ``reuse`` (a copy made by an earlier run)."""

    source: str
    path: str
    how: str
    pool: str = ""
    name: str = ""
    origin: Any = None  # the source's NVRAM volume
    xml: str = ""
    warnings: list[str] | None = None

    @property
    def line(self) -> str:
        if self.how == "volume":
            return f"copy the NVRAM {self.source} to {self.path} ({volumes.label(self.pool, self.name)}, by libvirt)"
        if self.how == "file":
            return f"copy the NVRAM {self.source} to {self.path} (a file copy where the module runs)"
        if self.how == "reuse":
            return f"reuse the NVRAM {self.path} (left by an earlier run, the same bytes as {self.source})"
        return (
            f"give the clone the NVRAM path {self.path}; the source has no NVRAM file yet, so libvirt makes it from the firmware's template at the first start"
        )


def is_local(uri: str) -> bool:
    """Whether ``uri`` names no host: the hypervisor is where the module runs."""
    try:
        return not urlsplit(uri).hostname
    except ValueError:
        return False


def plan(conn: Connection, clone: str, source_name: str, root: Any) -> Nvram | None:
    """The clone's NVRAM (``root`` is the clone's definition, still naming the source's file); None without one."""
    given = source_path(root)
    if given is None:
        return None
    source = posixpath.normpath(given)
    name = f"{clone}_VARS.fd"
    names.check_name(name, "name (the clone's NVRAM file is named <name>_VARS.fd)", "file")
    path = posixpath.join(posixpath.dirname(source), name)
    origin = dstorage._volume(conn, source_name, dxml.etree.Element("source", file=source))
    if origin is not None:
        found = volumes.find_volume(conn, active_pool(conn, origin.pool), name)
        nvram = Nvram(source, path, "volume", origin.pool, name, origin.handle)
        nvram.xml = volumes.new_volume_xml(name, volumes.capacity_of(conn, origin.handle, origin.path), "raw")
        if found is not None:
            _reuse_if_same(volumes.download_bytes(conn, origin.handle, MAX_NVRAM_BYTES), volumes.download_bytes(conn, found, MAX_NVRAM_BYTES), nvram)
        return nvram
    if not is_local(conn.uri):
        raise VirtOpsError(
            f"The NVRAM of domain '{source_name}' ({source}) is no volume of a storage pool, and URI '{conn.shown_uri}' is a remote "
            "hypervisor, where this module cannot copy a file. Define a storage pool for its directory (virtops.libvirt.virt_pool "
            f"path={posixpath.dirname(source)}), or run the module on the hypervisor. Nothing was made."
        )
    if not os.path.lexists(source):
        return Nvram(source, path, "template")
    nvram = Nvram(source, path, "file")
    if os.path.lexists(path):
        _reuse_if_same(_read(source), _read(path), nvram)
    return nvram


def source_path(root: Any) -> str | None:
    """The NVRAM file a definition names (``<nvram>PATH</nvram>`` or ``<nvram type='file'><source file=...>``)."""
    element = root.find("os/nvram")
    if element is None:
        return None
    source = element.find("source")
    given = (element.text or "").strip() or (source.get("file", "") if source is not None else "")
    return given or None


def point_at(root: Any, path: str) -> None:
    """Make the clone's <nvram> name ``path``."""
    element = root.find("os/nvram")
    source = element.find("source")
    if source is not None and source.get("file"):
        source.set("file", path)
    else:
        element.text = path


def _reuse_if_same(want: bytes, have: bytes, nvram: Nvram) -> None:
    if want != have:
        raise VirtOpsError(
            f"The clone's NVRAM file {nvram.path} exists already and is not a copy of {nvram.source}; it is never overwritten. "
            "Remove it if nothing needs it, or give the clone another name. Nothing was made."
        )
    nvram.how = "reuse"


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read(MAX_NVRAM_BYTES)
    except OSError as err:
        raise VirtOpsError(f"Cannot read the NVRAM file {path}: {err.strerror}.") from None


def make(conn: Connection, nvram: Nvram) -> Any:
    """Copy the NVRAM (``volume`` or ``file``); the new volume, or the path of the new file."""
    if nvram.how == "volume":
        pool = active_pool(conn, nvram.pool)
        return conn.call(f"copy the NVRAM {nvram.source} to {volumes.label(nvram.pool, nvram.name)}", pool.createXMLFrom, nvram.xml, nvram.origin, 0)
    if nvram.how == "file":
        nvram.warnings = copy_file(nvram.source, nvram.path)
        return nvram.path
    return None


def undo(conn: Connection, nvram: Nvram, made: Any) -> None:
    """Remove the NVRAM copy ``make`` made."""
    if nvram.how == "volume":
        volumes.delete_volume(conn, made, volumes.label(nvram.pool, nvram.name))
    elif nvram.how == "file":
        os.unlink(nvram.path)


def copy_file(source: str, dest: str) -> list[str]:
    """Copy ``source`` to the new file ``dest`` (never an existing one, never through a
    link), flushed to disk, with the source's mode and owner; warnings."""
    warnings: list[str] = []
    try:
        with open(source, "rb") as reader:
            info = os.fstat(reader.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise VirtOpsError(f"The NVRAM {source} is not a regular file; it is not copied. Nothing was made.")
            handle = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            try:
                with os.fdopen(handle, "wb") as writer:
                    shutil.copyfileobj(reader, writer)
                    writer.flush()
                    os.fsync(writer.fileno())
                    os.fchmod(writer.fileno(), stat.S_IMODE(info.st_mode))
                    try:
                        os.fchown(writer.fileno(), info.st_uid, info.st_gid)
                    except PermissionError:
                        warnings.append(f"The NVRAM copy {dest} is owned by the user the module runs as, not by the source's owner (no permission).")
            except BaseException:
                os.unlink(dest)
                raise
    except OSError as err:
        raise VirtOpsError(f"Cannot copy the NVRAM {source} to {dest}: {err.strerror}. Nothing was made of it.") from None
    return warnings
