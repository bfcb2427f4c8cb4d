"""Ansible's plugin loader for the inventory plugin's tests, and Ansible's command
line tools run against this checkout as the collection virtops.libvirt."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
from inventory_harness import ROOT


def _collections_root() -> Path:
    """The directory holding ansible_collections/virtops/libvirt (tests/conftest.py
    made one if this checkout is not already in such a tree)."""
    spec = importlib.util.find_spec("ansible_collections.virtops.libvirt")
    return Path(list(spec.submodule_search_locations)[0]).parents[2]


def _use_ansibles_collection_loader() -> None:
    """Ansible's plugin loader finds a collection's plugins only through Ansible's
    own collection loader, which its command line tools install first thing: do
    the same, and let it own the ansible_collections package from now on."""
    from ansible.plugins.loader import init_plugin_loader
    from ansible.utils.collection_loader import AnsibleCollectionConfig

    if AnsibleCollectionConfig.collection_finder is not None:
        return
    root = _collections_root()
    for name in [name for name in sys.modules if name.split(".")[0] == "ansible_collections"]:
        del sys.modules[name]
    init_plugin_loader([str(root)])


COLLECTIONS_ROOT = _collections_root()
_use_ansibles_collection_loader()


@pytest.fixture
def ansible_cli(tmp_path):
    """Run an Ansible command line tool of this venv as a user would."""

    def _run(tool: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        environment = {
            **os.environ,
            "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
            "ANSIBLE_COLLECTIONS_PATH": str(COLLECTIONS_ROOT),
            "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-tmp"),
            "ANSIBLE_NOCOLOR": "1",
            **(env or {}),
        }
        command = [str(Path(sys.executable).parent / tool), *args]
        return subprocess.run(command, capture_output=True, text=True, env=environment, check=False, cwd=tmp_path)

    return _run
