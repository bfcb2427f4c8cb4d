"""Speed of the inventory plugin virtops.libvirt.libvirt beside community.libvirt's, on the real daemon.

Run from anywhere as ``.venv/bin/python tests/perf/bench_inventory.py [--sizes 100,1000,3000]``
(after ``make setup``). For each size N, the daemon at qemu:///system holds N domains
named ``binv-00001`` ... (three of them real test guests from tests/testbed/guest.py,
running; the others minimal shut-off definitions without disks, defined with
libvirt-python), and this measures, in the same run:

a. ``parse()`` of each plugin in this process (a fresh plugin from Ansible's plugin
   loader, an empty InventoryData, a DataLoader, ``cache=False``), median of
   ``--reps`` runs, the tools interleaved; and the libvirt calls each makes, counted by
   wrapping libvirt-python's connection, domain and network methods (in this process
   only, for one extra untimed run; getters answered locally, such as name() and
   UUIDString(), are not calls). Ours is also shown by its own counter.
b. The floor: ``listAllDomains()`` and one ``getAllDomainStats(STATE|VCPU|BALLOON,
   NOWAIT)`` on an open connection, plus adding the hosts that our plugin made, with
   the variables it set, to an empty InventoryData (``add_host`` and ``set_variable``).
c. ``ansible-inventory -i CONFIG --list`` wall time of each (the whole process),
   median of ``--cli-reps``.
d. Ratios to the floor and to community.libvirt, and the cost per domain (the slope
   between sizes).
e. Once: the fleet playbook ``virtops.libvirt.power`` shutting down 8 tagged test
   guests (``bench-1`` ... ``bench-8``, tag ``batch``) with ``-l tag_batch`` through an
   inventory with ``read_tags: true``, with the default forks (5) and with ``-f 8``:
   from the request (ansible-playbook starts) to all 8 really off (libvirt's STOPPED
   events) and to the playbook returning.

Every other domain of the daemon (another user's) is read by both plugins too and is
counted in "domains". Nothing but ``binv-*`` domains (and the ``bench-*`` test guests
of part e) is ever changed; all of them are removed at the end, also on error. No
libvirt network is ever started.

Progress goes to stderr, the report to stdout; exit status 0 on success, 1 with a
message on failure (for example libvirtd not answering).
"""

from __future__ import annotations

import argparse
import functools
import gc
import importlib.metadata
import json
import os
import re
import statistics
import sys
import tempfile
import threading
import time
import types
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import libvirt
from bench_power import (
    COLLECTIONS_DIR,
    URI,
    VENV_BIN,
    BenchError,
    StopListener,
    boot,
    guest_py,
    libvirt_collection_dir,
    preflight,
    progress,
    read_json_callback,
    render_table,
    require_off,
    run_main,
    run_timed,
    tool_env,
)

PREFIX = "binv-"
FLEET_PREFIX = "bench-"
RUNNING = 3  # binv- domains that are real, running test guests
FLEET_GUESTS = 8
FLEET_TAG = "batch"
TAGS_NS = "https://virtops.dev/xmlns/libvirt/1"
TESTBED_NS = "https://virtops.dev/testbed"
POWER_TASK = "Run virt_power on the controller"  # the task of playbooks/power.yml that waits

OURS = "virtops.libvirt.libvirt"
THEIRS = "community.libvirt.libvirt"
FLOOR = "floor"
READ = "virtops read"
GOAL_FLOOR_RATIO = 1.3
GOAL_SPEEDUP = 5.0
GOAL_SPEEDUP_SIZE = 1000

# A shut-off domain as small as the QEMU driver accepts: no disk, no device.
MINIMAL_XML = "<domain type='qemu'><name>{name}</name><memory unit='MiB'>64</memory><vcpu>1</vcpu><os><type arch='x86_64'>hvm</type></os></domain>"
# Getters that libvirt-python answers from the object itself, without a call to the daemon.
LOCAL_GETTERS = {"name", "UUIDString", "UUID", "ID", "connect", "c_pointer"}
COUNTED_CLASSES = ("virConnect", "virDomain", "virNetwork")
COUNTED_OPENERS = ("open", "openReadOnly", "openAuth")
ADD_HOST_VARIABLES = ("inventory_file", "inventory_dir")  # InventoryData.add_host sets them itself


