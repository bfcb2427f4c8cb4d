"""Every libvirt call of the collection goes through the libvirt layer
(plugins/module_utils/_core): outside it, no libvirt method is called directly
and no libvirtError is caught, so no libvirt error can reach a user as a
traceback, and each one is mapped to a message naming the domain and the URI."""

from __future__ import annotations

import ast
from pathlib import Path

import libvirt
import pytest

PLUGINS = Path(__file__).resolve().parents[3] / "plugins"
LAYER = PLUGINS / "module_utils" / "_core"

_CLASSES = (
    libvirt.virConnect,
    libvirt.virDomain,
    libvirt.virStoragePool,
    libvirt.virStorageVol,
    libvirt.virNetwork,
    libvirt.virDomainSnapshot,
    libvirt.virDomainCheckpoint,
    libvirt.virSecret,
    libvirt.virNodeDevice,
    libvirt.virInterface,
    libvirt.virNWFilter,
    libvirt.virStream,
)
LIBVIRT_METHODS = {name for cls in _CLASSES for name in dir(cls) if not name.startswith("_")}
# Read from the object itself, no round trip to the daemon: they cannot fail.
LOCAL_GETTERS = {"name", "UUIDString", "UUID", "ID", "connect", "domain"}
# Method names common outside libvirt too (dict.update, a file's close, ...): a call
# counts as libvirt's when its receiver is named like a libvirt handle.
AMBIGUOUS = {
    "close",
    "update",
    "info",
    "key",
    "value",
    "path",
    "parent",
    "send",
    "delete",
    "create",
    "state",
    "refresh",
    "reset",
    "resize",
    "save",
    "restore",
    "recv",
    "abort",
    "finish",
    "build",
    "rename",
    "suspend",
    "resume",
    "destroy",
    "reboot",
    "upload",
    "wipe",
    "vcpus",
    "migrate",
    "setAutostart",
    "autostart",
    "isActive",
    "isPersistent",
    "XMLDesc",
}
HANDLE_NAMES = ("domain", "dom", "raw", "pool", "volume", "vol", "snapshot", "virconn")


def _sources():
    return sorted(path for path in PLUGINS.rglob("*.py") if LAYER not in path.parents)


def _receiver(node: ast.AST) -> str:
    return ast.unparse(node).lower()


def _violations(path: Path) -> list[str]:
    return _violations_in(path.read_text(encoding="utf-8"), str(path.relative_to(PLUGINS)))


def _violations_in(text: str, label: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.ExceptHandler) and node.type is not None and "libvirterror" in ast.unparse(node.type).lower():
            found.append(f"{label}:{node.lineno}: catches libvirtError")
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        method, receiver = node.func.attr, _receiver(node.func.value)
        if receiver == "libvirt" and method[:1].islower() and not method.startswith("vir"):
            found.append(f"{label}:{node.lineno}: calls libvirt.{method}() directly")
        if method not in LIBVIRT_METHODS or method in LOCAL_GETTERS:
            continue
        if method in AMBIGUOUS and not any(handle in receiver.rsplit(".", 1)[-1] for handle in HANDLE_NAMES):
            continue
        found.append(f"{label}:{node.lineno}: calls {ast.unparse(node.func)}() directly")
    return found


@pytest.mark.parametrize("path", _sources(), ids=lambda path: str(path.relative_to(PLUGINS)))
def test_no_raw_libvirt_call_outside_the_layer(path):
    assert _violations(path) == []


def test_the_walker_sees_raw_calls_and_caught_libvirt_errors():
    sample = (
        "def f(domain, conn, pool):\n    domain.create()\n    conn.raw.lookupByName('x')\n"
        "    pool.refresh(0)\n    libvirt.open('qemu:///system')\n    {}.update(a=1)\n    domain.name()\n"
        "    try:\n        pass\n    except libvirt.libvirtError:\n        pass\n"
    )
    found = _violations_in(sample, "sample")
    assert [line.split(": ", 1)[1] for line in found] == [
        "calls domain.create() directly",
        "calls conn.raw.lookupByName() directly",
        "calls pool.refresh() directly",
        "calls libvirt.open() directly",
        "catches libvirtError",
    ], found
