"""DomainLister on libvirt's in-process test driver: bulk reads, and domains
that vanish between the listing and the detail calls."""

from __future__ import annotations

import pytest

from ansible_collections.virtops.libvirt.plugins.module_utils._domain_info import (
    STATE_TEXT,
    DomainLister,
    InfoRequest,
)
from ansible_collections.virtops.libvirt.plugins.module_utils._domain_state import OBSERVED_STATES
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import VirtOpsError

URI = "test:///default"


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


def test_a_domain_that_vanishes_is_left_out(conn, make_domain):
    make_domain("gone", transient=True)
    make_domain("stays")
    domains = DomainLister(VanishingConnection(conn, ["gone"]), URI, InfoRequest()).run()
    assert [entry["name"] for entry in domains] == ["stays", "test"]


def test_the_domain_asked_for_by_name_vanishing_is_an_error(conn, make_domain):
    make_domain("gone", transient=True)
    lister = DomainLister(VanishingConnection(conn, ["gone"]), URI, InfoRequest(name="gone"))
    with pytest.raises(VirtOpsError, match="No domain named 'gone' at URI 'test:///default'"):
        lister.run()


def test_size_comes_from_the_statistics_when_the_driver_has_them(conn):
    domain = conn.lookupByName("test")
    lister = DomainLister(conn, URI, InfoRequest())
    assert lister.size(domain, "test", {"vcpu.current": 4, "balloon.maximum": 2 * 1024 * 1024}) == (4, 2 * 1024 * 1024)
    assert lister.size(domain, "test", {"state.state": 1}) == (2, 8 * 1024 * 1024)  # test driver: from info()


def test_every_state_has_virsh_words():
    assert set(STATE_TEXT) == set(OBSERVED_STATES)