# --------------------------------------------------------------------------- counting libvirt calls
class LibvirtCalls:
    """While installed, counts every call this process makes into libvirt-python's
    connection, domain and network objects (and its openers), by function name.
    Measurement only: the wrappers call the real functions and are removed after."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()  # our plugin calls from a thread pool
        self._saved: list[tuple[Any, str, Any]] = []

    def _counted(self, func: Callable[..., Any], name: str) -> Callable[..., Any]:
        @functools.wraps(func)
        def counted(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                self.counts[name] += 1
            return func(*args, **kwargs)

        return counted

    def _replace(self, owner: Any, name: str, value: Any) -> None:
        self._saved.append((owner, name, value))
        setattr(owner, name, self._counted(value, name))

    def install(self) -> None:
        for class_name in COUNTED_CLASSES:
            cls = getattr(libvirt, class_name)
            for name, value in list(vars(cls).items()):
                if isinstance(value, types.FunctionType) and not name.startswith("_") and name not in LOCAL_GETTERS:
                    self._replace(cls, name, value)
        for name in COUNTED_OPENERS:
            self._replace(libvirt, name, getattr(libvirt, name))

    def uninstall(self) -> None:
        while self._saved:
            owner, name, value = self._saved.pop()
            setattr(owner, name, value)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@contextmanager
def counting_libvirt_calls() -> Iterator[LibvirtCalls]:
    calls = LibvirtCalls()
    calls.install()
    try:
        yield calls
    finally:
        calls.uninstall()


# --------------------------------------------------------------------------- Ansible in this process
class InProcessAnsible:
    """Ansible's plugin loader and inventory classes, set up as its command line tools do."""

    def __init__(self) -> None:
        env = tool_env()
        os.environ["ANSIBLE_CONFIG"] = env["ANSIBLE_CONFIG"]
        os.environ["ANSIBLE_COLLECTIONS_PATH"] = env["ANSIBLE_COLLECTIONS_PATH"]
        from ansible.inventory.data import InventoryData
        from ansible.parsing.dataloader import DataLoader
        from ansible.plugins.loader import init_plugin_loader, inventory_loader

        # preflight() imported site-packages' ansible_collections as a plain package: let
        # Ansible's collection loader own it from now on, as its command line tools do
        for module in [module for module in sys.modules if module.split(".")[0] == "ansible_collections"]:
            del sys.modules[module]
        init_plugin_loader([str(COLLECTIONS_DIR)])
        from ansible_collections.virtops.libvirt.plugins.plugin_utils import _reader

        self.reader = _reader
        self.read_request = _reader.ReadRequest()  # the plugin's defaults
        self.inventory_data = InventoryData
        self.data_loader = DataLoader
        self.inventory_loader = inventory_loader

    def plugin(self, name: str) -> Any:
        plugin = self.inventory_loader.get(name)
        if plugin is None:
            raise BenchError(f"Ansible's plugin loader cannot find the inventory plugin {name}")
        return plugin

    def parse(self, name: str, config: Path) -> tuple[float, Any, Any]:
        """(seconds, plugin, inventory) of one parse() by a fresh plugin into an empty inventory."""
        plugin = self.plugin(name)
        inventory = self.inventory_data()
        loader = self.data_loader()
        gc.collect()
        start = time.perf_counter()
        plugin.parse(inventory, loader, str(config), cache=False)
        return time.perf_counter() - start, plugin, inventory

    def read(self) -> float:
        """Seconds of our plugin's libvirt part alone (connect, read, disconnect), with its default options."""
        gc.collect()
        start = time.perf_counter()
        conn = self.reader.connect(URI, self.read_request, self.reader.CallCounter())
        self.reader.read_connection(conn, self.read_request, lambda _message: None)
        return time.perf_counter() - start

    def add_hosts(self, hosts: Sequence[tuple[str, dict[str, Any]]]) -> float:
        """Seconds to add these hosts with these variables to an empty inventory."""
        inventory = self.inventory_data()
        gc.collect()
        start = time.perf_counter()
        for name, variables in hosts:
            inventory.add_host(name)
            for key, value in variables.items():
                inventory.set_variable(name, key, value)
        return time.perf_counter() - start


def host_list(inventory: Any) -> list[tuple[str, dict[str, Any]]]:
    """Each host of an inventory with the variables a plugin set on it (not those add_host sets itself)."""
    return [(name, {key: value for key, value in host.vars.items() if key not in ADD_HOST_VARIABLES}) for name, host in inventory.hosts.items()]


def count_prefixed(names: Any) -> int:
    return sum(1 for name in names if str(name).startswith(PREFIX))


# --------------------------------------------------------------------------- the domains
def domain_names(conn: libvirt.virConnect, prefix: str = "") -> list[str]:
    return [dom.name() for dom in conn.listAllDomains() if dom.name().startswith(prefix)]


