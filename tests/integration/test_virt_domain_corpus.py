"""Property-style tests of virt_domain's comparison over a corpus of real-world
domain definitions (tests/corpus/domains), on the real QEMU driver.

For every definition: the first apply defines it; a check-mode re-apply and a
re-apply report no change, and the re-apply writes nothing (no DEFINED event);
each single-field mutation that applies to it (memory, vcpu, a disk source, a
NIC model, the description) is predicted by check mode, applied, and then
stable. The counts are printed at the end (pytest -s, or the summary line).
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


def apply(conn, name: str, xml: str, check_mode: bool = False) -> dict:
    request = DefinitionRequest(name=name, xml=xml, check_mode=check_mode)
    return DomainDefinition(conn, request).run()


@pytest.mark.parametrize("path", CORPUS, ids=[path.stem for path in CORPUS])
def test_corpus_definition(conn, defines, path):
    xml = path.read_text()
    name = re.search(r"<name>([^<]+)</name>", xml).group(1)
    try:
        assert apply(conn, name, xml, check_mode=True)["changed"]
        assert apply(conn, name, xml)["changed"]
        COUNTS["defined"] += 1
        assert writes(defines, name) == 1
        check = apply(conn, name, xml, check_mode=True)
        assert not check["changed"], check["differences"]
        COUNTS["check-mode re-apply unchanged"] += 1
        again = apply(conn, name, xml)
        assert not again["changed"], again["differences"]
        assert writes(defines, name) == 1
        COUNTS["re-apply unchanged, no write"] += 1
        added = {"description"} if "<description>" not in xml else set()
        for field, mutated in mutations(xml).items():
            predicted = apply(conn, name, mutated, check_mode=True)
            assert predicted["changed"], f"{field}: check mode missed it"
            applied = apply(conn, name, mutated)
            assert applied["changed"] and applied["differences"] == predicted["differences"], field
            assert not apply(conn, name, mutated)["changed"], f"{field}: not stable after it was applied"
            if field not in added:  # (subset: dropping what the original never said is no change)
                assert apply(conn, name, xml, check_mode=True)["changed"], f"{field}: reverting it not predicted"
                apply(conn, name, xml)  # back to the original for the next mutation
            COUNTS[f"mutation detected: {field}"] += 1
    finally:
        with contextlib.suppress(libvirt.libvirtError):  # not defined if the first apply failed
            conn.raw.lookupByName(name).undefineFlags(UNDEFINE)


def test_corpus_is_large_and_every_definition_passed():
    assert len(CORPUS) >= 100
    assert COUNTS["re-apply unchanged, no write"] == COUNTS["defined"] == len(CORPUS)
