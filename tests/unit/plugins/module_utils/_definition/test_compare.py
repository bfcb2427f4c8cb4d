"""The domain XML comparison: subset matching with libvirt's normalisations."""

from __future__ import annotations

import pytest
from domain_samples import CANONICAL, DESIRED, parse

from ansible_collections.virtops.libvirt.plugins.module_utils._definition.compare import differences


def test_libvirt_normalisations_are_not_differences():
    assert differences(parse(DESIRED), parse(CANONICAL)) == []


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("<memory unit='GiB'>1</memory>", "<memory unit='GiB'>2</memory>"),
        ("<vcpu>2</vcpu>", "<vcpu>3</vcpu>"),
        ("source file='/b.qcow2'", "source file='/c.qcow2'"),
        ("<model type='e1000'/>", "<model type='rtl8139'/>"),
        ("machine='pc'", "machine='q35'"),
        ("passwd='s3cret'", "passwd='other'"),
        ("memory='1' unit='GiB'", "memory='2' unit='GiB'"),
        ("<name>web1</name>", "<name>web1</name><description>new</description>"),
    ],
)
def test_a_single_field_mutation_is_a_difference(old, new):
    assert old in DESIRED
    found = differences(parse(DESIRED.replace(old, new)), parse(CANONICAL))
    assert len(found) == 1, found


COOKIE_DISK = """<disk type='network' device='cdrom'>
      <source protocol='https' name='/x.iso' query='token=OLDTOKEN'><host name='example.com' port='443'/>
        <cookies><cookie name='session'>OLDCOOKIE</cookie></cookies></source>
      <target dev='hdc' bus='ide'/><readonly/></disk>
    <graphics type='vnc' port='-1' autoport='yes' passwd='s3cret'/>"""


def test_differences_never_show_a_secret():
    current = parse(CANONICAL.replace("<graphics type='vnc' port='-1' autoport='yes' passwd='s3cret'/>", COOKIE_DISK))
    desired = parse(
        DESIRED.replace(
            "<graphics type='vnc' passwd='s3cret'/>", COOKIE_DISK.replace("OLDTOKEN", "NEWTOKEN").replace("OLDCOOKIE", "NEWCOOKIE").replace("s3cret", "n3wpass")
        )
    )
    found = differences(desired, current)
    assert len(found) == 3, found
    shown = "\n".join(found)
    assert not [secret for secret in ("OLDTOKEN", "NEWTOKEN", "OLDCOOKIE", "NEWCOOKIE", "s3cret", "n3wpass") if secret in shown], shown
    assert "/domain/devices/graphics/@passwd: want '********', have '********'" in found