def binv_name(index: int) -> str:
    return f"{PREFIX}{index:05d}"


def start_running_guests(conn: libvirt.virConnect) -> None:
    """binv-00001 ... binv-00003: real test guests, started and booted."""
    names = [binv_name(i) for i in range(1, RUNNING + 1)]
    for name in names:
        guest_py("define", name)
    boot(conn, names)


def define_minimal(conn: libvirt.virConnect, first: int, last: int) -> float:
    """Define binv-<first> ... binv-<last> (shut off, no disks); seconds taken."""
    start = time.perf_counter()
    for index in range(first, last + 1):
        conn.defineXML(MINIMAL_XML.format(name=binv_name(index)))
    return time.perf_counter() - start


def remove_binv(conn: libvirt.virConnect) -> int:
    """Destroy (when running) and undefine every binv- domain; their serial logs go too."""
    removed = 0
    for dom in conn.listAllDomains():
        if not dom.name().startswith(PREFIX):
            continue
        try:
            if dom.isActive():
                dom.destroy()
            if dom.isPersistent():
                dom.undefine()
        except libvirt.libvirtError as err:
            if err.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
                raise
        removed += 1
    for index in range(1, RUNNING + 1):
        with suppress(BenchError, OSError):
            Path(guest_py("log-path", binv_name(index)).strip()).unlink(missing_ok=True)
    return removed


def tagged_guest_xml(name: str, shutdown_delay: float) -> str:
    """guest.py's domain XML of a test guest, with the collection's tag 'batch' in <metadata>."""
    root = ET.fromstring(guest_py("xml", name, "--shutdown-delay", f"{shutdown_delay:g}"))
    metadata = root.find("metadata")
    if metadata is None:
        raise BenchError(f"guest.py xml {name} has no <metadata>")
    tags = ET.SubElement(metadata, f"{{{TAGS_NS}}}tags")
    ET.SubElement(tags, f"{{{TAGS_NS}}}tag").text = FLEET_TAG
    ET.register_namespace("virtops", TAGS_NS)
    ET.register_namespace("testbed", TESTBED_NS)
    return ET.tostring(root, encoding="unicode")


# --------------------------------------------------------------------------- measuring one size
@dataclass
class SizeResult:
    size: int  # binv- domains
    domains: int  # every domain our plugin read (other users' included)
    load: float  # 1-minute load average when the size's measurements started
    parse: dict[str, list[float]] = field(default_factory=lambda: {OURS: [], THEIRS: []})
    reads: list[float] = field(default_factory=list)  # our plugin's libvirt part alone
    floor_libvirt: list[float] = field(default_factory=list)
    floor_hosts: list[float] = field(default_factory=list)
    cli: dict[str, list[float]] = field(default_factory=lambda: {OURS: [], THEIRS: []})
    calls: dict[str, Counter[str]] = field(default_factory=dict)
    own_calls: dict[str, int] = field(default_factory=dict)
    variables: int = 0  # variables per host set by our plugin (the most of any host)

    def median(self, key: str) -> float:
        if key == FLOOR:
            return statistics.median(self.floor_libvirt) + statistics.median(self.floor_hosts)
        return statistics.median(self.parse[key])


@dataclass
class Bench:
    ansible: InProcessAnsible
    conn: libvirt.virConnect  # read-write: defines the domains
    reader: libvirt.virConnect  # read-only, as our plugin's: the floor's libvirt part
    configs: dict[str, Path]
    reps: int
    cli_reps: int
    hosts: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # from our plugin's last parse
    cli_warm: bool = False


@contextmanager
def vvv_lines() -> Iterator[list[str]]:
    """What the plugins show at -vvv meanwhile (ours counts its libvirt calls there)."""
    from ansible.utils.display import Display

    lines: list[str] = []
    real = Display.vvv
    Display.vvv = lambda _self, msg, *_args, **_kwargs: lines.append(msg)
    try:
        yield lines
    finally:
        Display.vvv = real


def counted_parse(bench: Bench, name: str, size: int) -> tuple[Counter[str], Any, Any]:
    """One untimed parse() with every libvirt call counted; checks that all binv- domains are hosts."""
    with counting_libvirt_calls() as calls:
        _seconds, plugin, inventory = bench.ansible.parse(name, bench.configs[name])
    found = count_prefixed(inventory.hosts)
    if found != size:
        raise BenchError(f"{name} made {found} {PREFIX}* hosts, not {size}")
    return Counter(calls.counts), plugin, inventory


