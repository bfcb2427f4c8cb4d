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
    assert predicted["changed"] and predicted["differences"] == ["memory: 128 MiB -> 256 MiB", "currentMemory: 128 MiB -> 256 MiB (follows memory)"]
    applied = apply(conn, xml=mutated, diff_mode=True)
    assert applied["changed"] and applied["uuid"] == first["uuid"]
    domain = conn.lookupByName("web1")
    assert domain.maxMemory() == 256 * 1024
    assert f"mac address='{mac}'" in domain.XMLDesc(0)
    assert (
        _changed_lines(applied)
        == _changed_lines(predicted)
        == [
            '-  <memory unit="KiB">131072</memory>',
            '-  <currentMemory unit="KiB">131072</currentMemory>',
            '+  <memory unit="KiB">262144</memory>',
            '+  <currentMemory unit="KiB">262144</currentMemory>',
        ]
    )
    assert "s3cret" not in str(applied)
    assert apply(conn, xml=mutated)["changed"] is False


def _changed_lines(result):
    lines = difflib.unified_diff(result["diff"]["before"].splitlines(), result["diff"]["after"].splitlines(), lineterm="")
    return [line for line in lines if line[:1] in "+-" and line[:3] not in ("---", "+++")]


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
    assert apply(conn)["pending_restart"] == []
    mutated = XML.replace("<vcpu>1</vcpu>", "<vcpu>2</vcpu>")
    applied = apply(conn, xml=mutated)
    assert applied["pending_restart"] == ["/domain/vcpu: want '2', have '1'"]
    assert "runs on its previous definition until it next starts; waiting for that: /domain/vcpu" in applied["warnings"][0]
    again = apply(conn, xml=mutated)
    assert (again["changed"], again["pending_restart"]) == (False, applied["pending_restart"])  # still, until it restarts


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


def attach_out_of_band(conn, device: str) -> None:
    """As virsh attach-device --config does (the test driver has no attach): the stored
    definition, record included, with one more device."""
    stored = conn.lookupByName("web1").XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE | libvirt.VIR_DOMAIN_XML_SECURE)
    conn.defineXML(stored.replace("</devices>", f"{device}</devices>"))


def test_unowned_remove_removes_what_was_added_out_of_band(conn):
    apply(conn)
    domain = conn.lookupByName("web1")
    attach_out_of_band(conn, "<input type='tablet' bus='usb'/>")
    kept = apply(conn)
    assert kept["changed"] is False
    assert kept["differences"] == ["devices/input[#1]: not owned, kept (<input type='tablet' bus='usb'> was added outside the template)"]
    removed = apply(conn, unowned="remove")
    assert removed["changed"] and removed["differences"] == ["devices/input[#1]: removed, not owned (added outside the template; unowned=remove)"]
    assert "tablet" not in domain.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
    assert apply(conn, unowned="remove")["changed"] is False


# -- secrets ------------------------------------------------------------------------
SECRET_DEVICES = """<disk type='network' device='cdrom'>
      <source protocol='https' name='/x.iso' query='token=TOKEN1'><host name='example.com' port='443'/>
        <cookies><cookie name='session'>COOKIE1</cookie></cookies></source>
      <target dev='hdc' bus='ide'/><readonly/></disk>
    <graphics type='vnc' passwd='s3cret'/>"""
SECRET_XML = XML.replace("<graphics type='vnc' passwd='s3cret'/>", SECRET_DEVICES)


def test_no_output_shows_a_secret_but_libvirt_gets_them(conn):
    changed = SECRET_XML.replace("TOKEN1", "TOKEN2").replace("COOKIE1", "COOKIE2").replace("s3cret", "n3wpass")
    results = [
        apply(conn, xml=SECRET_XML, diff_mode=True),
        apply(conn, xml=changed, diff_mode=True, check_mode=True),
        apply(conn, xml=changed, diff_mode=True, unowned="remove"),
    ]
    shown = repr(results)
    assert not [secret for secret in ("TOKEN1", "TOKEN2", "COOKIE1", "COOKIE2", "s3cret", "n3wpass") if secret in shown]
    assert results[1]["changed"] and len(results[1]["differences"]) == 3
    secure = conn.lookupByName("web1").XMLDesc(libvirt.VIR_DOMAIN_XML_SECURE)
    assert "n3wpass" in secure and "COOKIE2" in secure and "TOKEN2" in secure


class RefusingConnection:
    """The test connection, whose define fails with a message quoting the XML."""

    def __init__(self, conn) -> None:
        self.conn = conn

    def __getattr__(self, attribute):
        return getattr(self.conn, attribute)

    def defineXMLFlags(self, xml, _flags):
        raise libvirt.libvirtError(f"cannot parse the definition: {xml}")


