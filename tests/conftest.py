"""Make this checkout importable as ansible_collections.virtops.libvirt for every
test (ansible-test would need a copy under ansible_collections/; pytest does not)."""

from __future__ import annotations

import importlib.util
import os
import socket
import sys
import tempfile

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


def _collection_root() -> str:
    """A directory holding ansible_collections/virtops/libvirt -> this checkout."""
    parts = ROOT.split(os.sep)
    if parts[-3:-2] == ["ansible_collections"]:
        return os.sep.join(parts[:-3])
    base = tempfile.mkdtemp(prefix="virtops-collections-")
    os.makedirs(os.path.join(base, "ansible_collections", "virtops"))
    os.symlink(ROOT, os.path.join(base, "ansible_collections", "virtops", "libvirt"))
    return base


if importlib.util.find_spec("ansible_collections.virtops") is None:
    sys.path.insert(0, _collection_root())
    for name in [m for m in sys.modules if m.startswith("ansible_collections")]:
        del sys.modules[name]


@pytest.fixture
def silent_server():
    """The URI of a TCP listener on 127.0.0.1 that accepts connections and never
    answers: a hung libvirt daemon, as a client sees it."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    yield f"qemu+tcp://127.0.0.1:{server.getsockname()[1]}/system"
    server.close()