def floor_libvirt(reader: libvirt.virConnect) -> float:
    """listAllDomains() and one getAllDomainStats(STATE|VCPU|BALLOON, NOWAIT), on an open connection."""
    stats = libvirt.VIR_DOMAIN_STATS_STATE | libvirt.VIR_DOMAIN_STATS_VCPU | libvirt.VIR_DOMAIN_STATS_BALLOON
    gc.collect()
    start = time.perf_counter()
    reader.listAllDomains()
    reader.getAllDomainStats(stats, libvirt.VIR_CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT)
    return time.perf_counter() - start


def timed_parse(bench: Bench, key: str, size: int) -> float:
    seconds, _plugin, inventory = bench.ansible.parse(key, bench.configs[key])
    if count_prefixed(inventory.hosts) != size:
        raise BenchError(f"{key} lost {PREFIX}* hosts in a timed run")
    return seconds


def measure_parse(bench: Bench, result: SizeResult) -> None:
    keys = [OURS, THEIRS, FLOOR, READ]
    for rep in range(bench.reps):
        for key in keys[rep % len(keys) :] + keys[: rep % len(keys)]:
            if key == READ:
                result.reads.append(bench.ansible.read())
            elif key == FLOOR:
                result.floor_libvirt.append(floor_libvirt(bench.reader))
                result.floor_hosts.append(bench.ansible.add_hosts(bench.hosts))
            else:
                result.parse[key].append(timed_parse(bench, key, result.size))


def cli_list(bench: Bench, key: str, size: int) -> float:
    """Wall time of one `ansible-inventory -i CONFIG --list`; checks the binv- hosts are all there."""
    env = tool_env()
    env["ANSIBLE_INVENTORY_UNPARSED_FAILED"] = "true"
    run = run_timed([str(VENV_BIN / "ansible-inventory"), "-i", str(bench.configs[key]), "--list"], env)
    try:
        hostvars = json.loads(run.stdout)["_meta"]["hostvars"]
    except (ValueError, KeyError) as err:
        raise BenchError(f"ansible-inventory --list of {key} gave no _meta.hostvars ({err})") from None
    if count_prefixed(hostvars) != size:
        raise BenchError(f"ansible-inventory --list of {key} lists {count_prefixed(hostvars)} {PREFIX}* hosts, not {size}")
    return run.end - run.start


def measure_cli(bench: Bench, result: SizeResult) -> None:
    keys = [OURS, THEIRS]
    if not bench.cli_warm:  # page cache and bytecode caches, not counted
        for key in keys:
            cli_list(bench, key, result.size)
        bench.cli_warm = True
    for rep in range(bench.cli_reps):
        for key in keys[rep % 2 :] + keys[: rep % 2]:
            result.cli[key].append(cli_list(bench, key, result.size))


def measure_size(bench: Bench, size: int) -> SizeResult:
    with vvv_lines() as lines:
        ours_calls, plugin, inventory = counted_parse(bench, OURS, size)
    theirs_calls, _theirs, _theirs_inventory = counted_parse(bench, THEIRS, size)
    bench.hosts = host_list(inventory)
    result = SizeResult(size=size, domains=len(inventory.hosts), load=os.getloadavg()[0])
    result.calls = {OURS: ours_calls, THEIRS: theirs_calls}
    result.own_calls = {OURS: sum(int(count) for line in lines for count in re.findall(r" (\d+) libvirt calls ", line))}
    result.variables = max(len(variables) for _name, variables in bench.hosts)
    del plugin, inventory, _theirs, _theirs_inventory
    measure_parse(bench, result)
    progress(f"{size}: parse() virtops {result.median(OURS):.3f} s, community {result.median(THEIRS):.3f} s, floor {result.median(FLOOR):.3f} s")
    measure_cli(bench, result)
    progress(f"{size}: ansible-inventory --list virtops {statistics.median(result.cli[OURS]):.2f} s, community {statistics.median(result.cli[THEIRS]):.2f} s")
    return result


def run_sizes(bench: Bench, sizes: Sequence[int]) -> list[SizeResult]:
    progress(f"starting {RUNNING} real test guests {binv_name(1)} ... {binv_name(RUNNING)}")
    start_running_guests(bench.conn)
    defined = RUNNING
    results = []
    for size in sizes:
        seconds = define_minimal(bench.conn, defined + 1, size)
        progress(f"{size}: defined {size - defined} shut-off domains in {seconds:.1f} s")
        defined = size
        results.append(measure_size(bench, size))
    return results


