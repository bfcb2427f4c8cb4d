"""Where the domain is, and so what a migration has left to do, on libvirt's test
driver. Two connections to test:///default reach one hypervisor (the same domains on
both), which builds the refusals: nowhere, running on both, shut off on both. A
test:///<file> URI opens a hypervisor of its own for each connection (its state
lives as long as that connection), which builds the rest: a domain on one side only,
a namesake, a running copy on one side and a definition on the other."""

from __future__ import annotations

import libvirt
import pytest

from ansible_collections.virtops.libvirt.plugins.module_utils._core.client import Connection
from ansible_collections.virtops.libvirt.plugins.module_utils._core.errors import VirtOpsError
from ansible_collections.virtops.libvirt.plugins.module_utils._migrate.locate import DONE, MIGRATE, UNDEFINE_SOURCE, NotFoundError, host_uuid, locate

UUID = "5b1e8a3c-7f26-4d0e-9a41-2c6b0d8e7f10"
OTHER_UUID = "0c9d2e4f-1a3b-4c5d-8e6f-7a8b9c0d1e2f"
DOMAIN_XML = "<domain type='test'><name>{name}</name><uuid>{uuid}</uuid><memory unit='MiB'>8</memory><os><type>hvm</type></os></domain>"


@pytest.fixture
def source(conn, client):
    """The source: test:///default (reset), every domain defined here removed afterwards."""
    yield client
    for domain in conn.listAllDomains():
        if domain.name() != "test":
            persistent = domain.isPersistent()  # a transient domain is gone once destroyed
            if domain.isActive():
                domain.destroy()
            if persistent:
                domain.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE)


@pytest.fixture
def same_host(source):
    """A second Connection to test:///default: the same hypervisor as ``source``."""
    with Connection("test:///default", timeout=None) as connection:
        yield connection


@pytest.fixture
def other_host(tmp_path):
    """A Connection to a hypervisor of its own: the test driver on an empty <node> file."""
    path = tmp_path / "dest.xml"
    path.write_text("<node/>\n")
    with Connection(f"test://{path}", timeout=None) as connection:
        yield connection


def put(connection, name="mover", uuid=UUID, state="shutoff"):
    """Define ``name`` on ``connection`` in ``state`` (shutoff, running, paused, saved)."""
    domain = connection.raw.defineXML(DOMAIN_XML.format(name=name, uuid=uuid))
    if state != "shutoff":
        domain.create()
    if state == "paused":
        domain.suspend()
    if state == "saved":
        domain.managedSave(0)
    return domain


def refused(source, dest, name="mover", uuid=None, undefine_source=True) -> VirtOpsError:
    with pytest.raises(VirtOpsError) as caught:
        locate(source, dest, name, uuid, undefine_source)
    return caught.value


# -- one hypervisor behind both URIs ------------------------------------------------------------------
def test_nowhere_names_both_uris(source, other_host):
    error = refused(source, other_host, name="ghost")
    assert isinstance(error, NotFoundError)
    assert error.msg.startswith(f"No domain ghost at 'test:///default' or '{other_host.shown_uri}'.") and error.msg.endswith("Nothing was done.")
    error = refused(source, other_host, name=None, uuid=OTHER_UUID)
    assert f"No domain with UUID {OTHER_UUID} at 'test:///default' or '{other_host.shown_uri}'" in error.msg


def test_nowhere_on_one_hypervisor_twice(source, same_host):
    assert "No domain ghost at 'test:///default' or 'test:///default'" in refused(source, same_host, name="ghost").msg


@pytest.mark.parametrize("state", ["running", "paused"])
def test_running_on_both_is_split_brain(source, same_host, state):
    put(source, state=state)
    error = refused(source, same_host)
    assert f"Domain mover (UUID {UUID}) runs on both 'test:///default' and 'test:///default'" in error.msg
    assert "virsh domjobinfo" in error.msg and error.msg.endswith("Nothing was done.")
    assert error.result == {"uuid": UUID}
    # the driver's own domain too, found by UUID
    test_uuid = source.raw.lookupByName("test").UUIDString()
    assert "runs on both" in refused(source, same_host, name=None, uuid=test_uuid).msg


