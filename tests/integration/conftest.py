"""Fixtures of the integration tests (see virt_harness.py)."""

from __future__ import annotations

import subprocess

import pytest
from virt_harness import URI, Guests


@pytest.fixture(scope="session", autouse=True)
def daemon_answers():
    proc = subprocess.run(["virsh", "-c", URI, "version"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, f"libvirtd does not answer at {URI}; run `make setup`: {proc.stderr}"


@pytest.fixture
def guests():
    made = Guests()
    yield made
    made.cleanup()