# --------------------------------------------------------------------------- e: the fleet playbook
@dataclass
class FleetSample:
    label: str
    to_off: float = 0.0  # request -> the last guest really off (STOPPED event)
    task_gap: float = 0.0  # last guest off -> the virt_power task ended
    to_return: float = 0.0  # request -> ansible-playbook exited
    error: str = ""


def power_task_end(report: dict[str, Any], names: Sequence[str]) -> float:
    """End (time.time() scale) of the playbook's virt_power task; checks it ran on every guest."""
    for play in report["plays"]:
        for task in play["tasks"]:
            if task["task"]["name"] == POWER_TASK:
                missing = sorted(set(names) - set(task["hosts"]))
                if missing:
                    raise BenchError(f"the virt_power task did not run on {' '.join(missing)}")
                stamp = task["task"]["duration"]["end"].rstrip("Z")
                return datetime.fromisoformat(stamp).replace(tzinfo=UTC).timestamp()
    raise BenchError(f"the playbook's report has no task '{POWER_TASK}' (did -l tag_batch match nothing?)")


def fleet_run(listener: StopListener, config: Path, names: Sequence[str], forks: int | None) -> FleetSample:
    sample = FleetSample(f"forks {forks}" if forks else "default forks (5)")
    try:
        boot(listener.conn, names)
        cmd = [
            str(VENV_BIN / "ansible-playbook"),
            "virtops.libvirt.power",
            "-i",
            str(config),
            "-l",
            f"tag_{FLEET_TAG}",
            "-e",
            "power_state=shutdown",
            *(["-f", str(forks)] if forks else []),
        ]
        run = run_timed(cmd, tool_env("ansible.posix.json"))
        task_end = power_task_end(read_json_callback(run.stdout), names)
        off = max(listener.stopped_at(names, since=run.start).values())
        require_off(listener.conn, names)
    except (BenchError, libvirt.libvirtError) as err:
        sample.error = str(err)
        progress(f"fleet, {sample.label}: FAILED: {sample.error}")
        return sample
    sample.to_off, sample.task_gap, sample.to_return = off - run.start, task_end - off, run.end - run.start
    progress(f"fleet, {sample.label}: all off after {sample.to_off:.2f} s, playbook returned after {sample.to_return:.2f} s")
    return sample


def run_fleet(bench: Bench, workdir: Path, shutdown_delay: float) -> list[FleetSample]:
    names = [f"{FLEET_PREFIX}{i}" for i in range(1, FLEET_GUESTS + 1)]
    playbook = COLLECTIONS_DIR / "ansible_collections" / "virtops" / "libvirt" / "playbooks" / "power.yml"
    if not playbook.exists():
        return [FleetSample("-", error=f"{playbook} is not there (yet)")]
    for name in names:
        bench.conn.defineXML(tagged_guest_xml(name, shutdown_delay))
    config = workdir / "fleet.libvirt.yml"
    config.write_text(f"plugin: {OURS}\nuri: {URI}\nread_tags: true\n", encoding="utf-8")
    listener = StopListener(URI)
    try:
        return [fleet_run(listener, config, names, forks) for forks in (None, FLEET_GUESTS)]
    finally:
        listener.close()


# --------------------------------------------------------------------------- report
def secs(values: Sequence[float]) -> str:
    med = statistics.median(values)
    return f"{med:.3f} s" if len(values) == 1 else f"{med:.3f} s [{min(values):.3f}..{max(values):.3f}]"


def calls_cell(result: SizeResult, key: str) -> str:
    counted = sum(result.calls[key].values())
    own = result.own_calls.get(key)
    return str(counted) if own is None else f"{counted} (own counter {own})"


def parse_rows(results: Sequence[SizeResult]) -> list[list[str]]:
    rows = []
    for r in results:
        floor_libvirt_s = statistics.median(r.floor_libvirt)
        floor_hosts_s = statistics.median(r.floor_hosts)
        rows.append(
            [
                f"{r.size} ({r.domains})",
                secs(r.parse[OURS]),
                f"{statistics.median(r.reads):.3f} s",
                secs(r.parse[THEIRS]),
                f"{floor_libvirt_s:.3f} s",
                f"{floor_hosts_s:.3f} s",
                f"{floor_libvirt_s + floor_hosts_s:.3f} s",
                f"{r.median(OURS) / r.median(FLOOR):.2f}x",
                f"{r.median(THEIRS) / r.median(OURS):.1f}x",
                calls_cell(r, OURS),
                calls_cell(r, THEIRS),
                f"{r.load:.2f}",
            ]
        )
    return rows


