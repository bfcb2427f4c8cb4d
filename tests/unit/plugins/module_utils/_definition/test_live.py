"""Whether a running domain runs on an older definition than its persistent one,
on libvirt's test driver, and what of a live definition exists only while it runs."""

from __future__ import annotations

import libvirt

from ansible_collections.virtops.libvirt.plugins.module_utils._core import xml as dxml
from ansible_collections.virtops.libvirt.plugins.module_utils._definition.live import (
    pending_restart,
    persistent_xml,
    runtime_free,
)

XML = """<domain type='test'>
  <name>live1</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type>hvm</type></os>
  <devices><graphics type='vnc' port='5901' passwd='s3cret'/></devices>
</domain>"""


def test_pending_only_while_active_and_changed(client, conn):
    domain = conn.defineXML(XML)
    assert pending_restart(client, domain, "live1") is False  # shut off: nothing runs on an old definition
    domain.create()
    assert pending_restart(client, domain, "live1") is False
    conn.defineXML(XML.replace("<vcpu>1</vcpu>", f"<uuid>{domain.UUIDString()}</uuid><vcpu>2</vcpu>"))
    assert pending_restart(client, domain, "live1") is True


def test_a_transient_domain_has_nothing_pending(client, conn):
    domain = conn.createXML(XML, 0)
    assert pending_restart(client, domain, "live1") is False


def test_the_persistent_definition_holds_secrets_for_comparison_only(client, conn):
    domain = conn.defineXML(XML)
    text = persistent_xml(client, domain, "live1")
    assert "passwd='s3cret'" in text or 'passwd="s3cret"' in text  # read with VIR_DOMAIN_XML_SECURE
    assert "s3cret" not in dxml.to_text(dxml.parse_domain(text))  # and masked wherever it is shown
    assert domain.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE).count("s3cret") == 0


def test_runtime_values_are_left_out():
    live = dxml.parse_domain(
        "<domain type='qemu' id='7'><name>x</name><seclabel type='dynamic'/><devices>"
        "<interface type='network'><target dev='vnet0'/><alias name='net0'/></interface>"
        "<serial type='pty'><source path='/dev/pts/3'/></serial>"
        "<graphics type='vnc' port='5900' websocket='5700'/></devices></domain>"
    )
    cleaned = dxml.to_text(runtime_free(live))
    for runtime in ("id=", "seclabel", "vnet0", "alias", "/dev/pts/3", "5900", "5700"):
        assert runtime not in cleaned, runtime
    assert "<graphics" in cleaned and "<interface" in cleaned and "<serial" in cleaned


def test_the_backing_chain_read_at_start_is_left_out():
    # What libvirt shows of a running overlay disk (a volume of a pool): its backing
    # chain, read from the images when the domain started, and an index per source.
    live = dxml.parse_domain(
        "<domain type='qemu' id='3'><name>x</name><devices>"
        "<disk type='volume' device='disk'><source pool='vms' volume='x.qcow2' index='2'/>"
        "<backingStore type='file' index='3'><format type='qcow2'/><source file='/images/base.qcow2'/><backingStore/></backingStore>"
        "<target dev='vda' bus='virtio'/></disk>"
        "<disk type='volume' device='cdrom'><source pool='vms' volume='x-seed.iso' index='1'/><backingStore/>"
        "<target dev='sda' bus='scsi'/><readonly/></disk></devices></domain>"
    )
    cleaned = dxml.to_text(runtime_free(live))
    assert "backingStore" not in cleaned and "index=" not in cleaned
    assert cleaned.count("<disk") == 2 and 'volume="x.qcow2"' in cleaned.replace("'", '"')
