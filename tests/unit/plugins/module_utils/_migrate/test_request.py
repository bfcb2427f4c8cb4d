"""virt_migrate's options: every refusal names the option and says nothing was done;
a good request keeps what was asked; flags_and_params is the one mapping from a
request to libvirt's migration flags and typed parameters."""

from __future__ import annotations

import math

import libvirt
import pytest

from ansible_collections.virtops.libvirt.plugins.module_utils._core.errors import VirtOpsError
from ansible_collections.virtops.libvirt.plugins.module_utils._migrate.request import (
    MAX_BANDWIDTH_MIB,
    MAX_PARALLEL,
    MAX_SECONDS,
    PREFLIGHT_CHECKS,
    MigrationRequest,
    flags_and_params,
    request_of,
)

DEST = "qemu+ssh://dest.example/system"
LIVE_P2P = (
    libvirt.VIR_MIGRATE_LIVE
    | libvirt.VIR_MIGRATE_PEER2PEER
    | libvirt.VIR_MIGRATE_PERSIST_DEST
    | libvirt.VIR_MIGRATE_UNDEFINE_SOURCE
    | libvirt.VIR_MIGRATE_ABORT_ON_ERROR
)


def params(**options):
    """The parameters as the module passes them (every option present, defaults filled)."""
    base = {
        "name": "web1",
        "uuid": None,
        "dest_uri": DEST,
        "peer_to_peer": True,
        "peer_uri": None,
        "live": True,
        "persistent": True,
        "undefine_source": True,
        "bandwidth": None,
        "migrate_uri": None,
        "auto_converge": False,
        "compression": None,
        "parallel_connections": None,
        "tls": False,
        "copy_storage": "none",
        "copy_disks": [],
        "timeout": 600.0,
        "timeout_action": "abort",
        "preflight": list(PREFLIGHT_CHECKS),
        "memory_headroom_mib": 0,
    }
    return {**base, **options}


def refused(**options) -> str:
    with pytest.raises(VirtOpsError) as caught:
        request_of(params(**options))
    message = caught.value.msg
    assert message.endswith("Nothing was done."), message
    return message


# -- refusals ---------------------------------------------------------------------------------
def test_copy_storage_without_copy_disks_says_why_an_empty_list_is_dangerous():
    for mode in ("all", "incremental"):
        for empty in ([], None):
            message = refused(copy_storage=mode, copy_disks=empty)
            assert f"copy_storage={mode} needs copy_disks" in message
            assert "An empty list would let libvirt copy every disk" in message and "corrupt shared ones" in message


def test_copy_disks_without_copy_storage_is_refused():
    assert "copy_disks applies with copy_storage=all or copy_storage=incremental only" in refused(copy_disks=["vda"])
    assert "copy_disks applies" in refused(copy_storage=None, copy_disks=["vda"])  # None is the default, none


@pytest.mark.parametrize("disk", ["dev/vda", "/dev/vda", "", "vd\x00a", "vd\na", 7, None])
def test_a_copy_disk_that_is_not_a_target_name_is_refused(disk):
    message = refused(copy_storage="all", copy_disks=["vda", disk])
    assert f"Option copy_disks holds {disk!r}, which is not a disk target name" in message


def test_a_copy_disk_named_twice_is_refused():
    assert "copy_disks names a disk twice" in refused(copy_storage="incremental", copy_disks=["vda", "vdb", "vda"])


def test_an_unknown_copy_storage_is_refused_not_taken_as_incremental():
    assert "copy_storage must be one of none, all, incremental, not 'some'" in refused(copy_storage="some", copy_disks=["vda"])


def test_peer_uri_needs_peer_to_peer():
    message = refused(peer_to_peer=False, peer_uri="qemu+tls://dest.internal/system")
    assert "peer_uri" in message and "for peer_to_peer=true only" in message


@pytest.mark.parametrize("option", ["dest_uri", "peer_uri", "migrate_uri"])
@pytest.mark.parametrize("uri", ["qemu+ssh://a b/system", "qemu:///sys\x00tem", "tcp://dest\t:49152", " ", "", "qemu:///system\n"])
def test_uris_with_spaces_or_nul_are_refused(option, uri):
    assert f"Option {option} must be a URI without spaces or NUL characters, not {uri!r}" in refused(**{option: uri})


def test_dest_uri_is_required():
    assert "dest_uri is required" in refused(dest_uri=None)


@pytest.mark.parametrize("value", [0, -1, True, False, MAX_BANDWIDTH_MIB + 1, 10**30, 1.5, "100"])
def test_bandwidth_must_be_a_whole_number_in_range(value):
    assert f"Option bandwidth must be a whole number from 1 to {MAX_BANDWIDTH_MIB}, not {value!r}" in refused(bandwidth=value)


