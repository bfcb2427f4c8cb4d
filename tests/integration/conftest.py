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


def pytest_terminal_summary(terminalreporter):
    """Print the corpus property-test counts (the figures the issue asks for)."""
    from test_journey import FIGURES
    from test_virt_domain_corpus import COUNTS

    if FIGURES:
        terminalreporter.write_line("journey: " + ", ".join(f"{key} {value:.1f}" for key, value in FIGURES.items()))

    if COUNTS:
        terminalreporter.write_line("virt_domain corpus: " + ", ".join(f"{key} {value}" for key, value in sorted(COUNTS.items())))
