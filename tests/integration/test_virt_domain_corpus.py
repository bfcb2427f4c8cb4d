"""Property-style tests of virt_domain's comparison over a corpus of real-world
domain definitions (tests/corpus/domains), on the real QEMU driver.

For every definition, with unowned=keep and with unowned=remove: the first apply
defines it; a check-mode re-apply and a re-apply report no change, and the
re-apply writes nothing (no DEFINED event); each single-field mutation that
applies to it (memory, vcpu, a disk source, a NIC model, the description) is
predicted by check mode (the same differences, the same definition as the real
run), applied, and then stable, and so is going back. A definition made outside
the module (plain defineXML, no record) is adopted by the first apply and settles
on the second. The counts are printed at the end (pytest -s, or the summary line).
"""

from __future__ import annotations

import collections
import contextlib
import re
import subprocess
import threading
import time

import libvirt
import pytest
from mutations import mutations
from virt_harness import ROOT, URI

from ansible_collections.virtops.libvirt.plugins.module_utils._core.client import Connection
from ansible_collections.virtops.libvirt.plugins.module_utils._definition.runner import (
    DefinitionRequest,
    DomainDefinition,
)

CORPUS = sorted((ROOT / "tests" / "corpus" / "domains").glob("*.xml"))
UNDEFINE = (
    libvirt.VIR_DOMAIN_UNDEFINE_NVRAM
    | libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE
    | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
    | libvirt.VIR_DOMAIN_UNDEFINE_TPM
)
COUNTS: collections.Counter = collections.Counter()


@pytest.fixture(scope="module")
def conn():
    subprocess.run(["bash", str(ROOT / "tests" / "corpus" / "make_images.sh")], check=True, capture_output=True)
    connection = Connection(URI, events=True)
    yield connection
    connection.close()


@pytest.fixture(scope="module")
def defines(conn):
    """Names of the domains libvirt reports DEFINED for (each write of a definition)."""
    seen: list[str] = []
    lock = threading.Lock()

    def on_event(_conn, dom, event, _detail, _opaque):
        if event == libvirt.VIR_DOMAIN_EVENT_DEFINED:
            with lock:
                seen.append(dom.name())

    callback = conn.raw.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, on_event, None)
    yield seen
    conn.raw.domainEventDeregisterAny(callback)


def writes(defines: list[str], name: str) -> int:
    time.sleep(0.05)  # lets the event loop deliver what libvirt has sent
    return defines.count(name)


def apply(conn, name: str, xml: str, check_mode: bool = False, unowned: str = "keep") -> dict:
    request = DefinitionRequest(name=name, xml=xml, check_mode=check_mode, unowned=unowned)
    return DomainDefinition(conn, request).run()


def name_of(xml: str) -> str:
    return re.search(r"<name>([^<]+)</name>", xml).group(1)


def undefine(conn, name: str) -> None:
    with contextlib.suppress(libvirt.libvirtError):  # not defined if the first apply failed
        conn.raw.lookupByName(name).undefineFlags(UNDEFINE)


def change_then_settle(conn, name: str, xml: str, unowned: str, what: str) -> dict:
    """Check mode predicts the change exactly (differences and definition); the real
    run changes it; the next run is a no-op. (The caller counts the writes: one each.)"""
    predicted = apply(conn, name, xml, check_mode=True, unowned=unowned)
    assert predicted["changed"], f"{what}: check mode missed it"
    applied = apply(conn, name, xml, unowned=unowned)
    assert applied["changed"] and applied["differences"] == predicted["differences"], what
    if predicted["definition"] == applied["definition"]:
        COUNTS[f"{unowned}: check mode predicted the very definition"] += 1
    again = apply(conn, name, xml, unowned=unowned)
    assert not again["changed"], f"{what}: not stable after it was applied: {again['differences']}"
    return applied


@pytest.mark.parametrize("unowned", ["keep", "remove"])
@pytest.mark.parametrize("path", CORPUS, ids=[path.stem for path in CORPUS])
def test_corpus_definition(conn, defines, path, unowned):
    xml = path.read_text()
    name = name_of(xml)
    start = writes(defines, name)  # (the same names come back with the other unowned)
    try:
        change_then_settle(conn, name, xml, unowned, "the first apply")
        assert writes(defines, name) == start + 1, "check mode or the no-op wrote"
        COUNTS[f"{unowned}: defined, re-apply unchanged, no write"] += 1
        changes = mutations(xml)
        for field, mutated in changes.items():
            change_then_settle(conn, name, mutated, unowned, field)
            change_then_settle(conn, name, xml, unowned, f"{field} reverted")
            COUNTS[f"{unowned}: mutation detected and reverted: {field}"] += 1
        assert writes(defines, name) == start + 1 + 2 * len(changes), "not one define per change, none in check mode or a no-op"
    finally:
        undefine(conn, name)


@pytest.mark.parametrize("path", CORPUS, ids=[path.stem for path in CORPUS])
def test_corpus_definition_made_outside_is_adopted_then_settles(conn, defines, path):
    xml = path.read_text()
    name = name_of(xml)
    start = writes(defines, name)
    try:
        conn.raw.defineXMLFlags(xml, libvirt.VIR_DOMAIN_DEFINE_VALIDATE)
        adopted = change_then_settle(conn, name, xml, "keep", "adoption")
        assert writes(defines, name) == start + 2, "not one define for the adoption"
        assert adopted["adopted"] and adopted["differences"][-1].startswith("adopted: it has no applied record")
        COUNTS["adopted, then settled"] += 1
    finally:
        undefine(conn, name)


def test_corpus_is_large_and_every_definition_passed():
    assert len(CORPUS) >= 140
    for unowned in ("keep", "remove"):
        assert COUNTS[f"{unowned}: defined, re-apply unchanged, no write"] == len(CORPUS)
    assert COUNTS["adopted, then settled"] == len(CORPUS)