@pytest.mark.parametrize("value", [0, -3, MAX_PARALLEL + 1, True, 2.0])
def test_parallel_connections_bounds(value):
    assert f"Option parallel_connections must be a whole number from 1 to {MAX_PARALLEL}, not {value!r}" in refused(parallel_connections=value)


@pytest.mark.parametrize("value", [-1, -0.001, math.inf, -math.inf, MAX_SECONDS + 1, True, False, "60", None])
def test_timeout_must_be_a_number_of_seconds_up_to_a_week(value):
    message = refused(timeout=value)
    assert f"Option timeout must be a number of seconds from 0 (no limit) to {MAX_SECONDS:g}, not {value!r}" in message


def test_timeout_nan_is_refused():
    assert "Option timeout must be a number of seconds" in refused(timeout=math.nan)


def test_memory_headroom_must_not_be_negative():
    assert "Option memory_headroom_mib must be a whole number from 0" in refused(memory_headroom_mib=-1)


@pytest.mark.parametrize(
    ("option", "value", "words"),
    [
        ("compression", ["xbzrle", "zstd"], "Option compression holds 'zstd'; choose from xbzrle, mt"),
        ("preflight", ["memory", "disks"], "Option preflight holds 'disks'; choose from memory, networks, storage, cpu"),
        ("timeout_action", "pause", "Option timeout_action must be one of abort, postcopy, suspend, not 'pause'"),
    ],
)
def test_unknown_choices_are_refused(option, value, words):
    assert words in refused(**{option: value})


# -- good requests ------------------------------------------------------------------------------
def test_a_good_request_keeps_what_was_asked():
    request = request_of(
        params(
            peer_uri="qemu+tcp://10.0.0.2/system",
            live=False,
            persistent=False,
            undefine_source=False,
            bandwidth=MAX_BANDWIDTH_MIB,
            migrate_uri="tcp://10.0.0.2:49152",
            auto_converge=True,
            compression=["xbzrle", "mt"],
            parallel_connections=MAX_PARALLEL,
            tls=True,
            copy_storage="incremental",
            copy_disks=["vda", "sdb"],
            timeout=MAX_SECONDS,
            timeout_action="postcopy",
            preflight=["memory", "cpu"],
            memory_headroom_mib=512,
        )
    )
    assert request == MigrationRequest(
        name="web1",
        dest_uri=DEST,
        peer_uri="qemu+tcp://10.0.0.2/system",
        live=False,
        persistent=False,
        undefine_source=False,
        bandwidth=MAX_BANDWIDTH_MIB,
        migrate_uri="tcp://10.0.0.2:49152",
        auto_converge=True,
        compression=("xbzrle", "mt"),
        parallel_connections=MAX_PARALLEL,
        tls=True,
        copy_storage="incremental",
        copy_disks=("vda", "sdb"),
        timeout=MAX_SECONDS,
        timeout_action="postcopy",
        preflight=("memory", "cpu"),
        memory_headroom_mib=512,
    )
    assert request.label == "web1"


def test_defaults_and_the_edges_that_are_allowed():
    request = request_of({"uuid": "6695eb01-f6a4-8304-79aa-97f2502e193f", "dest_uri": DEST})
    assert (request.name, request.label, request.peer_to_peer, request.live, request.persistent, request.undefine_source) == (
        None,
        "6695eb01-f6a4-8304-79aa-97f2502e193f",
        True,
        True,
        True,
        True,
    )
    assert (request.copy_storage, request.copy_disks, request.compression, request.timeout, request.timeout_action) == ("none", (), (), 600.0, "abort")
    assert (request.preflight, request.memory_headroom_mib, request.bandwidth, request.parallel_connections) == (PREFLIGHT_CHECKS, 0, None, None)
    assert request_of(params(timeout=0)).timeout == 0.0  # no limit
    assert request_of(params(timeout=1)).timeout == 1.0 and isinstance(request_of(params(timeout=1)).timeout, float)
    assert request_of(params(preflight=[])).preflight == ()  # every check off
    assert request_of(params(bandwidth=1, parallel_connections=1)).bandwidth == 1


# -- flags and typed parameters -------------------------------------------------------------------
def mapped(offline=False, **options):
    return flags_and_params(request_of(params(**options)), offline)


def test_live_peer_to_peer_by_default():
    assert mapped() == (LIVE_P2P, {})


def test_without_peer_to_peer():
    assert mapped(peer_to_peer=False) == (LIVE_P2P & ~libvirt.VIR_MIGRATE_PEER2PEER, {})


