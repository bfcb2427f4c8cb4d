"""virt_domain's sequence on libvirt's in-process test driver: define only when
needed, check mode predicts the real run, identity is kept, undefine is careful."""

from __future__ import annotations

import difflib
import threading

import libvirt
import pytest

from ansible_collections.virtops.libvirt.plugins.module_utils._core.client import Connection, start_event_loop
from ansible_collections.virtops.libvirt.plugins.module_utils._core.errors import VirtOpsError
from ansible_collections.virtops.libvirt.plugins.module_utils._definition.runner import (
    DefinitionRequest,
    DomainDefinition,
)

XML = """<domain type='test'>
  <name>web1</name>
  <memory unit='MiB'>128</memory>
  <vcpu>1</vcpu>
  <os><type>hvm</type></os>
  <devices>
    <interface type='network'><source network='default'/></interface>
    <graphics type='vnc' passwd='s3cret'/>
  </devices>
</domain>"""


@pytest.fixture
def defined_events(conn):
    """Counts DEFINED lifecycle events (every write of a definition)."""
    start_event_loop()
    events = libvirt.open("test:///default")
    seen = []

    def on_event(_conn, dom, event, _detail, _opaque):
        if event == libvirt.VIR_DOMAIN_EVENT_DEFINED:
            seen.append(dom.name())

    callback = events.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, on_event, None)
    yield seen
    events.domainEventDeregisterAny(callback)
    events.close()


def apply(conn, **options):
    request = DefinitionRequest(**{"name": "web1", "xml": XML, **options})
    with Connection("test:///default", timeout=None) as client:
        return DomainDefinition(client, request).run()


def settle():
    threading.Event().wait(0.1)  # lets the event loop deliver what is pending


def test_define_then_nothing_to_do(conn, defined_events):
    predicted = apply(conn, check_mode=True)
    assert predicted["changed"] and predicted["differences"] == ["the domain is not defined"]
    with pytest.raises(libvirt.libvirtError):
        conn.lookupByName("web1")
    first = apply(conn)
    assert first["changed"] and first["uuid"]
    settle()
    assert defined_events == ["web1"]
    for check_mode in (True, False):
        again = apply(conn, check_mode=check_mode)
        assert (again["changed"], again["differences"]) == (False, [])
    settle()
    assert defined_events == ["web1"]  # the no-op runs wrote nothing


def test_a_mutation_is_predicted_applied_and_keeps_identity(conn):
    first = apply(conn)
    mac = conn.lookupByName("web1").XMLDesc(0).split("mac address='")[1][:17]
    mutated = XML.replace("<memory unit='MiB'>128</memory>", "<memory unit='MiB'>256</memory>")
    predicted = apply(conn, xml=mutated, check_mode=True, diff_mode=True)
    assert predicted["changed"] and predicted["differences"] == ["/domain/memory: want '256', have '131072'"]
    applied = apply(conn, xml=mutated, diff_mode=True)
    assert applied["changed"] and applied["uuid"] == first["uuid"]
    domain = conn.lookupByName("web1")
    assert domain.maxMemory() == 256 * 1024
    assert f"mac address='{mac}'" in domain.XMLDesc(0)
    assert "-  <memory unit=\"KiB\">131072</memory>" in _diff(applied)
    assert "s3cret" not in str(applied)
    assert apply(conn, xml=mutated)["changed"] is False


def _diff(result):
    return "".join(difflib.unified_diff(result["diff"]["before"].splitlines(True),
                                        result["diff"]["after"].splitlines(True)))


def test_name_mismatch_and_hostile_xml_change_nothing(conn):
    with pytest.raises(VirtOpsError, match="names the domain 'web1' but option name is 'web2'"):
        apply(conn, name="web2")
    with pytest.raises(VirtOpsError, match="document type declaration"):
        apply(conn, xml="<!DOCTYPE d [<!ENTITY e SYSTEM 'file:///etc/passwd'>]>" + XML)
    assert [d.name() for d in conn.listAllDomains()] == ["test"]


def test_libvirt_validation_error_is_returned_verbatim(conn):
    with pytest.raises(VirtOpsError) as caught:
        apply(conn, xml=XML.replace("<vcpu>1</vcpu>", "<vcpu>many</vcpu>"))
    assert caught.value.msg.startswith("libvirt refused the definition of domain 'web1' at URI 'test:///default': ")
    assert "vcpu" in caught.value.msg
    assert [d.name() for d in conn.listAllDomains()] == ["test"]


def test_name_is_taken_from_the_option_when_the_xml_has_none(conn):
    result = apply(conn, xml=XML.replace("<name>web1</name>", ""))
    assert result["changed"] and conn.lookupByName("web1")


def test_autostart(conn):
    apply(conn)
    assert apply(conn, autostart=True, check_mode=True)["changed"] is True
    assert conn.lookupByName("web1").autostart() == 0
    assert apply(conn, autostart=True)["changed"] is True
    assert conn.lookupByName("web1").autostart() == 1
    assert apply(conn, autostart=True)["changed"] is False


def test_pending_restart_when_the_running_definition_is_older(conn):
    apply(conn)
    conn.lookupByName("web1").create()
    assert apply(conn)["pending_restart"] is False
    mutated = XML.replace("<vcpu>1</vcpu>", "<vcpu>2</vcpu>")
    assert apply(conn, xml=mutated)["pending_restart"] is True
    assert apply(conn, xml=mutated)["pending_restart"] is True  # still, until it restarts


def test_absent(conn):
    assert apply(conn, state="absent")["changed"] is False
    apply(conn)
    domain = conn.lookupByName("web1")
    domain.create()
    with pytest.raises(VirtOpsError, match="is running, so it is not undefined"):
        apply(conn, state="absent")
    predicted = apply(conn, state="absent", force=True, check_mode=True)
    assert predicted["changed"] and domain.isActive()
    removed = apply(conn, state="absent", force=True)
    assert removed["changed"] and removed["undefine_flags"] == []
    assert [d.name() for d in conn.listAllDomains()] == ["test"]


def test_exact_match_records_and_detects_additions(conn, defined_events):
    first = apply(conn, match="exact")
    assert first["changed"]
    assert apply(conn, match="exact")["changed"] is False
    assert apply(conn)["changed"] is False  # subset holds too
    domain = conn.lookupByName("web1")
    conn.defineXML(domain.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE | libvirt.VIR_DOMAIN_XML_SECURE).replace(
        "</devices>", "<input type='tablet' bus='usb'/></devices>"))
    assert apply(conn)["changed"] is False  # subset: an addition is no difference
    assert apply(conn, match="exact")["differences"] == ["the definition was changed since it was applied"]
