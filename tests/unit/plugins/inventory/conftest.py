"""Ansible's plugin loader for the inventory plugin's tests, with this checkout as
the collection virtops.libvirt (Ansible's command line tools run against it in
tests/integration/test_inventory_cli.py)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path


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


_use_ansibles_collection_loader()