def test_offline_moves_the_definition_only():
    flags, typed = mapped(offline=True, bandwidth=100, migrate_uri="tcp://d:1", compression=["mt"], auto_converge=True, tls=True, parallel_connections=4)
    assert flags == libvirt.VIR_MIGRATE_OFFLINE | libvirt.VIR_MIGRATE_PERSIST_DEST | libvirt.VIR_MIGRATE_PEER2PEER | libvirt.VIR_MIGRATE_UNDEFINE_SOURCE | (
        libvirt.VIR_MIGRATE_ABORT_ON_ERROR
    )
    assert typed == {} and not flags & libvirt.VIR_MIGRATE_LIVE
    # persistent=false cannot apply to a definition: it is what moves
    assert mapped(offline=True, persistent=False)[0] & libvirt.VIR_MIGRATE_PERSIST_DEST
    flags, typed = mapped(offline=True, copy_storage="all", copy_disks=["vda"], timeout_action="postcopy")
    assert not flags & (libvirt.VIR_MIGRATE_NON_SHARED_DISK | libvirt.VIR_MIGRATE_NON_SHARED_INC | libvirt.VIR_MIGRATE_POSTCOPY) and typed == {}


@pytest.mark.parametrize(
    ("options", "flag", "typed"),
    [
        ({"bandwidth": 250}, 0, {libvirt.VIR_MIGRATE_PARAM_BANDWIDTH: 250}),
        ({"migrate_uri": "tcp://10.0.0.2:49152"}, 0, {libvirt.VIR_MIGRATE_PARAM_URI: "tcp://10.0.0.2:49152"}),
        ({"auto_converge": True}, libvirt.VIR_MIGRATE_AUTO_CONVERGE, {}),
        ({"compression": ["xbzrle"]}, libvirt.VIR_MIGRATE_COMPRESSED, {libvirt.VIR_MIGRATE_PARAM_COMPRESSION: ["xbzrle"]}),
        ({"compression": ["xbzrle", "mt"]}, libvirt.VIR_MIGRATE_COMPRESSED, {libvirt.VIR_MIGRATE_PARAM_COMPRESSION: ["xbzrle", "mt"]}),
        ({"parallel_connections": 4}, libvirt.VIR_MIGRATE_PARALLEL, {libvirt.VIR_MIGRATE_PARAM_PARALLEL_CONNECTIONS: 4}),
        ({"tls": True}, libvirt.VIR_MIGRATE_TLS, {}),
        ({"copy_storage": "all", "copy_disks": ["vda", "vdb"]}, libvirt.VIR_MIGRATE_NON_SHARED_DISK, {libvirt.VIR_MIGRATE_PARAM_MIGRATE_DISKS: ["vda", "vdb"]}),
        ({"copy_storage": "incremental", "copy_disks": ["sda"]}, libvirt.VIR_MIGRATE_NON_SHARED_INC, {libvirt.VIR_MIGRATE_PARAM_MIGRATE_DISKS: ["sda"]}),
        ({"timeout_action": "postcopy", "timeout": 30}, libvirt.VIR_MIGRATE_POSTCOPY, {}),
    ],
)
def test_each_option_adds_its_flag_and_parameter(options, flag, typed):
    flags, got = mapped(**options)
    assert flags == LIVE_P2P | flag and got == typed


def test_postcopy_only_when_the_timeout_can_switch_to_it():
    assert not mapped(timeout_action="postcopy", timeout=0)[0] & libvirt.VIR_MIGRATE_POSTCOPY  # no timeout, nothing to switch
    for action in ("abort", "suspend"):
        assert mapped(timeout_action=action, timeout=30)[0] == LIVE_P2P


def test_what_is_turned_off():
    assert mapped(persistent=False)[0] == LIVE_P2P & ~libvirt.VIR_MIGRATE_PERSIST_DEST
    assert mapped(undefine_source=False)[0] == LIVE_P2P & ~libvirt.VIR_MIGRATE_UNDEFINE_SOURCE
    assert mapped(live=False)[0] == LIVE_P2P & ~libvirt.VIR_MIGRATE_LIVE
    assert mapped(offline=True, undefine_source=False)[0] & libvirt.VIR_MIGRATE_UNDEFINE_SOURCE == 0
    flags, typed = mapped(copy_storage="all", copy_disks=["vda"])
    assert not flags & libvirt.VIR_MIGRATE_NON_SHARED_INC and list(typed) == [libvirt.VIR_MIGRATE_PARAM_MIGRATE_DISKS]


def test_peer_uri_is_no_parameter():
    """The source's daemon is handed peer_uri as the migration's target (job.py), not as a typed parameter."""
    flags, typed = mapped(peer_uri="qemu+tcp://10.0.0.2/system")
    assert (flags, typed) == (LIVE_P2P, {})
