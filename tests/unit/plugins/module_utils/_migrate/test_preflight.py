"""The checks of the destination before anything moves, against libvirt's test driver
as the destination: it has a network 'default' (active) and a dir pool 'default-pool'
at /default-pool (volumes live in memory), reports 3145728 as its free memory (3 MiB:
getFreeMemory is in bytes) and does not implement compareHypervisorCPU."""

from __future__ import annotations

import pytest

from ansible_collections.virtops.libvirt.plugins.module_utils._core import xml as core_xml
from ansible_collections.virtops.libvirt.plugins.module_utils._core.errors import VirtOpsError
from ansible_collections.virtops.libvirt.plugins.module_utils._migrate.preflight import MIB, domain_memory_kib, free_memory_mib, run_preflight
from ansible_collections.virtops.libvirt.plugins.module_utils._migrate.request import MigrationRequest

POOL = "default-pool"
FREE_MIB = 3  # the test driver's getFreeMemory(), in MiB
UNSUPPORTED = "unchecked: this function is not supported by the connection driver: virConnectCompareHypervisorCPU"


def domain(devices: str = "", memory: str = "<memory unit='MiB'>1</memory>", cpu: str = "") -> object:
    return core_xml.parse_domain(
        f"<domain type='test'><name>pf</name>{memory}<os><type arch='x86_64'>hvm</type></os>{cpu}<devices>{devices}</devices></domain>", "a test domain"
    )


def disk(dev: str, path: str, device: str = "disk", extra: str = "") -> str:
    return f"<disk type='file' device='{device}'><source file='{path}'/><target dev='{dev}'/>{extra}</disk>"


def volume_disk(dev: str, pool: str, volume: str) -> str:
    return f"<disk type='volume' device='disk'><source pool='{pool}' volume='{volume}'/><target dev='{dev}'/></disk>"


def nic(network: str) -> str:
    return f"<interface type='network'><source network='{network}'/></interface>"


def check(client, root, offline=False, **options):
    return run_preflight(client, client, MigrationRequest(name="pf", dest_uri="test:///default", **options), root, offline)


@pytest.fixture
def volumes(conn):
    """Make volumes in the destination's pool 'default-pool'; removed afterwards."""
    pool = conn.storagePoolLookupByName(POOL)
    made = []

    def _make(name: str):
        made.append(pool.createXML(f"<volume><name>{name}</name><capacity>1048576</capacity></volume>", 0))

    yield _make
    for volume in made:
        volume.delete(0)


@pytest.fixture
def idle_network(conn):
    """A network defined on the destination and not started; undefined afterwards."""
    network = conn.networkDefineXML("<network><name>idle</name><bridge name='virbr77'/></network>")
    yield "idle"
    network.undefine()


# -- memory -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("memory", "kib"),
    [
        ("<memory>65536</memory>", 65536),
        ("<memory unit='KiB'>1</memory>", 1),
        ("<memory unit='MiB'>64</memory>", 65536),
        ("<memory unit='GiB'>2</memory>", 2 * 1024 * 1024),
        ("<memory unit='b'>1</memory>", 1),  # rounded up to a KiB, as libvirt stores it
        ("<memory unit='bytes'>1048577</memory>", 1025),
        ("", 0),
    ],
)
def test_domain_memory_kib(memory, kib):
    assert domain_memory_kib(domain(memory=memory)) == kib


def test_the_test_driver_reports_3_mib_free(client):
    assert client.raw.getFreeMemory() == 3145728
    assert free_memory_mib(client) == FREE_MIB == 3145728 // MIB


def test_memory_fits_until_the_headroom_does_not(client):
    fits = check(client, domain(), preflight=("memory",))
    assert (fits.memory, fits.problems) == ({"needed_mib": 1, "free_mib": FREE_MIB, "headroom_mib": 0}, [])
    assert check(client, domain(), preflight=("memory",), memory_headroom_mib=FREE_MIB - 1).problems == []
    full = check(client, domain(), preflight=("memory",), memory_headroom_mib=FREE_MIB)
    assert full.memory == {"needed_mib": 1, "free_mib": FREE_MIB, "headroom_mib": FREE_MIB}
    assert full.problems == [
        f"no room: the domain needs 1 MiB plus memory_headroom_mib={FREE_MIB}, the destination has {FREE_MIB} MiB free. "
        "Free memory there, or choose another destination."
    ]


