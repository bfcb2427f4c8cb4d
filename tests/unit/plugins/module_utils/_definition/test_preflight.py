"""What virt_domain refuses before writing, in check mode too: another domain's UUID,
a new UUID for an existing domain, two devices with one identity, libvirt's schema."""

from __future__ import annotations

import pytest

from ansible_collections.virtops.libvirt.plugins.module_utils._core import xml as dxml
from ansible_collections.virtops.libvirt.plugins.module_utils._core.errors import VirtOpsError
from ansible_collections.virtops.libvirt.plugins.module_utils._definition.preflight import check

XML = "<domain type='test'><name>pre1</name><memory>65536</memory><os><type>hvm</type></os><devices>{}</devices></domain>"
DISK = "<disk type='file' device='disk'><source file='/{0}.img'/><target dev='vda'/></disk>"


def test_the_uuid_of_another_domain_is_refused(client, conn):
    taken = conn.lookupByName("test").UUIDString()
    desired = dxml.parse_domain(XML.format("").replace("<memory>", f"<uuid>{taken}</uuid><memory>"))
    for check_mode in (True, False):
        with pytest.raises(VirtOpsError, match=f"the UUID {taken}, which domain 'test' already has"):
            check(client, "pre1", desired, None, desired, check_mode)


def test_a_domains_uuid_cannot_change(client, conn):
    current = dxml.parse_domain(conn.lookupByName("test").XMLDesc(0))
    desired = dxml.parse_domain(XML.format("").replace("pre1", "test").replace("<memory>", "<uuid>00000000-0000-0000-0000-000000000001</uuid><memory>"))
    with pytest.raises(VirtOpsError, match="a domain's UUID cannot change"):
        check(client, "test", desired, current, None, True)
    same = current.findtext("uuid").replace("-", "").upper()  # libvirt's spelling or not, it is the same UUID
    check(client, "test", dxml.parse_domain(XML.format("").replace("pre1", "test").replace("<memory>", f"<uuid>{same}</uuid><memory>")), current, None, True)


def test_two_devices_with_one_identity_are_refused(client):
    merged = dxml.parse_domain(XML.format(DISK.format("a") + DISK.format("b")))
    with pytest.raises(VirtOpsError, match="two devices with the identity 'disk dev=vda'"):
        check(client, "pre1", merged, None, merged, False)


def test_check_mode_validates_against_libvirts_schema(client):
    merged = dxml.parse_domain(XML.format("").replace("</devices>", "</devices><on_poweroff>explode</on_poweroff>"))
    with pytest.raises(VirtOpsError, match=r"does not follow libvirt's schema \(domain.rng\).*on_poweroff"):
        check(client, "pre1", merged, None, merged, True)
    check(client, "pre1", merged, None, merged, False)  # a real run lets libvirt validate
