"""DomainLister on libvirt's in-process test driver: bulk reads, and domains
that vanish between the listing and the detail calls."""

from __future__ import annotations

import pytest

from ansible_collections.virtops.libvirt.plugins.module_utils._core.errors import VirtOpsError
from ansible_collections.virtops.libvirt.plugins.module_utils._core.states import OBSERVED_STATES
from ansible_collections.virtops.libvirt.plugins.module_utils._info.module import (
    STATE_TEXT,
    DomainLister,
    InfoRequest,
)


class VanishingConnection:
    """The test connection, on which the named transient domains stop right
    after the statistics call (as if they shut down meanwhile)."""

    def __init__(self, conn, vanishing: list[str]) -> None:
        self.conn = conn
        self.vanishing = vanishing

    def __getattr__(self, attribute):
        return getattr(self.conn, attribute)

    def _stop_them(self, result):
        for name in self.vanishing:
            self.conn.lookupByName(name).destroy()
        return result

    def getAllDomainStats(self, *args):
        return self._stop_them(self.conn.getAllDomainStats(*args))

    def domainListGetStats(self, *args):
        return self._stop_them(self.conn.domainListGetStats(*args))


def vanishing(client, names):
    client.raw = VanishingConnection(client.raw, names)
    return client


def test_a_domain_that_vanishes_is_left_out(client, make_domain):
    make_domain("gone", transient=True)
    make_domain("stays")
    domains = DomainLister(vanishing(client, ["gone"]), InfoRequest()).run()
    assert [entry["name"] for entry in domains] == ["stays", "test"]


def test_the_domain_asked_for_by_name_vanishing_is_an_error(client, make_domain):
    make_domain("gone", transient=True)
    lister = DomainLister(vanishing(client, ["gone"]), InfoRequest(name="gone"))
    with pytest.raises(VirtOpsError, match="No domain named 'gone' at URI 'test:///default'"):
        lister.run()


def test_every_state_has_virsh_words():
    assert set(STATE_TEXT) == set(OBSERVED_STATES)


def test_a_definition_that_mentions_a_doctype_in_its_text_is_listed(client, conn):
    """libvirt stores no DTD, but text may say anything: it is escaped in libvirt's XML."""
    conn.defineXML(
        "<domain type='test'><name>odd</name><description><![CDATA[<!DOCTYPE x [<!ENTITY y 'z'>]>]]>"
        "</description><metadata><app:note xmlns:app='https://example.com/app'>&lt;!ENTITY e SYSTEM "
        "'file:///etc/passwd'&gt;</app:note></metadata><memory unit='MiB'>64</memory>"
        "<os><type>hvm</type></os></domain>"
    )
    try:
        domains = DomainLister(client, InfoRequest(definition=True)).run()
        odd = {entry["name"]: entry for entry in domains}["odd"]
        assert "&lt;!DOCTYPE x [&lt;!ENTITY y 'z'&gt;]&gt;" in odd["definition"]
    finally:
        conn.lookupByName("odd").undefine()