def test_memory_needed_is_rounded_up_to_a_mib(client):
    report = check(client, domain(memory="<memory unit='KiB'>3073</memory>"), preflight=("memory",))
    assert report.memory["needed_mib"] == 4
    assert report.problems == [f"no room: the domain needs 4 MiB, the destination has {FREE_MIB} MiB free. Free memory there, or choose another destination."]


def test_an_offline_move_needs_no_memory_and_no_cpu(client):
    report = check(client, domain(memory="<memory unit='GiB'>64</memory>", cpu="<cpu><model>Haswell</model></cpu>"), offline=True)
    assert (report.memory, report.cpu, report.problems) == (None, None, [])


# -- networks -----------------------------------------------------------------------------------
def test_networks(client, idle_network):
    root = domain(
        nic("default")
        + nic("default")
        + nic("nowhere")
        + nic(idle_network)
        + "<interface type='bridge'><source bridge='br0'/></interface>"
        + "<interface type='direct'><source dev='eth1' mode='bridge'/></interface>"
        + "<interface type='user'/>"
    )
    report = check(client, root, preflight=("networks",))
    assert report.networks == ["default"]
    assert report.problems == [
        "network 'nowhere' does not exist on the destination. Define and start it there first.",
        "network 'idle' is not active on the destination. Start it there (virsh net-start idle).",
    ]
    assert report.unchecked == [
        "bridge interface on host device 'br0' (libvirt cannot tell whether the destination has it)",
        "direct interface on host device 'eth1' (libvirt cannot tell whether the destination has it)",
    ]


# -- storage ------------------------------------------------------------------------------------
def test_a_disk_in_no_pools_folder_is_unchecked(client):
    report = check(client, domain(disk("vda", "/var/lib/guests/pf.qcow2")), preflight=("storage",))
    assert (report.storage, report.problems) == ([], [])
    assert report.unchecked == [
        "disk vda: /var/lib/guests/pf.qcow2 (no storage pool of the destination holds its folder, so libvirt cannot tell whether it is there)"
    ]


def test_disks_in_the_destinations_pool(client, volumes):
    volumes("here.img")
    volumes("vol.qcow2")
    root = domain(
        disk("vda", f"/{POOL}/here.img")
        + disk("vdb", f"/{POOL}/missing.img")
        + volume_disk("vdc", POOL, "vol.qcow2")
        + volume_disk("vdd", POOL, "gone.qcow2")
        + volume_disk("vde", "nopool", "x.qcow2")
        + disk("hdc", f"/{POOL}/../{POOL}/here.img", device="cdrom", extra="<readonly/>")
    )
    report = check(client, root, preflight=("storage",))
    assert report.storage == [f"/{POOL}/here.img", f"{POOL}/vol.qcow2", f"/{POOL}/../{POOL}/here.img"]
    assert report.problems == [
        f"disk vdb: /{POOL}/missing.img is not on the destination (its pool there holds that folder, without the file). "
        "Use shared storage, or copy_storage with copy_disks.",
        f"disk vdd: volume 'gone.qcow2' of pool '{POOL}' is not on the destination. Use shared storage, or copy_storage with copy_disks.",
        "disk vde: volume 'x.qcow2' of pool 'nopool' is not on the destination. Use shared storage, or copy_storage with copy_disks.",
    ]
    assert report.unchecked == []


def test_a_disk_without_source_or_on_the_network_is_not_looked_for(client):
    root = domain(
        "<disk type='file' device='cdrom'><target dev='hdc'/><readonly/></disk>"
        "<disk type='network' device='disk'><source protocol='rbd' name='pool/image'/><target dev='vda'/></disk>"
    )
    report = check(client, root, preflight=("storage",))
    assert (report.storage, report.problems, report.unchecked) == ([], [], [])


def test_copied_disks_need_not_be_there_when_they_are_copied(client):
    root = domain(disk("vda", f"/{POOL}/copied.img") + disk("vdb", f"/{POOL}/shared.img"))
    report = check(client, root, preflight=("storage",), copy_storage="all", copy_disks=("vda",))
    assert [problem.split(":")[0] for problem in report.problems] == ["disk vdb"]


def test_an_offline_move_copies_no_disk_so_copy_disks_are_checked_too(client):
    """libvirt refuses to copy storage in an offline migration, and flags_and_params asks
    for none then: a disk named in copy_disks must already be on the destination."""
    root = domain(disk("vda", f"/{POOL}/copied.img"))
    report = check(client, root, offline=True, preflight=("storage",), copy_storage="all", copy_disks=("vda",))
    assert [problem.split(":")[0] for problem in report.problems] == ["disk vda"]