def cli_rows(results: Sequence[SizeResult]) -> list[list[str]]:
    return [
        [f"{r.size} ({r.domains})", secs(r.cli[OURS]), secs(r.cli[THEIRS]), f"{statistics.median(r.cli[THEIRS]) / statistics.median(r.cli[OURS]):.1f}x"]
        for r in results
    ]


def slope(low: SizeResult, high: SizeResult, pick: Callable[[SizeResult], float]) -> str:
    return f"{(pick(high) - pick(low)) / (high.domains - low.domains) * 1e6:.1f}"


SLOPES: list[tuple[str, Callable[[SizeResult], float]]] = [
    ("virtops parse()", lambda r: r.median(OURS)),
    ("virtops: its libvirt part", lambda r: statistics.median(r.reads)),
    ("community parse()", lambda r: r.median(THEIRS)),
    ("floor: libvirt", lambda r: statistics.median(r.floor_libvirt)),
    ("floor: add hosts", lambda r: statistics.median(r.floor_hosts)),
    ("floor: sum", lambda r: r.median(FLOOR)),
    ("virtops ansible-inventory", lambda r: statistics.median(r.cli[OURS])),
    ("community ansible-inventory", lambda r: statistics.median(r.cli[THEIRS])),
]


def slope_pairs(results: Sequence[SizeResult]) -> list[tuple[SizeResult, SizeResult]]:
    pairs = list(zip(results, results[1:]))
    if len(results) > 2:
        pairs.append((results[0], results[-1]))
    return pairs


def slope_rows(results: Sequence[SizeResult]) -> list[list[str]]:
    return [[label, *(slope(low, high, pick) for low, high in slope_pairs(results))] for label, pick in SLOPES]


def fleet_rows(samples: Sequence[FleetSample]) -> list[list[str]]:
    rows = []
    for s in samples:
        if s.error:
            rows.append([s.label, "FAILED", "", "", s.error.splitlines()[0][:150]])
        else:
            rows.append([s.label, f"{s.to_off:.2f} s", f"{s.task_gap:+.3f} s", f"{s.to_return:.2f} s", ""])
    return rows


def goals(results: Sequence[SizeResult]) -> list[str]:
    def verdict(ok: bool) -> str:
        return "met" if ok else "NOT met"

    ratios = [(r.size, r.median(OURS) / r.median(FLOOR)) for r in results]
    lines = [
        f"goal: virtops parse() <= {GOAL_FLOOR_RATIO}x the floor at every size: "
        + verdict(all(ratio <= GOAL_FLOOR_RATIO for _size, ratio in ratios))
        + " ("
        + ", ".join(f"{size}: {ratio:.2f}x" for size, ratio in ratios)
        + ")"
    ]
    at = [r for r in results if r.size == GOAL_SPEEDUP_SIZE]
    if at:
        speedup = at[0].median(THEIRS) / at[0].median(OURS)
        lines.append(
            f"goal: virtops parse() >= {GOAL_SPEEDUP:g}x faster than community.libvirt's at {GOAL_SPEEDUP_SIZE}: "
            f"{verdict(speedup >= GOAL_SPEEDUP)} ({speedup:.1f}x)"
        )
    else:
        lines.append(f"goal: >= {GOAL_SPEEDUP:g}x faster at {GOAL_SPEEDUP_SIZE}: not measured (size {GOAL_SPEEDUP_SIZE} not in --sizes)")
    if len(results) > 1:
        low, high = results[0], results[-1]
        lines.append(
            f"goal: per-domain cost of virtops parse() reported: met ({slope(low, high, SLOPES[0][1])} us/domain"
            f" between {low.domains} and {high.domains} domains)"
        )
    else:
        lines.append("goal: per-domain cost reported: NOT met (needs two sizes)")
    faster = [statistics.median(r.cli[OURS]) < statistics.median(r.cli[THEIRS]) for r in results]
    lines.append("goal: ansible-inventory --list faster than community's at every size: " + verdict(all(faster)))
    return lines


def call_lines(results: Sequence[SizeResult]) -> list[str]:
    lines = []
    for r in results:
        for key in (OURS, THEIRS):
            lines.append(f"  {r.size:>5} {key}: {dict(sorted(r.calls[key].items()))}")
    return lines


