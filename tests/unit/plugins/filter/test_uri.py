# Copyright: (c) 2026, virtops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The filter redact_uri: the modules' own redaction, for URIs and virt_drain targets."""

from __future__ import annotations

import pytest

from ansible_collections.virtops.libvirt.plugins.filter.uri import FilterModule
from ansible_collections.virtops.libvirt.plugins.module_utils._core.errors import redact_uri

FILTER = FilterModule().filters()["redact_uri"]


@pytest.mark.parametrize(
    "uri",
    [
        "qemu:///system",
        "qemu+tcp://admin:s3cret@kvm1/system",
        "qemu+tls://kvm1/system?password=s3cret&no_verify=1",
        "qemu+ssh://root@kvm1/system?keyfile=/root/.ssh/id",
        "qemu+unix:///system?socket=/var/lib/virtops/hv2/sock/libvirt-sock",
    ],
)
def test_the_filter_hides_what_the_modules_hide(uri):
    assert FILTER(uri) == redact_uri(uri)
    assert FILTER({"uri": uri, "migrate_uri": "tcp://10.0.0.2"}) == redact_uri(uri)
    assert "s3cret" not in FILTER(uri)
