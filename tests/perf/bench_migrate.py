"""Live migration and drain between two hypervisors: virt_migrate and virt_drain beside ``virsh migrate`` run by Ansible's command module.

Run from anywhere as ``.venv/bin/python tests/perf/bench_migrate.py [--quick]`` (after
``make setup``, which starts the test bed's second libvirtd "hv2"; ``make bench`` runs
it). Both hypervisors are daemons of this machine: hv1 = ``qemu:///system``, hv2 =
``qemu+unix:///system?socket=/var/lib/virtops/hv2/sock/libvirt-sock`` (hv2's daemon reaches
hv1 as ``qemu+unix:///system?socket=/var/lib/virtops/hv2/hv1-run/libvirt-sock``, the
peer_uri of a peer-to-peer migration back); the migration data goes over
``tcp://127.0.0.1``. The guests are tiny test guests (tests/testbed/guest.py, ``--memory-mib``
128 MiB, TCG translation cache 32 MiB), running, booted until their serial log says
``acpid started``. Every migration is live and peer-to-peer, makes the domain persistent
on the destination and removes it from the source. Measured in one run, on the same
daemons, the ways interleaved (the first one rotating), ``--reps`` times each, medians
[min..max]:

1. One guest (``bmig-one``) moved hv1 -> hv2 and back, four ways: ``ansible localhost -m
   virtops.libvirt.virt_migrate -a ...`` (ad hoc); the same module as the one task of a
   playbook; a playbook whose one task is ``ansible.builtin.command: virsh migrate --live
   --p2p --persistent --undefinesource NAME DEST --migrateuri tcp://127.0.0.1`` (delegated
   to localhost): how people migrate from Ansible today, since community.libvirt has no
   migration module (the report lists its modules, from ``ansible-doc -t module -l
   community.libvirt``, and the commands of community.libvirt.virt); and that ``virsh
   migrate`` alone. Wall time of each process; the modules' own ``duration``; the
   guest's downtime, the modules' ``downtime_ms`` and, for the virsh ways, libvirt's
   "Total downtime" (``virsh domjobinfo --completed`` on the destination, read after the
   timed run). One warm-up of the ad hoc way (there and back) is not counted.
2. ``--guests`` N (8) guests ``bmig-d01`` ... drained from hv1 to hv2 and brought back
   (undrain): ``virtops.libvirt.virt_drain`` (``state: drained``, then ``state:
   undrained`` with the drain's ``moved`` as ``record``) as the one task of a playbook, at
   each ``--parallel`` (1,2,4); beside it the do-it-yourself way, a playbook with one
   ``ansible.builtin.command: virsh migrate ...`` task looped over the N names (one after
   the other), there and back. Total wall time of each playbook, per guest (total / N),
   virt_drain's own ``duration``, and the summed and the longest downtime (virt_drain's
   ``moved[].downtime_ms``; libvirt's domjobinfo for the virsh loop).

After every run the guests are checked with ``virsh list`` on both daemons: each must run
on the destination and be gone from the source, else the part fails. The drain leaves
every domain of hv1 that is not one of these N guests where it is: its ``exclude_names``
are shell patterns matching every name that does not start with ``bmig-d`` (whatever
domains other people add or remove meanwhile; part 1's guest is removed before part 2),
and its ``moved`` must name exactly the N guests.
Other domains of either daemon are never touched; no libvirt network is started. Every
``bmig-*`` domain is removed from both daemons at the start (what a killed run left) and
at the end, also on error. The machine's load average is printed (at the start, at the end,
and before the runs of each part; it counts this benchmark's own guests and processes).

Usage: bench_migrate.py [--quick] [--reps 3] [--guests 8] [--parallel 1,2,4]
[--memory-mib 128] [--run-timeout 600]. ``--quick`` (for development): 4 guests, 1 rep.
Progress goes to stderr, the report to stdout (ending with a markdown table for
docs/migration.md); exit status 0 when every run succeeded and every check held, 1 with a
message otherwise (the report of what was measured is printed first).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import bench_power
import libvirt
from bench_power import (
    COLLECTIONS_DIR,
    SEPARATOR,
    VENV_BIN,
    VENV_PYTHON,
    BenchError,
    TimedRun,
    guest_py,
    libvirt_collection_dir,
    preflight,
    progress,
    read_json_callback,
    render_table,
    run_main,
    run_timed,
    tool_env,
)

HV1 = "qemu:///system"
HV2 = "qemu+unix:///system?socket=/var/lib/virtops/hv2/sock/libvirt-sock"
HV1_FROM_HV2 = "qemu+unix:///system?socket=/var/lib/virtops/hv2/hv1-run/libvirt-sock"  # hv1 as hv2's daemon reaches it (peer_uri)
MIGRATE_URI = "tcp://127.0.0.1"
LABELS = {HV1: "hv1", HV2: "hv2"}
PREFIX = "bmig-"  # every domain of this benchmark
ONE_GUEST = f"{PREFIX}one"  # part 1's, removed before part 2 starts
DRAIN_PREFIX = f"{PREFIX}d"  # part 2's: bmig-d01 ...; the drain excludes every other name
TB_CACHE_MIB = 32
READY = "acpid started"  # the serial line of a booted guest
READY_TIMEOUT = 240.0  # every guest booted far enough to hear ACPI (TCG, 2 cores, under load)
# A TCG guest starved of CPU while it boots can panic (the kernel's timer check): a fault of the
# test bed under load. Such a guest is started again (at most BOOT_ATTEMPTS times); the report counts it.
PANIC = "Kernel panic"
BOOT_ATTEMPTS = 3
VIRSH_TIMEOUT = 120.0
START_HV2 = "run 'make setup' (tests/testbed/start_second_daemon.sh)"

# the two directions, each as (source, destination as this controller reaches it, destination as the source's daemon reaches it)
THERE = "hv1 -> hv2"
BACK = "hv2 -> hv1"
DIRECTIONS = {THERE: (HV1, HV2, HV2), BACK: (HV2, HV1, HV1_FROM_HV2)}

# part 1: the ways to move one guest
ADHOC = "virt_migrate, ad hoc"
MODULE_PLAY = "virt_migrate, one-task playbook"
COMMAND_PLAY = "command: virsh migrate, one-task playbook"
VIRSH = "virsh migrate alone"
ONE_WAYS = (ADHOC, MODULE_PLAY, COMMAND_PLAY, VIRSH)

# part 2: the ways to move N guests
VIRSH_LOOP = "command: virsh migrate, looped"


def drain_way(parallel: int) -> str:
    return f"virt_drain parallel={parallel}"


# Written to a temporary directory at run time, so the linters of the repository never see them.
# Variables come in an extra-vars file (-e @vars.json) written before each run.
PLAY_HEAD = """\
- name: {title}
  hosts: localhost
  gather_facts: false
  tasks:
