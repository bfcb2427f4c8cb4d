"""Naming libvirt's states: a pause of an operation under way is transient, a
user's is not, and a pause says who or what paused the domain."""

from __future__ import annotations

import libvirt
import pytest

from ansible_collections.virtops.libvirt.plugins.module_utils._core.states import read_all, read_status, status_from_codes

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


# -- read_all: every domain of the connection in a few calls ---------------------------------------
def test_read_all_names_the_state_of_every_domain_and_whether_it_is_persistent(client, make_domain):
    make_domain("off")
    paused = make_domain("paused")
    paused.create()
    paused.suspend()
    saved = make_domain("saved")
    saved.create()
    saved.managedSave(0)  # the test driver keeps a managed-save image like QEMU's
    make_domain("ephemeral", transient=True)
    listed = read_all(client)
    assert {name: (str(entry.status), entry.persistent) for name, entry in listed.items()} == {
        "test": ("running (booted)", True),
        "off": ("shutoff (unknown)", True),
        "paused": ("paused (user)", True),
        "saved": ("saved (saved)", True),
        "ephemeral": ("running (booted)", False),
    }
    assert all(entry.domain.name() == name for name, entry in listed.items())


def test_read_all_says_what_read_status_says_of_each_domain(client, make_domain):
    for name in ("a", "b", "c"):
        make_domain(name)
    client.raw.lookupByName("b").create()
    client.raw.lookupByName("c").create()
    client.raw.lookupByName("c").suspend()
    for name, entry in read_all(client).items():
        assert entry.status == read_status(client, entry.domain, name), name


class WithoutAllStats:
    """A connection whose driver cannot report the states of many domains in one call;
    ``meanwhile`` runs just before it says so (a domain stopping elsewhere)."""

    def __init__(self, raw, meanwhile=lambda: None) -> None:
        self.raw = raw
        self.meanwhile = meanwhile

    def __getattr__(self, name: str):
        return getattr(self.raw, name)

    def domainListGetStats(self, *_args):
        self.meanwhile()
        err = libvirt.libvirtError("this function is not supported by the connection driver: virDomainListGetStats")
        err.err = (libvirt.VIR_ERR_NO_SUPPORT, 0, err.get_error_message(), 2, "", None, None, 0, 0)
        raise err


def test_read_all_asks_each_domain_where_the_driver_cannot_report_all_at_once(client, make_domain, monkeypatch):
    make_domain("off")
    expected = {name: entry.status for name, entry in read_all(client).items()}
    monkeypatch.setattr(client, "raw", WithoutAllStats(client.raw))
    assert {name: entry.status for name, entry in read_all(client).items()} == expected
    assert expected == {
        "test": status_from_codes(libvirt.VIR_DOMAIN_RUNNING, libvirt.VIR_DOMAIN_RUNNING_BOOTED, False),
        "off": status_from_codes(libvirt.VIR_DOMAIN_SHUTOFF, 0, False),
    }


def test_read_all_lists_a_domain_gone_meanwhile_without_a_state(client, make_domain, monkeypatch):
    ephemeral = make_domain("ephemeral", transient=True)
    monkeypatch.setattr(client, "raw", WithoutAllStats(client.raw, meanwhile=ephemeral.destroy))
    listed = read_all(client)
    assert (listed["ephemeral"].status, listed["ephemeral"].persistent) == (None, False)
    assert listed["test"].status.state == "running"


def test_read_all_reads_only_the_domains_named(client, make_domain, monkeypatch):
    make_domain("wanted")
    make_domain("other")
    asked = []
    real = client.raw

    class Recording(WithoutAllStats):
        def domainListGetStats(self, domains, *args):
            asked.extend(domain.name() for domain in domains)
            return real.domainListGetStats(domains, *args)

    monkeypatch.setattr(client, "raw", Recording(real))
    listed = read_all(client, {"wanted", "missing"})
    assert sorted(listed) == ["wanted"] and asked == ["wanted"]
    assert listed["wanted"].status.state == "shutoff"
    assert read_all(client, set()) == {}
