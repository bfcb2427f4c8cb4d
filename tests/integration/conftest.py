"""Fixtures of the integration tests (see virt_harness.py)."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from pathlib import Path

import libvirt
import pytest
from virt_harness import URI, Guests

POOLS = Path("/var/lib/virtops/test-pools")


@pytest.fixture(scope="session", autouse=True)
def daemon_answers():
    proc = subprocess.run(["virsh", "-c", URI, "version"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, f"libvirtd does not answer at {URI}; run `make setup`: {proc.stderr}"


@pytest.fixture
def guests():
    made = Guests()
    yield made
    made.cleanup()


def remove_pool(name: str, path: Path) -> None:
    conn = libvirt.open(URI)
    try:
        try:
            pool = conn.storagePoolLookupByName(name)
        except libvirt.libvirtError:
            pool = None
        if pool is not None:
            if pool.isActive():
                pool.destroy()
            pool.undefine()
        for domain in conn.listAllDomains(0):
            if domain.name().startswith(f"it-{name}"):
                domain.undefine()
    finally:
        conn.close()
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def pool():
    """A new, active directory pool: (name, path)."""
    name = f"st-{uuid.uuid4().hex[:8]}"
    path = POOLS / name
    conn = libvirt.open(URI)
    try:
        made = conn.storagePoolDefineXML(f"<pool type='dir'><name>{name}</name><target><path>{path}</path></target></pool>", 0)
        made.build(0)
        made.create(0)
    finally:
        conn.close()
    yield name, path
    remove_pool(name, path)


@pytest.fixture
def pool_name():
    """A pool name and path nobody uses yet (cleaned up like ``pool``)."""
    name = f"st-{uuid.uuid4().hex[:8]}"
    yield name, POOLS / name
    remove_pool(name, POOLS / name)


def pytest_terminal_summary(terminalreporter):
    """Print the corpus property-test counts (the figures the issue asks for)."""
    from test_journey import FIGURES
    from test_virt_domain_corpus import COUNTS

    if FIGURES:
        terminalreporter.write_line("journey: " + ", ".join(f"{key} {value:.1f}" for key, value in FIGURES.items()))

    if COUNTS:
        terminalreporter.write_line("virt_domain corpus: " + ", ".join(f"{key} {value}" for key, value in sorted(COUNTS.items())))