"""

LOCAL_TASK_VARS = """\
      delegate_to: localhost
      vars:
        ansible_connection: local
        ansible_python_interpreter: "{{ ansible_playbook_python }}"
"""

MIGRATE_TASK = """\
    - name: Move the guest live with virtops.libvirt.virt_migrate
      virtops.libvirt.virt_migrate:
        name: "{{ guest }}"
        uri: "{{ source }}"
        dest_uri: "{{ dest }}"
        peer_uri: "{{ peer }}"
        migrate_uri: "{{ migrate_uri }}"
"""

# what a user writes today: the virsh command line, templated
VIRSH_COMMAND = "virsh -c {{ source }} migrate --live --p2p --persistent --undefinesource {{ %s }} {{ peer }} --migrateuri {{ migrate_uri }}"

COMMAND_TASK = f"""\
    - name: Move the guest live with virsh migrate
      ansible.builtin.command: {VIRSH_COMMAND % "guest"}
      changed_when: true
"""

COMMAND_LOOP_TASK = f"""\
    - name: Move each guest live with virsh migrate, one after the other
      ansible.builtin.command: {VIRSH_COMMAND % "item"}
      changed_when: true
      loop: "{{{{ guests }}}}"
"""

DRAIN_TASK = """\
    - name: Drain the hypervisor with virtops.libvirt.virt_drain
      virtops.libvirt.virt_drain:
        uri: "{{ source }}"
        state: drained
        targets:
          - uri: "{{ dest }}"
            migrate_uri: "{{ migrate_uri }}"
        parallel: "{{ parallel }}"
        exclude_names: "{{ exclude }}"
"""

UNDRAIN_TASK = """\
    - name: Bring the drained domains back with virtops.libvirt.virt_drain
      virtops.libvirt.virt_drain:
        uri: "{{ home }}"
        state: undrained
        targets:
          - "{{ away }}"
        record: "{{ record }}"
        peer_uri: "{{ peer }}"
        migrate_uri: "{{ migrate_uri }}"
        parallel: "{{ parallel }}"
