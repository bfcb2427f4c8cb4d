"""Naming libvirt's states: a pause of an operation under way is transient, a
user's is not, and a pause says who or what paused the domain."""

from __future__ import annotations

import libvirt
import pytest

from ansible_collections.virtops.libvirt.plugins.module_utils._core.states import read_status, status_from_codes

TRANSIENT = {
    libvirt.VIR_DOMAIN_PAUSED_STARTING_UP: "starting up",
    libvirt.VIR_DOMAIN_PAUSED_MIGRATION: "migrating",
    libvirt.VIR_DOMAIN_PAUSED_SAVE: "saving",
    libvirt.VIR_DOMAIN_PAUSED_DUMP: "dumping",
    libvirt.VIR_DOMAIN_PAUSED_SNAPSHOT: "creating snapshot",
    libvirt.VIR_DOMAIN_PAUSED_SHUTTING_DOWN: "shutting down",
    libvirt.VIR_DOMAIN_PAUSED_POSTCOPY: "post-copy",
}
LASTING = {
    libvirt.VIR_DOMAIN_PAUSED_USER: "paused by a user or a tool (for example virsh suspend)",
    libvirt.VIR_DOMAIN_PAUSED_IOERROR: "paused by the hypervisor after a disk I/O error",
    libvirt.VIR_DOMAIN_PAUSED_WATCHDOG: "paused by its watchdog device",
    libvirt.VIR_DOMAIN_PAUSED_FROM_SNAPSHOT: "paused by reverting to a paused snapshot",
    libvirt.VIR_DOMAIN_PAUSED_CRASHED: "paused after its guest crashed",
    libvirt.VIR_DOMAIN_PAUSED_POSTCOPY_FAILED: "paused because a post-copy migration failed",
    libvirt.VIR_DOMAIN_PAUSED_UNKNOWN: "paused (libvirt's reason: unknown)",
}


@pytest.mark.parametrize(("reason", "name"), TRANSIENT.items(), ids=TRANSIENT.values())
def test_a_pause_of_an_operation_under_way_is_transient(reason, name):
    status = status_from_codes(libvirt.VIR_DOMAIN_PAUSED, reason, False)
    assert (status.state, status.reason, status.transient) == ("paused", name, True)


@pytest.mark.parametrize(("reason", "who"), LASTING.items(), ids=LASTING.values())
def test_a_lasting_pause_says_who_paused_it(reason, who):
    status = status_from_codes(libvirt.VIR_DOMAIN_PAUSED, reason, False)
    assert not status.transient
    assert status.paused_by() == who


@pytest.mark.parametrize("state", [libvirt.VIR_DOMAIN_RUNNING, libvirt.VIR_DOMAIN_SHUTOFF, libvirt.VIR_DOMAIN_SHUTDOWN])
def test_other_states_are_not_transient_whatever_the_reason_number(state):
    assert not status_from_codes(state, libvirt.VIR_DOMAIN_PAUSED_STARTING_UP, False).transient


def test_read_status_on_the_test_driver(client, make_domain):
    domain = make_domain("vm")
    assert str(read_status(client, domain, "vm")) == "shutoff (unknown)"
    domain.create()
    domain.managedSave(0)
    assert read_status(client, domain, "vm").state == "saved"
    domain.create()
    domain.suspend()
    status = read_status(client, domain, "vm")
    assert (str(status), status.transient) == ("paused (user)", False)


class WithJob:
    """A test-driver domain reporting a pause of a job, with or without that job (QEMU's view)."""

    def __init__(self, domain, reason: int, job: int | None) -> None:
        self.domain, self.reason, self.job = domain, reason, job

    def state(self, *_args):
        return [libvirt.VIR_DOMAIN_PAUSED, self.reason]

    def jobInfo(self):
        if self.job is None:
            return self.domain.jobInfo()  # the test driver: "not supported"
        return [self.job] + [0] * 11


@pytest.mark.parametrize(
    ("job", "transient"),
    [
        (libvirt.VIR_DOMAIN_JOB_UNBOUNDED, True),  # a migration, save, dump or snapshot under way
        (libvirt.VIR_DOMAIN_JOB_NONE, False),  # restored paused: "migrating" for good
        (None, True),  # a driver that cannot tell: the reason is trusted
    ],
)
def test_a_pause_of_a_job_is_transient_only_while_a_job_runs(client, make_domain, job, transient):
    domain = WithJob(make_domain("vm"), libvirt.VIR_DOMAIN_PAUSED_MIGRATION, job)
    status = read_status(client, domain, "vm")
    assert (str(status), status.transient) == ("paused (migrating)", transient)
    if not transient:
        assert status.paused_by().startswith("left paused by an incoming migration or a restore")


def test_starting_up_is_transient_without_asking_for_a_job(client, make_domain):
    domain = WithJob(make_domain("vm"), libvirt.VIR_DOMAIN_PAUSED_STARTING_UP, libvirt.VIR_DOMAIN_JOB_NONE)
    assert read_status(client, domain, "vm").transient  # libvirt reports no job while it starts a domain
