"""Unit tests get libvirt's in-process test driver (no daemon, fresh state per test)."""

from __future__ import annotations

import libvirt
import pytest


@pytest.fixture
def conn():
    """A connection to a fresh test:///default hypervisor (domain 'test' is running)."""
    connection = libvirt.open("test:///default")
    _reset(connection)
    yield connection
    connection.close()


def _reset(connection) -> None:
    """The driver's state lives as long as any object holds the connection (a
    traceback can keep a domain object alive), so start every test from scratch."""
    for domain in connection.listAllDomains():
        persistent = domain.isPersistent()  # a transient domain is gone once destroyed
        if domain.isActive():
            domain.destroy()
        if domain.name() == "test":
            domain.create()
        elif persistent:
            domain.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE)


DOMAIN_XML = """<domain type='test'>
  <name>{name}</name>
  <memory unit='MiB'>64</memory>
  <os><type>hvm</type></os>
</domain>"""


@pytest.fixture
def make_domain(conn):
    """Define (or, transient=True, create) a domain on the test driver."""

    def _make(name: str, transient: bool = False):
        xml = DOMAIN_XML.format(name=name)
        return conn.createXML(xml, 0) if transient else conn.defineXML(xml)

    return _make


@pytest.fixture
def client(conn):
    """The collection's Connection to the same test:///default hypervisor as ``conn``
    (the test driver's state is shared while a connection to it is open)."""
    from ansible_collections.virtops.libvirt.plugins.module_utils._core.client import Connection

    connection = Connection("test:///default", timeout=None)
    yield connection
    connection.close()