def test_a_libvirt_message_quoting_the_xml_is_scrubbed(conn):
    apply(conn, xml=SECRET_XML)
    request = DefinitionRequest(name="web1", xml=SECRET_XML.replace("s3cret", "n3wpass"))
    with Connection("test:///default", timeout=None) as client:
        client.raw = RefusingConnection(client.raw)
        with pytest.raises(VirtOpsError) as caught:
            DomainDefinition(client, request).run()
    shown = repr((caught.value.msg, caught.value.result))
    assert "cannot parse the definition" in shown and "<domain" in shown
    assert not [secret for secret in ("TOKEN1", "COOKIE1", "s3cret", "n3wpass") if secret in shown]
    assert caught.value.result["changed"] is False


# -- names ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "xml_name", "message"),
    [
        ("web1", " web1 ", "names the domain ' web1 ' but option name is 'web1'"),
        ("web1", "web1\n", "names the domain 'web1\\\\n' but option name is 'web1'"),
        (" web1", " web1", "Option name ' web1' begins or ends with blanks"),
    ],
)
def test_names_must_be_exact_and_without_surrounding_blanks(conn, name, xml_name, message):
    with pytest.raises(VirtOpsError, match=message):
        apply(conn, name=name, xml=XML.replace("<name>web1</name>", f"<name>{xml_name}</name>"))
    assert [d.name() for d in conn.listAllDomains()] == ["test"]


# -- failures carry what is known, and whether something was written -----------------
def test_a_failed_restart_after_a_define_reports_changed_and_every_field(conn, monkeypatch):
    from ansible_collections.virtops.libvirt.plugins.module_utils._definition import runner

    apply(conn)
    conn.lookupByName("web1").create()

    class TimingOut:
        def __init__(self, *_args) -> None:
            pass

        def run(self):
            raise VirtOpsError("Domain 'web1' did not finish a graceful shutdown within timeout=5 s", state="running")

    monkeypatch.setattr(runner, "PowerRunner", TimingOut)
    mutated = XML.replace("<vcpu>1</vcpu>", "<vcpu>2</vcpu>")
    with pytest.raises(VirtOpsError) as caught:
        apply(conn, xml=mutated, restart="if_pending", restart_timeout=5)
    assert caught.value.msg.startswith("restart=if_pending could not restart domain 'web1' within restart_timeout=5 s")
    result = caught.value.result
    assert result["changed"] is True  # the definition was written before the restart failed
    assert (result["name"], result["restarted"], result["pending_restart"]) == ("web1", False, ["/domain/vcpu: want '2', have '1'"])
    assert result["differences"] == ["vcpu: '1' -> '2'"] and "<vcpu" in result["definition"]
    assert result["uuid"] == conn.lookupByName("web1").UUIDString() and "state" not in result
    assert conn.lookupByName("web1").vcpusFlags(libvirt.VIR_DOMAIN_AFFECT_CONFIG) == 2


# -- absent: what goes with the domain only when asked for ----------------------------
@pytest.fixture
def saved_web1(conn):
    """web1 with a managed-save image and a snapshot (the test driver allows no
    checkpoint beside a snapshot); removed with all of it afterwards."""
    apply(conn)
    domain = conn.lookupByName("web1")
    domain.create()
    domain.snapshotCreateXML("<domainsnapshot><name>s1</name></domainsnapshot>", 0)
    domain.managedSave(0)
    yield domain
    _remove_everything(conn, "web1")


def _remove_everything(conn, name):
    for domain in conn.listAllDomains():
        if domain.name() == name:
            for checkpoint in domain.listAllCheckpoints(0):  # the test driver has no undefine flag for them
                checkpoint.delete(0)
            if domain.isActive():
                domain.destroy()
            domain.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA)


def test_absent_refuses_to_delete_a_saved_image_or_snapshots(conn, saved_web1):
    for check_mode in (True, False):
        with pytest.raises(VirtOpsError) as caught:
            apply(conn, state="absent", check_mode=check_mode)
        assert caught.value.msg == (
            "Domain 'web1' has a managed-save image and 1 snapshot(s); it is not removed, since that would delete "
            "them. Set remove_managed_save=true and remove_snapshots_metadata=true to remove them with the domain "
            "(the data of internal snapshots stays inside the disk images), or remove them first "
            "(virsh managedsave-remove, virsh snapshot-delete, virsh checkpoint-delete)."
        )
        assert caught.value.result["changed"] is False
    with pytest.raises(VirtOpsError, match=r"has 1 snapshot\(s\); .* Set remove_snapshots_metadata=true to remove it"):
        apply(conn, state="absent", remove_managed_save=True)
    with pytest.raises(VirtOpsError, match="has a managed-save image; it is not removed, since that would delete it"):
        apply(conn, state="absent", remove_snapshots_metadata=True)
    assert saved_web1.hasManagedSaveImage(0) and saved_web1.snapshotNum(0) == 1
    options = {"state": "absent", "remove_managed_save": True, "remove_snapshots_metadata": True}
    predicted = apply(conn, check_mode=True, **options)
    removed = apply(conn, **options)
    assert predicted["undefine_flags"] == removed["undefine_flags"] == ["managed_save", "snapshots_metadata"]
    assert [d.name() for d in conn.listAllDomains()] == ["test"]