"""

PLAYBOOKS = {
    "migrate": PLAY_HEAD.format(title="Move one guest with virt_migrate") + MIGRATE_TASK + LOCAL_TASK_VARS,
    "command": PLAY_HEAD.format(title="Move one guest with virsh migrate") + COMMAND_TASK + LOCAL_TASK_VARS,
    "command_loop": PLAY_HEAD.format(title="Move the guests with virsh migrate, one after the other") + COMMAND_LOOP_TASK + LOCAL_TASK_VARS,
    "drain": PLAY_HEAD.format(title="Drain hv1 onto hv2 with virt_drain") + DRAIN_TASK + LOCAL_TASK_VARS,
    "undrain": PLAY_HEAD.format(title="Bring the guests back to hv1 with virt_drain") + UNDRAIN_TASK + LOCAL_TASK_VARS,
}

# `localhost | CHANGED => {...}` of an ad hoc run
ADHOC_RE = re.compile(r"^localhost \| (CHANGED|SUCCESS|FAILED!)(?: \| rc=-?\d+)? => ", re.M)
DOWNTIME_RE = re.compile(r"^Total downtime:\s+(\d+)\s+ms", re.M)


def exclude_all_but(prefix: str) -> list[str]:
    """Shell patterns (virt_drain's exclude_names, fnmatchcase) matching every name that does not start with
    PREFIX: a different first character, the same first and a different second, ..., and the starts of PREFIX."""
    if not re.fullmatch(r"[A-Za-z0-9-]+", prefix):
        raise BenchError(f"prefix {prefix!r} must hold letters, digits and '-' only")
    return [f"{prefix[:i]}[!{prefix[i]}]*" for i in range(len(prefix))] + [prefix[:i] for i in range(1, len(prefix))]


# --------------------------------------------------------------------------- virsh on both daemons
def virsh(uri: str, *args: str) -> str:
    try:
        proc = subprocess.run(["virsh", "-q", "-c", uri, *args], capture_output=True, text=True, timeout=VIRSH_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        raise BenchError(f"virsh -c {uri} {' '.join(args)} did not finish within {VIRSH_TIMEOUT:.0f} s") from None
    if proc.returncode != 0:
        raise BenchError(f"virsh -c {uri} {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc.stdout


def names_on(uri: str, running_only: bool) -> set[str]:
    return set(virsh(uri, "list", "--name", *([] if running_only else ["--all"])).split())


def require_moved(label: str, names: Sequence[str], direction: str) -> None:
    """Every guest of NAMES runs on the destination of DIRECTION and is gone from its source (virsh list on both), else BenchError."""
    source, dest, _peer = DIRECTIONS[direction]
    missing = sorted(set(names) - names_on(dest, running_only=True))
    left = sorted(set(names) & names_on(source, running_only=False))
    if missing or left:
        problems = ([f"not running on {LABELS[dest]}: {' '.join(missing)}"] if missing else []) + (
            [f"still on {LABELS[source]}: {' '.join(left)}"] if left else []
        )
        raise BenchError(f"{label} ({direction}): " + "; ".join(problems))


def virsh_downtime_ms(uri: str, name: str) -> int | None:
    """libvirt's "Total downtime" of the domain's last completed job (an incoming migration) on that hypervisor."""
    found = DOWNTIME_RE.search(virsh(uri, "domjobinfo", "--completed", name))
    return int(found.group(1)) if found else None


def require_hv2() -> None:
    try:
        virsh(HV2, "version")
    except BenchError as err:
        raise BenchError(f"hv2 does not answer at {HV2}; {START_HV2}:\n{err}") from None


# --------------------------------------------------------------------------- guests
def boot_guests(names: Sequence[str], memory_mib: int) -> int:
    """Define and start the guests on hv1, wait until each hears ACPI; a guest whose boot panicked is
    started again. How many were started again."""
    for name in names:
        guest_py("create", name, "--uri", HV1, "--memory-mib", str(memory_mib), "--tb-cache-mib", str(TB_CACHE_MIB))
    restarts = 0
    for name in names:
        log = Path(guest_py("log-path", name).strip())
        for _attempt in range(BOOT_ATTEMPTS):
            guest_py("wait-log", name, f"{re.escape(READY)}|{PANIC}", "--regex", "--timeout", f"{READY_TIMEOUT:g}")
            if READY in log.read_text(errors="replace"):
                break
            progress(f"{name}: kernel panic at boot; starting it again")
            restarts += 1
            virsh(HV1, "destroy", name)
            virsh(HV1, "start", name)
        else:
            raise BenchError(f"{name} panicked at boot {BOOT_ATTEMPTS} times; see {log}")
    return restarts


def remove_all() -> None:
    """Remove every bmig- test-bed domain from both daemons, and their serial logs; warn when that fails."""
    for uri in (HV1, HV2):
        try:
            guest_py("cleanup", "--prefix", PREFIX, "--remove-logs", "--uri", uri)
            left = sorted(name for name in names_on(uri, running_only=False) if name.startswith(PREFIX))
            if left:
                print(f"bench_migrate: warning: left on {LABELS[uri]} after the cleanup: {' '.join(left)}", file=sys.stderr)
        except BenchError as err:
            print(f"bench_migrate: warning: cleanup on {LABELS[uri]} failed: {err}", file=sys.stderr)


# --------------------------------------------------------------------------- running the tools
class Tools:
    """The command lines of the ways measured, with their playbooks in a temporary directory."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        for key, text in PLAYBOOKS.items():
            (workdir / f"{key}.yml").write_text(text, encoding="utf-8")
        self.runs = 0
        self.part = "one guest"  # the part of the benchmark being run
        self.loads: dict[str, list[float]] = {}  # the 1-minute load average before each run, by part

    def _timed(self, cmd: Sequence[str], callback: str | None = None) -> TimedRun:
        self.loads.setdefault(self.part, []).append(os.getloadavg()[0])
        return run_timed(cmd, tool_env(callback))

    def playbook(self, key: str, extra_vars: dict) -> tuple[TimedRun, dict]:
        """Runs a playbook with the ansible.posix.json callback; the run and its (only) task's result on localhost."""
        self.runs += 1
        vars_file = self.workdir / f"vars-{self.runs}.json"
        vars_file.write_text(json.dumps({"migrate_uri": MIGRATE_URI, **extra_vars}), encoding="utf-8")
        run = self._timed([str(VENV_BIN / "ansible-playbook"), str(self.workdir / f"{key}.yml"), "-e", f"@{vars_file}"], "ansible.posix.json")
        report = read_json_callback(run.stdout)
        try:
            return run, report["plays"][0]["tasks"][0]["hosts"]["localhost"]
        except (KeyError, IndexError, TypeError):
            raise BenchError(f"{key} playbook: no result of its task on localhost in {run.stdout[:300]!r}") from None

    def adhoc_migrate(self, name: str, direction: str) -> tuple[TimedRun, dict]:
        source, dest, peer = DIRECTIONS[direction]
        args = {"name": name, "uri": source, "dest_uri": dest, "peer_uri": peer, "migrate_uri": MIGRATE_URI}
        interpreter = f"ansible_python_interpreter={VENV_PYTHON}"
        cmd = [str(VENV_BIN / "ansible"), "localhost", "-m", "virtops.libvirt.virt_migrate", "-a", json.dumps(args), "-e", interpreter]
        run = self._timed(cmd)
        found = ADHOC_RE.search(run.stdout)
        if not found:
            raise BenchError(f"no module result in the output of {' '.join(cmd)}:\n{run.stdout.strip()[-1000:]}")
        result, _end = json.JSONDecoder().raw_decode(run.stdout, found.end())
        return run, result

    def virsh_migrate(self, name: str, direction: str) -> TimedRun:
        source, _dest, peer = DIRECTIONS[direction]
        return self._timed(["virsh", "-c", source, "migrate", "--live", "--p2p", "--persistent", "--undefinesource", name, peer, "--migrateuri", MIGRATE_URI])

    @staticmethod
    def direction_vars(direction: str) -> dict[str, str]:
        source, dest, peer = DIRECTIONS[direction]
        return {"source": source, "dest": dest, "peer": peer}


def check_migrate_result(label: str, result: dict) -> None:
    """virt_migrate's result must say the guest moved live and runs. (The ansible.posix.json callback puts the
    task's action, the module's name, over the module's own `action`, so that one is not read.)"""
    if not result.get("changed") or result.get("mode") != "live" or result.get("state") != "running":
        seen = {key: result.get(key) for key in ("changed", "action", "mode", "state", "msg")}
        raise BenchError(f"{label}: virt_migrate did not report a live migration of a running guest: {seen}")


# --------------------------------------------------------------------------- part 1: one guest
@dataclass
class Move:
    """One migration of one guest."""

    wall: float  # the process measured, start to exit
    duration: float | None  # the module's own duration (virt_migrate ways)
    downtime_ms: int | None  # the module's downtime_ms, or libvirt's domjobinfo (virsh ways)


@dataclass
class OneResults:
    moves: dict[str, dict[str, list[Move]]] = field(default_factory=lambda: {way: {THERE: [], BACK: []} for way in ONE_WAYS})
    errors: list[str] = field(default_factory=list)


def move_one(tools: Tools, way: str, direction: str) -> Move:
    label = f"1 guest, {way}"
    name = ONE_GUEST
    if way == ADHOC:
        run, result = tools.adhoc_migrate(name, direction)
    elif way == MODULE_PLAY:
        run, result = tools.playbook("migrate", {"guest": name, **tools.direction_vars(direction)})
    elif way == COMMAND_PLAY:
        run, result = tools.playbook("command", {"guest": name, **tools.direction_vars(direction)})
    else:
        run, result = tools.virsh_migrate(name, direction), {}
    require_moved(label, [name], direction)
    if way in (ADHOC, MODULE_PLAY):
        check_migrate_result(f"{label} ({direction})", result)
        move = Move(run.end - run.start, result.get("duration"), result.get("downtime_ms"))
    else:
        move = Move(run.end - run.start, None, virsh_downtime_ms(DIRECTIONS[direction][1], name))
    module = "" if move.duration is None else f", module {move.duration:.2f} s"
    progress(f"{label}, {direction}: {move.wall:.2f} s{module}, downtime {move.downtime_ms} ms")
    return move


def bench_one(tools: Tools, args: argparse.Namespace) -> OneResults:
    results = OneResults()
    try:
        boot_guests([ONE_GUEST], args.memory_mib)
        for direction in DIRECTIONS:  # warm-up (page cache, bytecode caches), not counted
            move_one(tools, ADHOC, direction)
        ways = list(ONE_WAYS)
        for rep in range(args.reps):
            k = rep % len(ways)
            for way in ways[k:] + ways[:k]:
                for direction in DIRECTIONS:
                    results.moves[way][direction].append(move_one(tools, way, direction))
    except (BenchError, libvirt.libvirtError) as err:
        results.errors.append(f"1 guest: {err}")
        progress(f"1 guest: FAILED: {err}")
    finally:
        for uri in (HV1, HV2):  # wherever it is: the drain of part 2 must find only its own guests
            try:
                guest_py("cleanup", "--prefix", ONE_GUEST, "--remove-logs", "--uri", uri)
            except BenchError as err:
                results.errors.append(f"1 guest: removing {ONE_GUEST} from {LABELS[uri]}: {err}")
    return results


# --------------------------------------------------------------------------- part 2: N guests, drain and undrain
@dataclass
class Batch:
    """One playbook moving every guest one way."""

    wall: float  # the ansible-playbook process, start to exit
    duration: float | None  # virt_drain's own duration
    downtimes: list[int | None]  # per guest, virt_drain's moved[].downtime_ms or libvirt's domjobinfo

    @property
    def known(self) -> list[int]:
        return [d for d in self.downtimes if d is not None]


@dataclass
class DrainResults:
    names: list[str]
    ways: list[str]
    batches: dict[str, dict[str, list[Batch]]] = field(default_factory=dict)
    restarts: int = 0
    errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.batches = {way: {THERE: [], BACK: []} for way in self.ways}


def check_drain_result(label: str, result: dict, names: Sequence[str]) -> list[dict]:
    """The `moved` list of a virt_drain run, checked: exactly NAMES moved live, no failure, none of them remaining."""
    moved = result.get("moved") or []
    problems = []
    if sorted(entry.get("name") for entry in moved) != sorted(names):
        problems.append(f"moved {sorted(entry.get('name') for entry in moved)}, expected {sorted(names)}")
    if any(entry.get("mode") != "live" for entry in moved):
        problems.append("not every move was live")
    if result.get("failure"):
        problems.append(f"failure: {result['failure']}")
    stuck = sorted(set(result.get("remaining") or []) & set(names))
    if stuck:
        problems.append(f"remaining: {' '.join(stuck)}")
    if problems:
        raise BenchError(f"{label}: " + "; ".join(problems) + f" (summary: {result.get('summary')})")
    return moved


class Drains:
    def __init__(self, tools: Tools, args: argparse.Namespace) -> None:
        self.tools = tools
        self.args = args
        names = [f"{DRAIN_PREFIX}{i:02d}" for i in range(1, args.guests + 1)]
        self.results = DrainResults(names, [drain_way(p) for p in args.parallel] + [VIRSH_LOOP])
        self.exclude = exclude_all_but(DRAIN_PREFIX)

    def drain(self, parallel: int) -> tuple[Batch, list[dict]]:
        names = self.results.names
        label = f"{len(names)} guests, {drain_way(parallel)}, drain"
        extra = {**self.tools.direction_vars(THERE), "parallel": parallel, "exclude": self.exclude}
        run, result = self.tools.playbook("drain", extra)
        require_moved(label, names, THERE)
        moved = check_drain_result(label, result, names)
        return Batch(run.end - run.start, result.get("duration"), [entry.get("downtime_ms") for entry in moved]), moved

    def undrain(self, parallel: int, record: list[dict]) -> Batch:
        names = self.results.names
        label = f"{len(names)} guests, {drain_way(parallel)}, undrain"
        extra = {"home": HV1, "away": HV2, "peer": HV1_FROM_HV2, "parallel": parallel, "record": record}
        run, result = self.tools.playbook("undrain", extra)
        require_moved(label, names, BACK)
        moved = check_drain_result(label, result, names)
        return Batch(run.end - run.start, result.get("duration"), [entry.get("downtime_ms") for entry in moved])

    def virsh_loop(self, direction: str) -> Batch:
        names = self.results.names
        label = f"{len(names)} guests, {VIRSH_LOOP}"
        run, result = self.tools.playbook("command_loop", {**self.tools.direction_vars(direction), "guests": names})
        require_moved(label, names, direction)
        loops = result.get("results") or []
        if len(loops) != len(names) or any(item.get("rc") != 0 for item in loops):
            raise BenchError(f"{label} ({direction}): {len(loops)} loop result(s), rc {[item.get('rc') for item in loops]}; expected {len(names)} of rc 0")
        dest = DIRECTIONS[direction][1]
        return Batch(run.end - run.start, None, [virsh_downtime_ms(dest, name) for name in names])

    def record(self, way: str, direction: str, batch: Batch) -> None:
        self.results.batches[way][direction].append(batch)
        n = len(self.results.names)
        module = "" if batch.duration is None else f" (module {batch.duration:.2f} s)"
        downtime = f"downtime sum {sum(batch.known)} ms, max {max(batch.known, default=0)} ms" + (
            f" ({len(batch.downtimes) - len(batch.known)} unknown)" if len(batch.known) < len(batch.downtimes) else ""
        )
        progress(f"{n} guests, {way}, {direction}: {batch.wall:.2f} s{module}, {batch.wall / n:.2f} s per guest, {downtime}")

    def round_trip(self, way: str) -> None:
        if way == VIRSH_LOOP:
            for direction in DIRECTIONS:
                self.record(way, direction, self.virsh_loop(direction))
            return
        parallel = int(way.rsplit("=", 1)[1])
        batch, moved = self.drain(parallel)
        self.record(way, THERE, batch)
        self.record(way, BACK, self.undrain(parallel, moved))

    def run(self) -> DrainResults:
        try:
            self.results.restarts = boot_guests(self.results.names, self.args.memory_mib)
            progress(f"{len(self.results.names)} guests running on hv1")
            ways = list(self.results.ways)
            for rep in range(self.args.reps):
                k = rep % len(ways)
                for way in ways[k:] + ways[:k]:
                    self.round_trip(way)
        except (BenchError, libvirt.libvirtError) as err:
            self.results.errors.append(f"{len(self.results.names)} guests: {err}")
            progress(f"{len(self.results.names)} guests: FAILED: {err}")
        return self.results


# --------------------------------------------------------------------------- report
def secs(values: Sequence[float], unit: str = " s", spec: str = ".2f") -> str:
    if not values:
        return "-"
    med = format(statistics.median(values), spec)
    return f"{med}{unit}" if len(values) == 1 else f"{med}{unit} [{format(min(values), spec)}..{format(max(values), spec)}]"


def median_or_none(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def one_rows(one: OneResults) -> list[list[str]]:
    rows = []
    for way in ONE_WAYS:
        moves = one.moves[way]
        both = moves[THERE] + moves[BACK]
        durations = [m.duration for m in both if m.duration is not None]
        downtimes = [float(m.downtime_ms) for m in both if m.downtime_ms is not None]
        source = "module's downtime_ms" if way in (ADHOC, MODULE_PLAY) else "libvirt's domjobinfo"
        rows.append(
            [
                way,
                secs([m.wall for m in moves[THERE]]),
                secs([m.wall for m in moves[BACK]]),
                secs(durations),
                secs(downtimes, " ms", ".0f"),
                f"{len(moves[THERE])}+{len(moves[BACK])}",
                source,
            ]
        )
    return rows


def drain_rows(d: DrainResults) -> list[list[str]]:
    n = len(d.names)
    rows = []
    for way in d.ways:
        for direction in DIRECTIONS:
            batches = d.batches[way][direction]
            what = ("drain" if direction == THERE else "undrain") if way != VIRSH_LOOP else "loop"
            rows.append(
                [
                    f"{way}: {what} {direction}",
                    secs([b.wall for b in batches]),
                    secs([b.wall / n for b in batches]),
                    secs([b.duration for b in batches if b.duration is not None]),
                    secs([float(sum(b.known)) for b in batches], " ms", ".0f"),
                    secs([float(max(b.known)) for b in batches if b.known], " ms", ".0f"),
                    str(len(batches)),
                    "virt_drain's moved[].downtime_ms" if way != VIRSH_LOOP else "libvirt's domjobinfo, read afterwards",
                ]
            )
        rows.append(SEPARATOR)
    return rows[:-1]


def findings(one: OneResults, d: DrainResults) -> list[str]:
    lines = []
    ad_hoc = median_or_none([m.wall for direction in DIRECTIONS for m in one.moves[ADHOC][direction]])
    module_play = median_or_none([m.wall for direction in DIRECTIONS for m in one.moves[MODULE_PLAY][direction]])
    command_play = median_or_none([m.wall for direction in DIRECTIONS for m in one.moves[COMMAND_PLAY][direction]])
    bare = median_or_none([m.wall for direction in DIRECTIONS for m in one.moves[VIRSH][direction]])
    if module_play and command_play:
        lines.append(
            f"1 guest, one-task playbooks: virt_migrate {module_play:.2f} s vs command: virsh migrate {command_play:.2f} s"
            f" ({module_play / command_play:.2f}x; both ways, medians)"
        )
    if ad_hoc and bare:
        lines.append(
            f"1 guest: virt_migrate ad hoc {ad_hoc:.2f} s vs virsh migrate alone {bare:.2f} s:"
            f" Ansible's start-up and the module's checks cost {ad_hoc - bare:+.2f} s"
        )
    loop = median_or_none([b.wall for direction in DIRECTIONS for b in d.batches.get(VIRSH_LOOP, {}).get(direction, [])])
    if loop:
        for way in d.ways:
            if way == VIRSH_LOOP:
                continue
            ours = median_or_none([b.wall for direction in DIRECTIONS for b in d.batches[way][direction]])
            if ours:
                lines.append(f"{len(d.names)} guests, {way}: {ours:.2f} s per direction vs the virsh loop {loop:.2f} s ({ours / loop:.2f}x the time)")
    failures = failure_lines(one, d)
    lines.append(
        "check: every run exited 0, virt_migrate reported a live move, virt_drain moved exactly the benchmark's guests, and virsh list"
        " on both daemons found every guest running on the destination and gone from the source: " + ("met" if not failures else "NOT met")
    )
    return lines + [f"  {line}" for line in failures]


def failure_lines(one: OneResults, d: DrainResults) -> list[str]:
    return one.errors + d.errors


def community_modules() -> list[str]:
    """community.libvirt's modules (ansible-doc -t module -l community.libvirt), and what its virt module can do."""
    env = tool_env()
    doc = str(VENV_BIN / "ansible-doc")
    listed = json.loads(run_timed([doc, "-t", "module", "-l", "community.libvirt", "--json"], env).stdout)
    virt = json.loads(run_timed([doc, "-t", "module", "-j", "community.libvirt.virt"], env).stdout)
    options = virt["community.libvirt.virt"]["doc"]["options"]
    commands, states = options["command"].get("choices") or [], options["state"].get("choices") or []
    width = max(len(name) for name in listed)
    migrates = [name for name, text in listed.items() if "migrat" in f"{name} {text}".lower()] + [c for c in commands if "migrat" in c]
    return [
        "community.libvirt's modules (ansible-doc -t module -l community.libvirt):",
        *(f"  {name.ljust(width)}  {text}" for name, text in sorted(listed.items())),
        f"  community.libvirt.virt: command {', '.join(commands)}; state {', '.join(states)}",
        "  => " + (f"migration: {', '.join(migrates)}" if migrates else "none of them migrates a domain: from Ansible people run virsh migrate"),
    ]


def dotted(n: int) -> str:
    return ".".join(str(part) for part in (n // 1000000, n // 1000 % 1000, n % 1000))


def load_lines(loads: dict[str, list[float]]) -> list[str]:
    cpus = os.cpu_count() or 1
    parts = [f"{part} median {statistics.median(values):.2f}, max {max(values):.2f}" for part, values in loads.items() if values]
    busy = [part for part, values in loads.items() if values and statistics.median(values) > cpus]
    lines = ["1-minute load average before the runs: " + ("; ".join(parts) or "-") + " (this benchmark's own guests and processes included)"]
    if busy:
        lines.append(f"note: above the {cpus} CPUs in the {' and '.join(busy)} part(s): the runs competed for the CPUs (own guests or other processes)")
    return lines


def host_facts(load_start: tuple[float, ...], loads: dict[str, list[float]], args: argparse.Namespace, d: DrainResults) -> list[str]:
    versions = []
    for uri in (HV1, HV2):
        try:
            conn = libvirt.open(uri)
            try:
                versions.append(f"{LABELS[uri]}: libvirt {dotted(conn.getLibVersion())}, QEMU {dotted(conn.getVersion())}")
            finally:
                conn.close()
        except libvirt.libvirtError as err:
            versions.append(f"{LABELS[uri]}: no answer ({err})")
    community = json.loads((Path(libvirt_collection_dir()) / "MANIFEST.json").read_text(encoding="utf-8"))["collection_info"]["version"]
    load_end = os.getloadavg()
    restarts = f"; {d.restarts} guest boot(s) panicked (TCG timer check) and were started again" if d.restarts else ""
    return [
        f"ansible-core {importlib.metadata.version('ansible-core')}, community.libvirt {community}, libvirt-python"
        f" {importlib.metadata.version('libvirt-python')}, Python {sys.version.split()[0]}; " + "; ".join(versions),
        f"{os.cpu_count()} CPUs; load average {' '.join(f'{v:.2f}' for v in load_start)} at the start, {' '.join(f'{v:.2f}' for v in load_end)} at the end",
        *load_lines(loads),
        f"{args.reps} run(s) of each way and direction, interleaved (the first way rotating); 1 guest: after one warm-up (virt_migrate ad hoc,"
        " there and back); medians [min..max]",
        f"guests: tests/testbed/guest.py, {args.memory_mib} MiB, TCG translation cache {TB_CACHE_MIB} MiB, running (booted until '{READY}'){restarts}",
    ]


NOTES = [
    f"Every migration: live, peer-to-peer, --persistent --undefinesource, data over {MIGRATE_URI}; hv2 -> hv1 through hv1's socket as hv2 sees it (peer_uri).",
    "Whole processes (ansible, ansible-playbook or virsh), start-up included, default forks; module = the module's own duration (virt_migrate, virt_drain).",
    "Downtime: how long the guest was paused at the switch-over, as libvirt measured it (virt_migrate's downtime_ms; virsh domjobinfo --completed).",
    f"The drain's exclude_names match every name not starting with '{DRAIN_PREFIX}': {', '.join(exclude_all_but(DRAIN_PREFIX))}.",
]


def markdown(one: OneResults, d: DrainResults, args: argparse.Namespace) -> list[str]:
    n = len(d.names)

    def med(values: Sequence[float], spec: str = ".1f", unit: str = " s") -> str:
        return "-" if not values else f"{format(statistics.median(values), spec)}{unit}"

    out = [
        f"| Migration between two libvirtd of one machine ({os.cpu_count()} cores, TCG, {args.memory_mib} MiB guests; medians of {args.reps}) |"
        " hv1 → hv2 | hv2 → hv1 | Downtime |",
        "| --- | --- | --- | --- |",
    ]
    code = {ADHOC: "`virt_migrate`, ad hoc", MODULE_PLAY: "`virt_migrate`, one-task playbook", COMMAND_PLAY: "`command: virsh migrate`, one-task playbook"}
    for way in ONE_WAYS:
        moves = one.moves[way]
        cells = []
        for direction in DIRECTIONS:
            walls = [m.wall for m in moves[direction]]
            module = [m.duration for m in moves[direction] if m.duration is not None]
            cells.append(med(walls, ".2f") + (f" (module {med(module, '.2f')})" if module else ""))
        downtime = med([float(m.downtime_ms) for direction in DIRECTIONS for m in moves[direction] if m.downtime_ms is not None], ".0f", " ms")
        label = code.get(way, "`virsh migrate` alone")
        out.append(f"| 1 guest, {label} | " + " | ".join(cells) + f" | {downtime} |")
    for way in d.ways:
        cells = []
        sums: list[float] = []
        maxes: list[float] = []
        for direction in DIRECTIONS:
            batches = d.batches[way][direction]
            cells.append(med([b.wall for b in batches]) + (f" ({med([b.wall / n for b in batches], '.2f')} per guest)" if batches else ""))
            sums += [float(sum(b.known)) for b in batches]
            maxes += [float(max(b.known)) for b in batches if b.known]
        label = f"`virt_drain` drain / undrain, `parallel: {way.rsplit('=', 1)[1]}`" if way != VIRSH_LOOP else "`command: virsh migrate`, looped"
        out.append(f"| {n} guests, {label} | " + " | ".join(cells) + f" | sum {med(sums, '.0f', ' ms')}, longest {med(maxes, '.0f', ' ms')} |")
    if failure_lines(one, d):
        out.append("| (some runs FAILED: see the checks above) | | | |")
    return out


def report(
    args: argparse.Namespace, load_start: tuple[float, ...], loads: dict[str, list[float]], one: OneResults, d: DrainResults, community: list[str]
) -> str:
    one_table = render_table(["way", THERE, BACK, "module's duration", "downtime", "runs", "downtime from"], one_rows(one))
    drain_table = render_table(
        ["way", "total", "per guest", "module's duration", "downtime sum", "downtime longest", "runs", "downtime from"],
        drain_rows(d),
    )
    return "\n".join(
        [
            "",
            f"1. One running guest ({ONE_GUEST}) moved live hv1 -> hv2 and back; wall time of the whole process; module's duration and downtime:"
            " both directions",
            one_table,
            "",
            f"2. {len(d.names)} running guests ({d.names[0]} ...) moved hv1 -> hv2 and back: virt_drain (drain, then undrain with its moved list),"
            " or a looped command: virsh migrate task; wall time of the whole ansible-playbook",
            drain_table,
            "",
            *findings(one, d),
            "",
            *community,
            "",
            *NOTES,
            "",
            *host_facts(load_start, loads, args, d),
            "",
            "For docs/migration.md:",
            "",
            *markdown(one, d, args),
        ]
    )


# --------------------------------------------------------------------------- main
def numbers(text: str) -> list[int]:
    try:
        values = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers separated by commas, not {text!r}") from None
    if not values or any(v < 1 or v > 16 for v in values):
        raise argparse.ArgumentTypeError("every parallel value must be between 1 and 16 (virt_drain's range)")
    return values


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--quick", action="store_true", help="for development: 4 guests and 1 run of everything")
    p.add_argument("--reps", type=int, default=None, help="runs of each way and direction, medians (default 3)")
    p.add_argument("--guests", type=int, default=None, help="guests drained and brought back in part 2 (default 8)")
    p.add_argument("--parallel", type=numbers, default=numbers("1,2,4"), help="virt_drain's parallel values to measure (default 1,2,4)")
    p.add_argument("--memory-mib", type=int, default=128, help="memory of each guest (default %(default)s MiB)")
    p.add_argument("--run-timeout", type=float, default=600.0, help="longest one ansible, ansible-playbook or virsh run may take (default %(default)g s)")
    args = p.parse_args(argv)
    if args.reps is None:
        args.reps = 1 if args.quick else 3
    if args.guests is None:
        args.guests = 4 if args.quick else 8
    if min(args.reps, args.guests) < 1 or args.guests > 99 or args.memory_mib < 64 or args.run_timeout <= 0:
        p.error("--reps must be at least 1, --guests between 1 and 99, --memory-mib at least 64, --run-timeout positive")
    return args


def run_bench(args: argparse.Namespace, failures: list[str]) -> str:
    load_start = os.getloadavg()
    progress(f"load average at the start: {' '.join(f'{v:.2f}' for v in load_start)}")
    community = community_modules()
    with tempfile.TemporaryDirectory(prefix="virtops-bench-migrate-") as tmp:
        tools = Tools(Path(tmp))
        one = bench_one(tools, args)
        tools.part = "drain"
        drains = Drains(tools, args).run()
    failures.extend(failure_lines(one, drains))
    return report(args, load_start, tools.loads, one, drains, community)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    bench_power.RUN_TIMEOUT = args.run_timeout  # run_timed's limit
    progress(
        f"bench_migrate: 1 guest ({ONE_GUEST}) hv1 <-> hv2 four ways, then {args.guests} guests ({DRAIN_PREFIX}01 ...) drained with virt_drain"
        f" parallel {','.join(map(str, args.parallel))} and with a virsh loop; {args.reps} run(s) each;"
        f" takes {'a few' if args.quick else 'about 5-10'} minutes"
    )
    failures: list[str] = []

    def body() -> str:
        preflight()
        require_hv2()
        if not (COLLECTIONS_DIR / "ansible_collections" / "virtops" / "libvirt" / "plugins" / "modules" / "virt_drain.py").exists():
            raise BenchError("virtops.libvirt has no virt_drain module in build/collections; run 'make setup'")
        try:
            remove_all()  # what a killed earlier run left
            return run_bench(args, failures)
        finally:
            remove_all()

    status = run_main("bench_migrate", body)
    if status == 0 and failures:
        print(f"bench_migrate: error: {len(failures)} part(s) failed (see the report): " + "; ".join(f.splitlines()[0] for f in failures), file=sys.stderr)
        return 1
    return status


if __name__ == "__main__":
    sys.exit(main())
