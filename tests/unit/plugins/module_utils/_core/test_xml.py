"""The one safe XML parse and the masking of secrets."""

from __future__ import annotations

import pytest

from ansible_collections.virtops.libvirt.plugins.module_utils._core import xml as dxml
from ansible_collections.virtops.libvirt.plugins.module_utils._core.errors import VirtOpsError

CANONICAL = """<domain type='qemu'>
  <name>web1</name>
  <uuid>6695eb01-f6a4-8304-79aa-97f2502e193f</uuid>
  <memory unit='KiB'>1048576</memory>
  <vcpu placement='static'>2</vcpu>
  <os><type arch='x86_64' machine='pc-i440fx-7.2'>hvm</type><boot dev='hd'/></os>
  <cpu><numa><cell id='0' cpus='0-1' memory='1048576' unit='KiB'/></numa></cpu>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'><source file='/a.qcow2'/><target dev='vda' bus='virtio'/>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x04' function='0x0'/></disk>
    <disk type='file' device='disk'><source file='/b.qcow2'/><target dev='vdb' bus='virtio'/></disk>
    <controller type='usb' index='0' model='piix3-uhci'/>
    <interface type='network'><mac address='52:54:00:aa:bb:cc'/><source network='default'/><model type='virtio'/></interface>
    <interface type='network'><mac address='52:54:00:dd:ee:ff'/><source network='default'/><model type='e1000'/></interface>
    <graphics type='vnc' port='-1' autoport='yes' passwd='s3cret'/>
  </devices>
</domain>"""

DESIRED = """<domain type='qemu'>
  <name>web1</name>
  <memory unit='GiB'>1</memory>
  <vcpu>2</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <cpu><numa><cell id='0' cpus='0-1' memory='1' unit='GiB'/></numa></cpu>
  <devices>
    <disk type='file' device='disk'><source file='/b.qcow2'/><target dev='vdb' bus='virtio'/></disk>
    <disk type='file' device='disk'><source file='/a.qcow2'/><target dev='vda' bus='virtio'/>
      <address type='pci' slot='4'/></disk>
    <interface type='network'><source network='default'/><model type='virtio'/></interface>
    <interface type='network'><mac address='52:54:00:DD:EE:FF'/><source network='default'/><model type='e1000'/></interface>
    <graphics type='vnc' passwd='s3cret'/>
  </devices>
</domain>"""


def parse(text):
    return dxml.parse_domain(text)


@pytest.mark.parametrize(
    "hostile",
    [
        "<!DOCTYPE domain [<!ENTITY x SYSTEM 'file:///etc/shadow'>]><domain><name>&x;</name></domain>",
        "<!DOCTYPE domain SYSTEM 'http://example.com/evil.dtd'><domain/>",
        "<?xml version='1.0'?>\n<!doctype domain><domain/>",
    ],
)
def test_dtds_and_entities_are_refused(hostile):
    with pytest.raises(VirtOpsError, match="document type declaration|not well-formed"):
        parse(hostile)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("<domain><name>x</name>", "not well-formed"),
        ("<network><name>x</name></network>", "is a <network>, not a <domain>"),
    ],
)
def test_malformed_xml_is_a_clear_error(text, message):
    with pytest.raises(VirtOpsError, match=message):
        parse(text)


def test_secrets_are_masked():
    text = dxml.to_text(parse(CANONICAL))
    assert "s3cret" not in text and f'passwd="{dxml.MASK}"' in text


SECRETS_XML = """<domain type='qemu'>
  <name>web1</name>
  <metadata><app:cookie xmlns:app='https://example.com/app'>not-a-secret</app:cookie></metadata>
  <devices>
    <disk type='network' device='cdrom'>
      <source protocol='https' name='/x.iso' query='token=QUERYSECRET'><host name='example.com' port='443'/>
        <cookies><cookie name='session'>COOKIESECRET</cookie></cookies></source>
      <target dev='hdc' bus='ide'/><readonly/>
    </disk>
    <graphics type='vnc' passwd='VNCSECRET'/>
    <graphics type='spice' passwd='SPICESECRET'/>
  </devices>
  <launchSecurity type='sev'><session>SESSIONSECRET</session></launchSecurity>
</domain>"""
SECRETS = ("QUERYSECRET", "COOKIESECRET", "VNCSECRET", "SPICESECRET", "SESSIONSECRET")


def test_every_secret_place_is_masked_and_nothing_else():
    root = parse(SECRETS_XML)
    text = dxml.to_text(root)
    assert not [secret for secret in SECRETS if secret in text]
    assert text.count(dxml.MASK) == len(SECRETS)
    assert "not-a-secret" in text  # an application's metadata is its own: never touched
    assert "VNCSECRET" in dxml.to_libvirt(root)  # what libvirt gets keeps them


def test_secret_values_and_scrub():
    found = dxml.secret_values(parse(SECRETS_XML))
    assert found == {"token=QUERYSECRET", "COOKIESECRET", "VNCSECRET", "SPICESECRET", "SESSIONSECRET"}
    message = "error near passwd='VNCSECRET' and cookie COOKIESECRET"
    assert dxml.scrub(message, found) == f"error near passwd='{dxml.MASK}' and cookie {dxml.MASK}"


@pytest.mark.parametrize("declared", ["ISO-8859-1", "latin1", "UTF-16", "US-ASCII"])
def test_text_is_read_as_utf8_whatever_the_declaration_says(declared):
    root = parse(f'<?xml version="1.0" encoding="{declared}"?>\n<domain><name>web1</name><description>café ☕</description></domain>')
    assert root.findtext("description") == "café ☕"
    assert "<description>café ☕</description>" in dxml.to_libvirt(root)


def test_a_utf7_declaration_cannot_smuggle_a_doctype():
    hostile = (
        '<?xml version="1.0" encoding="UTF-7"?>'
        "+ADw-!DOCTYPE domain +AFs-+ADw-!ENTITY x SYSTEM 'file:///etc/passwd'+AD4-+AF0-+AD4-"
        "<domain><name>&x;</name></domain>"
    )
    with pytest.raises(VirtOpsError, match="not well-formed"):
        parse(hostile)


def test_comments_and_cdata_may_say_doctype():
    root = parse(
        "<domain><!-- <!DOCTYPE d [<!ENTITY e SYSTEM 'file:///etc/passwd'>]> -->"
        "<name>web1</name><description><![CDATA[<!DOCTYPE x> <!ENTITY y 'z'>]]></description></domain>"
    )
    assert root.findtext("description") == "<!DOCTYPE x> <!ENTITY y 'z'>"
    assert "&lt;!DOCTYPE x&gt;" in dxml.to_libvirt(root)