def test_absent_refuses_to_delete_checkpoints_even_with_force(conn):
    apply(
        conn,
        xml=XML.replace(
            "<devices>", "<devices><disk type='file' device='disk'><source file='/web1.qcow2'/><driver name='qemu' type='qcow2'/><target dev='vda'/></disk>"
        ),
    )
    domain = conn.lookupByName("web1")
    domain.create()
    domain.checkpointCreateXML("<domaincheckpoint><name>c1</name></domaincheckpoint>", 0)
    try:
        with pytest.raises(VirtOpsError, match=r"has 1 checkpoint\(s\); .* Set remove_snapshots_metadata=true"):
            apply(conn, state="absent", force=True)
        assert domain.isActive()  # refused before powering it off
        predicted = apply(conn, state="absent", force=True, remove_snapshots_metadata=True, check_mode=True)
        assert predicted["changed"] and predicted["undefine_flags"] == ["checkpoints_metadata"]
        assert domain.isActive() and len(domain.listAllCheckpoints(0)) == 1
    finally:
        _remove_everything(conn, "web1")


def test_a_device_nobody_owns_is_reported_on_every_run_and_removed_when_asked(conn, defined_events):
    apply(conn)
    attach_out_of_band(conn, "<input type='tablet' bus='usb'/>")
    note = "devices/input[#1]: not owned, kept (<input type='tablet' bus='usb'> was added outside the template)"
    mutated = XML.replace("<vcpu>1</vcpu>", "<vcpu>2</vcpu>")
    assert apply(conn, xml=mutated)["differences"] == ["vcpu: '1' -> '2'", note]
    again = apply(conn, xml=mutated)  # the record now knows the tablet as nobody's
    assert (again["changed"], again["differences"]) == (False, [note])
    removed = apply(conn, xml=mutated, unowned="remove")
    assert removed["changed"] and "tablet" not in conn.lookupByName("web1").XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
    assert apply(conn, xml=mutated) == {**apply(conn, xml=mutated), "changed": False, "differences": []}


def test_a_template_made_from_dumpxml_settles(conn):
    apply(conn)
    dumped = conn.lookupByName("web1").XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE | libvirt.VIR_DOMAIN_XML_SECURE)
    assert "https://virtops.dev/xmlns/libvirt/applied/1" in dumped  # the record comes with it
    first = apply(conn, xml=dumped)
    assert first["changed"] and first["differences"] == [
        "the template changed since it was last applied, and libvirt's definition already holds it: only the applied record is written"
    ]
    assert apply(conn, xml=dumped)["changed"] is False


TWO_VDA = "<disk type='file'><source file='/a'/><target dev='vda'/></disk><disk type='file'><source file='/b'/><target dev='vda'/></disk>"


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("<memory unit='MiB'>128</memory>", "<memory unit='MiB'>-5</memory>"), "Type unsignedLong doesn't allow value '-5'"),
        (("<memory unit='MiB'>128</memory>", "<memory unit='MiB'>nan</memory>"), "doesn't allow value 'nan'"),
        (("<memory unit='MiB'>128</memory>", "<memory unit='MiB'>99999999999999999999999</memory>"), "unsignedLong"),
        (("<vcpu>1</vcpu>", "<vcpu>1</vcpu><memory>64</memory>"), "Invalid sequence in interleave"),
        (("<vcpu>1</vcpu>", "<uuid>not-a-uuid</uuid><vcpu>1</vcpu>"), "/domain/uuid"),
        (("<devices>", "<devices>" + TWO_VDA), "two devices with the identity 'disk dev=vda'"),
    ],
)
def test_a_careless_change_fails_in_check_mode_as_for_real_and_writes_nothing(conn, defined_events, edit, message):
    apply(conn)
    settle()
    before = conn.lookupByName("web1").XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE | libvirt.VIR_DOMAIN_XML_SECURE)
    bad = XML.replace(*edit)
    with pytest.raises(VirtOpsError, match=message) as predicted:
        apply(conn, xml=bad, check_mode=True)
    with pytest.raises(VirtOpsError) as real:
        apply(conn, xml=bad)
    assert predicted.value.result["changed"] is False and real.value.result["changed"] is False
    settle()
    assert defined_events == ["web1"]  # only the first apply wrote
    assert conn.lookupByName("web1").XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE | libvirt.VIR_DOMAIN_XML_SECURE) == before