def test_copy_disks_must_name_writable_disks_of_the_domain(client):
    root = domain(
        disk("vda", "/g/a.img")
        + disk("sda", "/g/b.img", device="lun")
        + disk("hdc", "/g/seed.iso", device="cdrom", extra="<readonly/>")
        + disk("vdz", "/g/ro.img", extra="<readonly/>")
        + "<disk type='file' device='floppy'><source file='/g/f.img'/><target dev='fda'/></disk>"
    )
    assert check(client, root, preflight=(), copy_storage="all", copy_disks=("vda", "sda")).problems == []
    for wanted in ("vdq", "hdc", "vdz", "fda"):
        with pytest.raises(VirtOpsError) as caught:
            check(client, root, preflight=(), copy_storage="all", copy_disks=("vda", wanted))
        assert caught.value.msg == (
            f"Option copy_disks names disk '{wanted}', which is not a writable disk of domain pf (its writable disks: sda, vda). Nothing was moved."
        )
    with pytest.raises(VirtOpsError, match=r"\(its writable disks: none\)"):
        check(client, domain(), preflight=(), copy_storage="incremental", copy_disks=("vda",))


# -- cpu ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("cpu", "verdict"),
    [
        ("", "unchecked: the domain names no CPU model"),
        ("<cpu mode='host-model'/>", "unchecked: the domain names no CPU model"),
        ("<cpu mode='host-passthrough' check='none'/>", "unchecked: the domain names no CPU model"),
        ("<cpu mode='host-passthrough'><model>Haswell</model></cpu>", "unchecked: mode host-passthrough needs identical hosts"),
        ("<cpu mode='maximum'><model>Haswell</model></cpu>", "unchecked: mode maximum needs identical hosts"),
        # the test driver answers compareHypervisorCPU with VIR_ERR_NO_SUPPORT: named, never raised
        ("<cpu mode='custom' match='exact'><model fallback='forbid'>Haswell</model><feature policy='require' name='avx2'/></cpu>", UNSUPPORTED),
        ("<cpu><model>qemu64</model></cpu>", UNSUPPORTED),
    ],
)
def test_cpu(client, cpu, verdict):
    report = check(client, domain(cpu=cpu), preflight=("cpu",))
    assert (report.cpu, report.problems) == (verdict, [])


# -- all at once ----------------------------------------------------------------------------------
def test_every_problem_is_reported_at_once(client, volumes):
    root = domain(
        nic("nowhere")
        + volume_disk("vda", "nopool", "a.qcow2")
        + disk("vdb", "/elsewhere/b.img")
        + "<interface type='bridge'><source bridge='br0'/></interface>",
        memory="<memory unit='MiB'>64</memory>",
        cpu="<cpu><model>Haswell</model></cpu>",
    )
    report = check(client, root)
    assert [problem.split(":")[0].split(" '")[0] for problem in report.problems] == ["no room", "network", "disk vda"]
    assert len(report.unchecked) == 2 and report.cpu == UNSUPPORTED
    result = report.as_result()
    assert set(result) == {"memory", "networks", "storage", "cpu", "unchecked", "problems"}
    assert result["memory"] == {"needed_mib": 64, "free_mib": FREE_MIB, "headroom_mib": 0} and result["problems"] == report.problems


def test_only_the_checks_asked_for_run(client):
    root = domain(nic("nowhere") + volume_disk("vda", "nopool", "a.qcow2"), memory="<memory unit='MiB'>64</memory>")
    assert check(client, root, preflight=()).as_result() == {"memory": None, "networks": [], "storage": [], "cpu": None, "unchecked": [], "problems": []}
    only_storage = check(client, root, preflight=("storage",))
    assert (only_storage.memory, only_storage.cpu, len(only_storage.problems)) == (None, None, 1)


def test_the_destination_is_left_as_it_was(client, conn):
    before = (conn.storagePoolLookupByName(POOL).listVolumes(), [n.name() for n in conn.listAllNetworks()], conn.listDefinedDomains())
    check(client, domain(nic("nowhere") + disk("vda", f"/{POOL}/missing.img"), cpu="<cpu><model>Haswell</model></cpu>"))
    assert (conn.storagePoolLookupByName(POOL).listVolumes(), [n.name() for n in conn.listAllNetworks()], conn.listDefinedDomains()) == before
    assert conn.storagePoolLookupByName(POOL).isActive() == 1  # the refresh of the pool left it running
