"""What may appear in a message: URIs with their credentials redacted."""

from __future__ import annotations

import pytest

from ansible_collections.virtops.libvirt.plugins.module_utils._core.errors import redact_uri


@pytest.mark.parametrize(
    ("uri", "shown"),
    [
        ("qemu:///system", "qemu:///system"),
        ("test:///default", "test:///default"),
        ("qemu+ssh://root@kvm1/system?keyfile=/root/.ssh/id&no_verify=1", "qemu+ssh://root@kvm1/system?keyfile=/root/.ssh/id&no_verify=1"),
        ("qemu+tcp://admin:hunter2@kvm1:16509/system", "qemu+tcp://admin:********@kvm1:16509/system"),
        ("qemu+tls://kvm1/system?password=s3cret&pkipath=/etc/pki", "qemu+tls://kvm1/system?password=********&pkipath=/etc/pki"),
        ("esx://root:pw@[::1]/?no_verify=1", "esx://root:********@[::1]/?no_verify=1"),
    ],
)
def test_credentials_are_redacted(uri, shown):
    assert redact_uri(uri) == shown


def test_an_unparsable_uri_with_credentials_is_hidden_whole():
    assert redact_uri("qemu+tcp://a:b@[::1/system") == "********"