def host_facts(conn: libvirt.virConnect, load_start: tuple[float, float, float], args: argparse.Namespace) -> list[str]:
    def version(n: int) -> str:
        return f"{n // 1000000}.{n // 1000 % 1000}.{n % 1000}"

    manifest = Path(libvirt_collection_dir()) / "MANIFEST.json"
    community_version = json.loads(manifest.read_text(encoding="utf-8"))["collection_info"]["version"]
    load_end = os.getloadavg()
    return [
        f"libvirt {version(conn.getLibVersion())}, QEMU {version(conn.getVersion())} ({URI}); running guests are type"
        f" '{os.environ.get('VIRTOPS_DOMAIN_TYPE', 'qemu')}' test guests, the others minimal shut-off 'qemu' definitions",
        f"ansible-core {importlib.metadata.version('ansible-core')}, community.libvirt {community_version}"
        f" (ansible {importlib.metadata.version('ansible')}), libvirt-python {importlib.metadata.version('libvirt-python')},"
        f" Python {sys.version.split()[0]}",
        f"{os.cpu_count()} CPUs; load average {load_start[0]:.2f} {load_start[1]:.2f} {load_start[2]:.2f} at the start,"
        f" {load_end[0]:.2f} {load_end[1]:.2f} {load_end[2]:.2f} at the end",
        f"parse(): median of {args.reps} runs per tool and size, interleaved, after one counted untimed run;"
        f" ansible-inventory: median of {args.cli_reps} [min..max], after one warm-up run per tool",
    ]


NOTES = [
    f"size = {PREFIX}* domains ({RUNNING} of them real running test guests); (n) = every domain read, other users' included.",
    "floor: libvirt = listAllDomains() + getAllDomainStats(STATE|VCPU|BALLOON, NOWAIT) on an open read-only connection;"
    " add hosts = add_host + set_variable of our plugin's hosts and variables into an empty InventoryData.",
    "of which libvirt = our plugin's connect() and read_connection() alone (connect, read, disconnect; default options), timed"
    " separately in the same rotation; the rest of virtops parse() is options, host names and adding to the inventory.",
    "virtops parse() also opens and closes its connection, reads 3 flag listings, one address call per running domain"
    " (ip_sources [lease], the default), and adds groups: none of that is in the floor.",
    "floor: add hosts sets each variable through InventoryData.set_variable, as the issue defines it; the plugin"
    " gives a host new to the inventory all its variables in one Host.vars update (same result, no per-name check).",
    "calls = libvirt-python calls counted by wrappers in this process (local getters name/UUIDString/ID not counted);"
    " for virtops also its own counter (its -vvv line).",
    "Both configuration files hold only plugin and uri (qemu:///system); community.libvirt connects read-write.",
]


def report(
    args: argparse.Namespace,
    conn: libvirt.virConnect,
    load_start: tuple[float, float, float],
    results: Sequence[SizeResult],
    fleet: Sequence[FleetSample],
    connect_s: float,
) -> str:
    parse_table = render_table(
        [
            "size (domains)",
            "virtops parse()",
            "of which libvirt",
            "community parse()",
            "floor: libvirt",
            "floor: add hosts",
            "floor: sum",
            "virtops/floor",
            "community/virtops",
            "libvirt calls virtops",
            "libvirt calls community",
            "load 1m",
        ],
        parse_rows(results),
    )
    cli_table = render_table(
        ["size (domains)", "virtops ansible-inventory --list", "community ansible-inventory --list", "community/virtops"], cli_rows(results)
    )
    pairs = [f"{low.domains}->{high.domains}" for low, high in slope_pairs(results)]
    slope_table = render_table(["us per domain (slope)", *pairs], slope_rows(results)) if pairs else "(one size: no slope)"
    variables = max((r.variables for r in results), default=0)
    out = [
        "",
        "a/b/d. parse() in one process, seconds (median [min..max])",
        parse_table,
        "",
        "c. whole process: ansible-inventory -i CONFIG --list, wall time",
        cli_table,
        "",
        "d. cost per domain, microseconds (difference of medians / difference of domains)",
        slope_table,
        "",
        "libvirt calls by function:",
        *call_lines(results),
        "",
    ]
    if fleet:
        out += [
            f"e. virtops.libvirt.power -l tag_{FLEET_TAG} -e power_state=shutdown, {FLEET_GUESTS} test guests, read_tags inventory (one run each)",
            render_table(["forks", "request -> all off", "all off -> virt_power task ended", "request -> playbook returned", "error"], fleet_rows(fleet)),
            "",
        ]
    out += [
        *goals(results),
        "",
        *NOTES,
        f"Our plugin set at most {variables} variables per host; opening + closing a read-only connection takes {connect_s * 1000:.1f} ms"
        " (median), in virtops parse() but not in the floor.",
        "",
        *host_facts(conn, load_start, args),
    ]
    return "\n".join(out)


