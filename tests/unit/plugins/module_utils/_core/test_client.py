"""The one way to libvirt: connecting within a deadline, mapping every libvirt
error to a message naming the domain and the URI (redacted), finding domains."""

from __future__ import annotations

import re

import pytest

from ansible_collections.virtops.libvirt.plugins.module_utils._core.client import Connection
from ansible_collections.virtops.libvirt.plugins.module_utils._core.errors import VirtOpsError


def test_unknown_domain_names_the_uri(client):
    with pytest.raises(VirtOpsError, match="No domain named 'nope' at URI 'test:///default'"):
        client.lookup(name="nope")
    with pytest.raises(VirtOpsError, match="No domain with UUID"):
        client.lookup(uuid="00000000-0000-0000-0000-000000000001")


@pytest.mark.parametrize("uri", ["qemu+unix:///system?socket=/nonexistent/sock", "bogus:///x"])
def test_unreachable_or_invalid_uri(uri):
    with pytest.raises(VirtOpsError, match=re.escape(f"Cannot connect to libvirt at URI '{uri}'")):
        Connection(uri)
