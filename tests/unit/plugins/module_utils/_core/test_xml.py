"""The one safe XML parse and the masking of secrets."""

from __future__ import annotations

import pytest
from domain_samples import CANONICAL, parse

from ansible_collections.virtops.libvirt.plugins.module_utils._core import xml as dxml
from ansible_collections.virtops.libvirt.plugins.module_utils._core.errors import VirtOpsError


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