# --------------------------------------------------------------------------- main
def connect_seconds(reps: int) -> float:
    samples = []
    for _rep in range(reps):
        start = time.perf_counter()
        libvirt.openReadOnly(URI).close()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def write_configs(workdir: Path) -> dict[str, Path]:
    configs = {OURS: workdir / "virtops.libvirt.yml", THEIRS: workdir / "community.libvirt.yml"}
    for key, path in configs.items():
        path.write_text(f"plugin: {key}\nuri: {URI}\n", encoding="utf-8")
    return configs


def parse_sizes(text: str) -> list[int]:
    try:
        sizes = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"--sizes takes numbers separated by commas, not {text!r}") from None
    if not sizes or sizes[0] < RUNNING or sizes[-1] > 99999:
        raise argparse.ArgumentTypeError(f"every size must be between {RUNNING} and 99999")
    return sizes


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--sizes", type=parse_sizes, default=parse_sizes("100,1000,3000"), help="numbers of domains (default 100,1000,3000)")
    p.add_argument("--reps", type=int, default=11, help="timed parse() runs per tool and size (default %(default)s)")
    p.add_argument("--cli-reps", type=int, default=3, help="timed ansible-inventory runs per tool and size (default %(default)s)")
    p.add_argument("--no-fleet", action="store_true", help="skip part e (the fleet playbook on 8 real guests)")
    p.add_argument("--shutdown-delay", type=float, default=0.0, help="seconds the fleet guests take to power off (default %(default)s)")
    args = p.parse_args(argv)
    if min(args.reps, args.cli_reps) < 1 or args.shutdown_delay < 0:
        p.error("--reps and --cli-reps must be at least 1, --shutdown-delay not negative")
    return args


@dataclass
class Cleanup:
    conn: libvirt.virConnect
    fleet: bool = False  # the bench- guests were defined by this run

    def run(self) -> None:
        try:
            progress(f"cleanup: removed {remove_binv(self.conn)} {PREFIX}* domain(s)")
        except libvirt.libvirtError as err:
            print(f"bench_inventory: warning: removing the {PREFIX}* domains failed: {err}", file=sys.stderr)
        if self.fleet:
            try:
                guest_py("cleanup", "--prefix", FLEET_PREFIX)
            except BenchError as err:
                print(f"bench_inventory: warning: {err}", file=sys.stderr)


def run_bench(args: argparse.Namespace, conn: libvirt.virConnect, cleanup: Cleanup, workdir: Path) -> str:
    load_start = os.getloadavg()
    ansible = InProcessAnsible()
    reader = libvirt.openReadOnly(URI)
    try:
        bench = Bench(ansible, conn, reader, write_configs(workdir), args.reps, args.cli_reps)
        results = run_sizes(bench, args.sizes)
        connect_s = connect_seconds(5)
    finally:
        reader.close()
    cleanup.run()
    fleet: list[FleetSample] = []
    if not args.no_fleet:
        taken = domain_names(conn, FLEET_PREFIX)
        if taken:
            fleet = [FleetSample("-", error=f"skipped: {' '.join(taken)} exist already (another run's guests?)")]
        else:
            cleanup.fleet = True
            try:
                fleet = run_fleet(bench, workdir, args.shutdown_delay)
            except (BenchError, libvirt.libvirtError) as err:
                fleet = [FleetSample("-", error=f"set-up failed: {err}")]
    return report(args, conn, load_start, results, fleet, connect_s)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    progress(f"bench_inventory: {', '.join(map(str, args.sizes))} {PREFIX}* domains; virtops.libvirt beside community.libvirt")

    def body() -> str:
        preflight()
        if not (VENV_BIN / "ansible-inventory").exists():
            raise BenchError(f"{VENV_BIN / 'ansible-inventory'} is missing; run 'make setup'")
        libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
        try:
            conn = libvirt.open(URI)
        except libvirt.libvirtError as err:
            raise BenchError(f"libvirt at {URI} does not answer ({err}); run 'make setup' or tests/testbed/start_daemons.sh") from None
        cleanup = Cleanup(conn)
        try:
            remove_binv(conn)  # what a killed earlier run left
            with tempfile.TemporaryDirectory(prefix="virtops-bench-inventory-") as tmp:
                text = run_bench(args, conn, cleanup, Path(tmp))
        finally:
            cleanup.run()
            conn.close()
        return text

    return run_main("bench_inventory", body)


if __name__ == "__main__":
    sys.exit(main())
