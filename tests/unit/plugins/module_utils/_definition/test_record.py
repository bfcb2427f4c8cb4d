"""The last-applied record: kept in its own metadata namespace, read back exactly,
refused when damaged, and blind to secrets and to itself."""

from __future__ import annotations

import base64
import zlib

import libvirt

from ansible_collections.virtops.libvirt.plugins.module_utils._core import xml as dxml
from ansible_collections.virtops.libvirt.plugins.module_utils._definition import record as drecord

XML = """<domain type='test'>
  <name>rec1</name>
  <memory unit='MiB'>64</memory>
  <os><type>hvm</type></os>
  <metadata><virtops:tags xmlns:virtops='https://virtops.dev/xmlns/libvirt/1'><virtops:tag>web</virtops:tag></virtops:tags></metadata>
  <devices><graphics type='vnc' passwd='s3cret'/></devices>
</domain>"""


def sample() -> drecord.Record:
    desired = dxml.parse_domain(XML)
    return drecord.Record(
        desired=drecord.normalised(desired), fingerprint="f" * 64, owned=["graphics #1"], seen=["graphics #1", "memory"], removed=["disk dev=vdb"]
    )


def test_a_record_reads_back_as_written_beside_the_tags():
    root = drecord.with_record(dxml.parse_domain(XML), sample())
    assert len(root.find("metadata")) == 2  # the tags keep their own namespace
    found, damage = drecord.read(root)
    assert damage == "" and found == sample()
    assert drecord.without_record(root).find("metadata") is not None
    assert drecord.read(dxml.parse_domain(XML)) == (None, "")


def test_libvirt_keeps_it_and_set_metadata_replaces_it(conn):
    domain = conn.defineXML(dxml.to_libvirt(drecord.with_record(dxml.parse_domain(XML), sample())))
    newer = sample()
    newer.fingerprint = "0" * 64
    text = dxml.etree.tostring(newer.element(namespaced=False), encoding="unicode")
    domain.setMetadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, text, drecord.PREFIX, drecord.NAMESPACE, libvirt.VIR_DOMAIN_AFFECT_CONFIG)
    stored = dxml.parse_domain(domain.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE | libvirt.VIR_DOMAIN_XML_SECURE))
    assert drecord.read(stored) == (newer, "")
    assert "s3cret" not in newer.desired.decode()  # the record keeps secrets masked
    domain.undefine()


def test_the_normal_form_ignores_layout_and_the_record_but_not_values():
    compact = dxml.parse_domain(XML.replace("\n  ", ""))
    assert drecord.normalised(compact) == drecord.normalised(dxml.parse_domain(XML))
    recorded = drecord.with_record(dxml.parse_domain(XML), sample())
    assert drecord.normalised(recorded) == drecord.normalised(dxml.parse_domain(XML))
    assert drecord.normalised(dxml.parse_domain(XML.replace("64", "65"))) != drecord.normalised(compact)


def test_the_fingerprint_leaves_out_the_record_and_masks_secrets():
    plain = dxml.parse_domain(XML)
    assert drecord.fingerprint(drecord.with_record(plain, sample())) == drecord.fingerprint(plain)
    assert drecord.fingerprint(dxml.parse_domain(XML.replace("s3cret", "other"))) == drecord.fingerprint(plain)
    assert drecord.fingerprint(dxml.parse_domain(XML.replace("64", "65"))) != drecord.fingerprint(plain)


def test_secrets_are_compared_by_value():
    plain = dxml.parse_domain(XML)
    assert drecord.secrets_held(plain, plain)
    assert not drecord.secrets_held(dxml.parse_domain(XML.replace("s3cret", "n3w")), plain)


def damaged(**change) -> tuple:
    element = sample().element()
    for name, value in change.items():
        if name == "text":
            element.text = value
        else:
            element.set(name, value)
    root = dxml.parse_domain(XML)
    root.find("metadata").append(element)
    return drecord.read(root)


def test_a_damaged_or_foreign_record_is_not_used():
    assert damaged(version="2")[1] == "its applied record has version '2', this collection writes version 1"
    assert "damaged" in damaged(text="not base64!")[1]
    assert "damaged" in damaged(text=base64.b64encode(b"not zlib").decode())[1]
    assert "damaged" in damaged(owned='{"a": 1}')[1]
    assert "damaged" in damaged(text=base64.b64encode(zlib.compress(b"<notadomain/>")).decode())[1]
    bomb = base64.b64encode(zlib.compress(b" " * (5 * 1024 * 1024))).decode()
    found, damage = damaged(text=bomb)
    assert found is None and "larger than" in damage


def test_still_applied_reads_the_records_attributes_alone():
    desired = dxml.parse_domain(XML)
    applied = sample()
    applied.fingerprint = drecord.fingerprint(desired)
    current = drecord.with_record(desired, applied)
    assert drecord.still_applied(desired, current)
    assert not drecord.still_applied(dxml.parse_domain(XML.replace("64", "65")), current)  # another template
    assert not drecord.still_applied(dxml.parse_domain(XML.replace("s3cret", "other")), current)  # another secret
    drifted = drecord.with_record(dxml.parse_domain(XML.replace("web", "db")), applied)
    assert not drecord.still_applied(desired, drifted)  # changed since
    applied.foreign = ["input #1"]
    assert not drecord.still_applied(desired, drecord.with_record(desired, applied))  # reported on every run