@pytest.mark.parametrize("state", ["shutoff", "saved"])
def test_shut_off_on_both_is_an_error_unless_the_source_definition_is_kept(source, same_host, state):
    put(source, state=state)
    error = refused(source, same_host)
    assert f"Domain mover (UUID {UUID}) is defined and shut off on both" in error.msg and "virsh dumpxml --inactive" in error.msg
    assert error.msg.endswith("Nothing was done.") and error.result == {"uuid": UUID}
    where = locate(source, same_host, "mover", None, undefine_source=False)
    assert where.action == DONE
    assert (where.source.uuid, where.source.status.state, where.source.persistent) == (UUID, state, True)
    assert (where.dest.uuid, where.dest.status.state) == (UUID, state)


def test_the_test_driver_reports_no_host_uuid(source, same_host, other_host):
    """Its capabilities hold no <host><uuid>: two test hypervisors cannot be told apart by it."""
    assert host_uuid(source) == host_uuid(same_host) == host_uuid(other_host) == ""


# -- two hypervisors ------------------------------------------------------------------------------
@pytest.mark.parametrize("state", ["running", "paused", "shutoff"])
def test_on_the_source_only_it_moves(source, other_host, state):
    put(source, state=state)
    where = locate(source, other_host, "mover", None)
    assert (where.action, where.dest) == (MIGRATE, None)
    assert (where.source.uuid, where.source.status.state, where.source.persistent, where.source.domain.name()) == (UUID, state, True, "mover")
    assert locate(source, other_host, None, UUID).action == MIGRATE


def test_a_transient_domain_on_the_source(source, other_host):
    source.raw.createXML(DOMAIN_XML.format(name="mover", uuid=UUID), 0)
    where = locate(source, other_host, "mover", None)
    assert (where.action, where.source.persistent, where.source.status.state) == (MIGRATE, False, "running")


@pytest.mark.parametrize("state", ["running", "shutoff"])
def test_on_the_destination_only_it_is_done(source, other_host, state):
    put(other_host, state=state)
    for undefine_source in (True, False):
        where = locate(source, other_host, "mover", None, undefine_source)
        assert (where.action, where.source, where.dest.uuid, where.dest.status.state) == (DONE, None, UUID, state)


def test_a_namesake_on_the_destination_is_another_domain(source, other_host):
    put(source, state="running")
    put(other_host, uuid=OTHER_UUID)
    error = refused(source, other_host)
    assert f"Domain mover on the destination '{other_host.shown_uri}' is another domain (UUID {OTHER_UUID})" in error.msg
    assert f"than the one on the source (UUID {UUID})" in error.msg
    assert error.msg.endswith("nothing was moved.") and error.result == {"uuid": UUID}


def test_running_on_the_source_replaces_an_old_definition_on_the_destination(source, other_host):
    put(source, state="running")
    put(other_host, state="shutoff")
    where = locate(source, other_host, "mover", None)
    assert (where.action, where.source.status.state, where.dest.status.state) == (MIGRATE, "running", "shutoff")


@pytest.mark.parametrize("dest_state", ["running", "paused"])
def test_running_on_the_destination_leaves_only_the_old_definition_to_remove(source, other_host, dest_state):
    put(source, state="shutoff")
    put(other_host, state=dest_state)
    where = locate(source, other_host, "mover", None)
    assert (where.action, where.source.status.state, where.dest.status.state) == (UNDEFINE_SOURCE, "shutoff", dest_state)
    kept = locate(source, other_host, "mover", None, undefine_source=False)
    assert (kept.action, kept.source.uuid, kept.dest.uuid) == (DONE, UUID, UUID)


def test_shut_off_on_two_hypervisors(source, other_host):
    put(source)
    put(other_host)
    assert "is defined and shut off on both 'test:///default' and" in refused(source, other_host).msg
    assert locate(source, other_host, "mover", None, undefine_source=False).action == DONE
    # nothing was changed by looking
    assert source.raw.lookupByName("mover").isPersistent() and other_host.raw.lookupByName("mover").isPersistent()
