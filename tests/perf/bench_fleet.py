"""Fleet operations at the physical limit: the playbook virtops.libvirt.power on thousands of domains and on 16 real guests.

Run from anywhere as ``.venv/bin/python tests/perf/bench_fleet.py [--quick]`` (after
``make setup``; ``make bench`` runs it). The playbook is run as an operator runs it,
with the default callback and the default forks (5)::

    ansible-playbook virtops.libvirt.power -i fleet.libvirt.yml -l PATTERN -e power_state=STATE

through an inventory file of the collection's plugin (``plugin: virtops.libvirt.libvirt``,
``uris: [qemu:///system]``). Measured in one run, on the same daemon:

1. A no-op over N shut-off domains, for N in ``--sizes`` (default 100,1000,3000): N
   minimal definitions without disks (``bnoop-00001`` ..., 64 MiB, defined with
   libvirt-python) and ``-l 'bnoop-*' -e power_state=shutdown``. Beside it, interleaved
   (the first tool rotating), ``--reps`` times each, medians [min..max]:
   a one-task playbook (hosts: localhost, one debug task, no inventory) = Ansible's
   start-up; and community.libvirt as it is written for many hosts: a play over
   ``hosts: 'bnoop-*'`` of the same inventory, gather_facts false, one task
   ``community.libvirt.virt: state=shutdown`` per host, delegated to localhost with
   ansible_connection local. community.libvirt runs only at ``--community-sizes``
   (default 100,1000), and once only at a size where its first run took longer than
   ``--community-rep-limit`` seconds (the report says so). Per domain = (run - one-task)
   / N. Every run must exit 0 and change nothing: the playbook's summary totals (virtops)
   and the PLAY RECAP (every tool).
2. ``--guests`` (16) real tiny test guests ``btcg-01`` ... (tests/testbed/guest.py,
   96 MiB, TCG translation cache 32 MiB instead of QEMU's default of about 1 GiB of host
   memory per guest, ``--shutdown-delay`` seconds from the power button to off):
   started through the playbook (``power_state=running``), waited for until each serial
   log says the guest hears ACPI (``acpid started``), then shut down gracefully through
   the playbook (``-l 'btcg-*' -e power_state=shutdown``). When each guest was really off
   is libvirt's STOPPED lifecycle event, seen by an independent listener in this process
   (bench_power.StopListener); when the playbook returned is its process's exit. The
   baseline: one of the guests shut down alone through the playbook (``-l btcg-01``,
   booted directly beforehand).
3. The same shutdown of all of them with ``--stubborn`` (4) of the guests redefined as
   the stubborn variant (ignores the ACPI power button), with ``-e power_timeout=10
   -e power_on_timeout=force``: the total time (about the timeout plus the forced power
   off, not one timeout per stubborn guest after the other), and that all are off.

Parts 2 and 3 run ``--reps`` times each too (``--guest-reps``). Other domains of the
daemon (another user's) are read by the inventory plugin as well and are counted in the
report ("domains read"), as is the machine's load average (at the start, at the end, and
before the runs of each part; it counts the benchmark's own processes and guests too).
Only ``bnoop-*`` and ``btcg-*`` domains are ever changed, and all of them are removed at
the end, also on error. No libvirt network is started.

Usage: bench_fleet.py [--quick] [--sizes 100,1000,3000] [--reps 3] [--community-sizes
100,1000] [--community-rep-limit 60] [--guests 16] [--stubborn 4] [--guest-reps R]
[--shutdown-delay 2] [--run-timeout 1500]. ``--quick`` (for development): sizes 100,1000,
1 rep of everything. Progress goes to stderr, the report to stdout (ending with a
markdown table for docs/fleet.md); exit status 0 when every run succeeded and every
check held, 1 with a message otherwise (the report of what was measured is printed
first).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import bench_power
import libvirt
from bench_inventory import MINIMAL_XML
from bench_power import (
    COLLECTIONS_DIR,
    SEPARATOR,
    URI,
    VENV_BIN,
    BenchError,
    StopListener,
    TimedRun,
    boot,
    guest_py,
    libvirt_collection_dir,
    preflight,
    progress,
    render_table,
    require_off,
    run_main,
    run_timed,
    tool_env,
)

NOOP_PREFIX = "bnoop-"
GUEST_PREFIX = "btcg-"
GUEST_MEMORY_MIB = 96
TB_CACHE_MIB = 32
FORCE_TIMEOUT = 10  # power_timeout of part 3
READY_TIMEOUT = 240.0  # every guest booted far enough to hear ACPI (TCG, 2 cores)
READY = {"normal": "acpid started", "stubborn": "acpid disabled"}  # the serial line of a booted guest
# A TCG guest starved of CPU while it boots can fail the kernel's timer check ("IO-APIC + timer
# doesn't work!") and panic: a fault of the test bed under load, not of the playbook. Such a guest
# is started again (at most BOOT_ATTEMPTS times), and the report counts it.
PANIC = "Kernel panic"
BOOT_ATTEMPTS = 3
POWER_PLAYBOOK = COLLECTIONS_DIR / "ansible_collections" / "virtops" / "libvirt" / "playbooks" / "power.yml"

VIRTOPS = "virtops.libvirt.power"
ONE_TASK = "one-task playbook"
ONE_TASK_LIMIT = "one-task over the limit"
COMMUNITY = "community.libvirt per host"
NOOP_TOOLS = (VIRTOPS, ONE_TASK, ONE_TASK_LIMIT, COMMUNITY)

GOAL_SIZE = 1000
GOAL_STARTUP_RATIO = 3.0  # virtops no-op / one-task playbook, at GOAL_SIZE
GOAL_COMMUNITY_RATIO = 20.0  # community / virtops, at GOAL_SIZE
GOAL_RETURN_GAP = 1.0  # last guest off -> playbook returned, seconds
GOAL_ALONE_RATIO = 1.5  # all guests / one guest alone, request -> playbook returned

# Written to a temporary directory at run time, so the linters of the repository never see them.
ONE_TASK_PLAYBOOK = """\
- name: Ansible start-up, one task
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Say hello
      ansible.builtin.debug:
        msg: hello
"""

# Ansible's start-up for the same run: the inventory read, the play over the same limit, one task.
ONE_TASK_LIMIT_PLAYBOOK = """\
- name: Ansible start-up over the domains, one task
  hosts: all
  gather_facts: false
  tasks:
    - name: Say hello once
      ansible.builtin.debug:
        msg: hello
      run_once: true
"""

COMMUNITY_PLAYBOOK = """\
- name: Shut down every domain with community.libvirt, one task per host
  hosts: "{prefix}*"
  gather_facts: false
  tasks:
    - name: Shut down the domain
      community.libvirt.virt:
        name: "{{{{ inventory_hostname }}}}"
        state: shutdown
        uri: {uri}
      delegate_to: localhost
      vars:
        ansible_connection: local
        ansible_python_interpreter: "{{{{ ansible_playbook_python }}}}"
"""

# `host : ok=5 changed=0 unreachable=0 failed=0 ...` of the default callback's PLAY RECAP
RECAP_RE = re.compile(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)
# the totals line of power.yml's summary
TOTALS_RE = re.compile(r"(\d+) domain\(s\), (\d+) changed, (\d+) failed(?:, (\d+) forced off)?")


# --------------------------------------------------------------------------- running and checking playbooks
@dataclass
class Expect:
    """What a run must report: `hosts` hosts (domains) of the prefix, `changed` of them changed (None: any).
    virtops.libvirt.power reports them in its summary totals (its PLAY RECAP may name only the
    hosts that ran its batches); the others, one PLAY RECAP line per host."""

    prefix: str
    hosts: int
    changed: int | None = 0
    forced: int | None = None  # virtops: the domains forced off, from the summary
    summary: bool = True  # virtops: the playbook's summary totals must be there


def recap(output: str, prefix: str) -> tuple[int, int, int]:
    """(hosts, changed, failed + unreachable) of the PLAY RECAP lines of hosts with this prefix."""
    rows = [(int(changed), int(unreachable) + int(failed)) for host, changed, unreachable, failed in RECAP_RE.findall(output) if host.startswith(prefix)]
    return len(rows), sum(changed for changed, _bad in rows), sum(bad for _changed, bad in rows)


def check_run(label: str, run: TimedRun, expect: Expect) -> int | None:
    """Checks a run's reports against `expect`; the forced count of its summary (None without)."""
    hosts, recap_changed, bad = recap(run.stdout, expect.prefix)
    problems = []
    if not hosts or bad or (hosts != expect.hosts and not expect.summary):
        problems.append(f"PLAY RECAP: {hosts} {expect.prefix}* host(s), {bad} failed or unreachable; expected {expect.hosts} and none")
    forced = None
    if expect.summary:
        totals = TOTALS_RE.findall(run.stdout)
        if not totals:
            problems.append("no summary totals ('N domain(s), C changed, F failed') in the playbook's output")
        else:
            domains, changed, failed, forced_text = (int(v) if v else 0 for v in totals[-1])
            forced = forced_text
            if domains != expect.hosts or failed or (expect.changed is not None and changed != expect.changed):
                problems.append(f"summary: {domains} domain(s), {changed} changed, {failed} failed; expected {expect.hosts}, {expect.changed}, 0")
            if expect.forced is not None and forced != expect.forced:
                problems.append(f"summary: {forced} forced off, expected {expect.forced}")
    elif expect.changed is not None and recap_changed != expect.changed:
        problems.append(f"PLAY RECAP: {recap_changed} changed, expected {expect.changed}")
    if problems:
        tail = "\n".join(run.stdout.strip().splitlines()[-8:])
        raise BenchError(f"{label}: " + "; ".join(problems) + f"\nlast lines of its output:\n{tail}")
    return forced


class Tools:
    """The command lines of the tools, with their playbooks and inventory in a temporary directory."""

    def __init__(self, workdir: Path) -> None:
        self.inventory = workdir / "fleet.libvirt.yml"
        self.inventory.write_text(f"plugin: virtops.libvirt.libvirt\nuris: [{URI}]\n", encoding="utf-8")
        self.one_task = workdir / "one_task.yml"
        self.one_task.write_text(ONE_TASK_PLAYBOOK, encoding="utf-8")
        self.one_task_limit = workdir / "one_task_limit.yml"
        self.one_task_limit.write_text(ONE_TASK_LIMIT_PLAYBOOK, encoding="utf-8")
        self.community = workdir / "community.yml"
        self.community.write_text(COMMUNITY_PLAYBOOK.format(prefix=NOOP_PREFIX, uri=URI), encoding="utf-8")
        self.playbook = str(VENV_BIN / "ansible-playbook")
        self.part = "no-op"  # the part of the benchmark being run
        self.loads: dict[str, list[float]] = {}  # the 1-minute load average before each run, by part

    def power(self, limit: str, state: str, *extra: str) -> list[str]:
        return [self.playbook, "virtops.libvirt.power", "-i", str(self.inventory), "-l", limit, "-e", f"power_state={state}", *extra]

    def noop_command(self, tool: str) -> list[str]:
        if tool == VIRTOPS:
            return self.power(f"{NOOP_PREFIX}*", "shutdown")
        if tool == ONE_TASK:
            return [self.playbook, str(self.one_task)]
        if tool == ONE_TASK_LIMIT:
            return [self.playbook, str(self.one_task_limit), "-i", str(self.inventory), "-l", f"{NOOP_PREFIX}*"]
        return [self.playbook, str(self.community), "-i", str(self.inventory)]

    def run(self, label: str, cmd: Sequence[str], expect: Expect) -> tuple[TimedRun, int | None]:
        self.loads.setdefault(self.part, []).append(os.getloadavg()[0])
        run = run_timed(cmd, tool_env())
        return run, check_run(label, run, expect)


# --------------------------------------------------------------------------- part 1: the no-op over N shut-off domains
def noop_name(index: int) -> str:
    return f"{NOOP_PREFIX}{index:05d}"


def remove_noop_domains(conn: libvirt.virConnect) -> int:
    """Undefine every bnoop- domain (they are never started); how many."""
    doomed = [dom for dom in conn.listAllDomains() if dom.name().startswith(NOOP_PREFIX)]
    for dom in doomed:
        if dom.isActive():
            dom.destroy()
        dom.undefine()
    return len(doomed)


@dataclass
class NoopResult:
    size: int
    domains: int = 0  # every domain of the daemon: all are read by the inventory plugin
    load: float = 0.0  # 1-minute load average when the size's runs started
    runs: dict[str, list[float]] = field(default_factory=lambda: {tool: [] for tool in NOOP_TOOLS})
    note: str = ""
    error: str = ""

    def median(self, tool: str) -> float | None:
        return statistics.median(self.runs[tool]) if self.runs[tool] else None

    def per_domain_ms(self, tool: str) -> float | None:
        run, startup = self.median(tool), self.median(ONE_TASK)
        return None if run is None or startup is None else (run - startup) / self.size * 1000

    def ratio(self, tool: str, base: str) -> float | None:
        top, bottom = self.median(tool), self.median(base)
        return None if top is None or bottom is None else top / bottom


def noop_expect(tool: str, size: int) -> Expect:
    if tool == ONE_TASK:
        return Expect("localhost", 1, summary=False)
    if tool == ONE_TASK_LIMIT:
        return Expect(NOOP_PREFIX, 1, summary=False)  # run_once: the recap names the first host only
    return Expect(NOOP_PREFIX, size, summary=tool == VIRTOPS)


def measure_size(tools: Tools, conn: libvirt.virConnect, size: int, args: argparse.Namespace, warm: bool) -> NoopResult:
    result = NoopResult(size, domains=len(conn.listAllDomains()), load=os.getloadavg()[0])
    wanted = [VIRTOPS, ONE_TASK, ONE_TASK_LIMIT, *([COMMUNITY] if size in args.community_sizes else [])]
    try:
        if not warm:  # page cache and bytecode caches, not counted
            for tool in (ONE_TASK, ONE_TASK_LIMIT, VIRTOPS):
                tools.run(f"{tool} warm-up", tools.noop_command(tool), noop_expect(tool, size))
        for rep in range(args.reps):
            k = rep % len(wanted)
            for tool in wanted[k:] + wanted[:k]:
                run, _forced = tools.run(f"{tool} at {size}", tools.noop_command(tool), noop_expect(tool, size))
                result.runs[tool].append(run.end - run.start)
                progress(f"{size}: {tool} {run.end - run.start:.2f} s")
            slow = result.runs[COMMUNITY][:1]
            if COMMUNITY in wanted and slow and slow[0] > args.community_rep_limit and args.reps > 1:
                wanted.remove(COMMUNITY)
                result.note = f"community.libvirt once only: its run took {slow[0]:.0f} s > {args.community_rep_limit:g} s"
                progress(result.note)
    except BenchError as err:
        result.error = str(err)
        progress(f"{size}: FAILED: {err}")
    return result


def bench_noop(tools: Tools, conn: libvirt.virConnect, args: argparse.Namespace) -> list[NoopResult]:
    results: list[NoopResult] = []
    defined = 0
    for size in args.sizes:
        start = time.perf_counter()
        for index in range(defined + 1, size + 1):
            conn.defineXML(MINIMAL_XML.format(name=noop_name(index)))
        progress(f"{size}: defined {size - defined} shut-off domains in {time.perf_counter() - start:.1f} s")
        defined = size
        results.append(measure_size(tools, conn, size, args, warm=bool(results)))
    progress(f"removed {remove_noop_domains(conn)} {NOOP_PREFIX}* domains")
    return results


# --------------------------------------------------------------------------- parts 2 and 3: real guests
@dataclass
class Shutdown:
    """One shutdown through the playbook; seconds from the request (ansible-playbook started)."""

    first_off: float  # the first guest really off (STOPPED event)
    last_off: float  # the last guest really off
    returned: float  # the playbook process exited
    forced: int | None  # the summary's forced-off count

    @property
    def gap(self) -> float:
        return self.returned - self.last_off


@dataclass
class Start:
    returned: float  # request -> the start playbook returned
    ready: float  # request -> every guest hears ACPI (its serial log says so)
    restarts: int  # guests started again after a kernel panic at boot


@dataclass
class GuestResults:
    names: list[str]
    variants: dict[str, str]
    starts: list[Start] = field(default_factory=list)
    together: list[Shutdown] = field(default_factory=list)
    alone: list[Shutdown] = field(default_factory=list)
    stubborn_starts: list[Start] = field(default_factory=list)
    stubborn: list[Shutdown] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


class Guests:
    def __init__(self, tools: Tools, listener: StopListener, args: argparse.Namespace) -> None:
        self.tools = tools
        self.listener = listener
        self.args = args
        names = [f"{GUEST_PREFIX}{i:02d}" for i in range(1, args.guests + 1)]
        self.results = GuestResults(names, dict.fromkeys(names, "normal"))

    def define(self, names: Sequence[str], variant: str) -> None:
        opts = ["--memory-mib", str(GUEST_MEMORY_MIB), "--tb-cache-mib", str(TB_CACHE_MIB), "--shutdown-delay", f"{self.args.shutdown_delay:g}"]
        guest_py("define", *names, "--variant", variant, *opts)
        self.results.variants.update(dict.fromkeys(names, variant))

    def start_all(self) -> Start:
        names = self.results.names
        run, _forced = self.tools.run("start", self.tools.power(f"{GUEST_PREFIX}*", "running"), Expect(GUEST_PREFIX, len(names), changed=len(names)))
        restarts = sum(self.wait_ready(name) for name in names)
        ready = time.time() - run.start
        again = f" ({restarts} started again after a kernel panic at boot)" if restarts else ""
        progress(f"{len(names)} guests started: playbook returned after {run.end - run.start:.2f} s, all hear ACPI after {ready:.1f} s{again}")
        return Start(run.end - run.start, ready, restarts)

    def wait_ready(self, name: str) -> int:
        """Waits until the guest hears ACPI; starts it again after a kernel panic at boot. How many times it was started again."""
        ready = READY[self.results.variants[name]]
        log = Path(guest_py("log-path", name).strip())
        for attempt in range(BOOT_ATTEMPTS):
            guest_py("wait-log", name, f"{re.escape(ready)}|{PANIC}", "--regex", "--timeout", f"{READY_TIMEOUT:g}")
            if ready in log.read_text(errors="replace"):
                return attempt
            progress(f"{name}: kernel panic at boot; starting it again")
            dom = self.listener.conn.lookupByName(name)
            dom.destroy()
            dom.create()
        raise BenchError(f"{name} panicked at boot {BOOT_ATTEMPTS} times; see {log}")

    def shutdown(self, label: str, names: Sequence[str], limit: str, *extra: str, forced: int | None = None) -> Shutdown:
        expect = Expect(GUEST_PREFIX, len(names), changed=len(names), forced=forced)
        run, forced_seen = self.tools.run(label, self.tools.power(limit, "shutdown", *extra), expect)
        offs = self.listener.stopped_at(names, since=run.start).values()
        require_off(self.listener.conn, names)
        sample = Shutdown(min(offs) - run.start, max(offs) - run.start, run.end - run.start, forced_seen)
        forced_note = "" if sample.forced is None else f", {sample.forced} forced off"
        progress(
            f"{label}: first off {sample.first_off:.2f} s, last off {sample.last_off:.2f} s,"
            f" playbook returned {sample.returned:.2f} s ({sample.gap:+.2f} s after the last){forced_note}"
        )
        return sample

    def together(self) -> None:
        self.results.starts.append(self.start_all())
        names = self.results.names
        self.results.together.append(self.shutdown(f"{len(names)} guests", names, f"{GUEST_PREFIX}*"))

    def alone(self) -> None:
        name = self.results.names[0]
        boot(self.listener.conn, [name])
        self.results.alone.append(self.shutdown(f"{name} alone", [name], name))

    def stubborn(self) -> None:
        self.results.stubborn_starts.append(self.start_all())
        names = self.results.names
        extra = ["-e", f"power_timeout={FORCE_TIMEOUT}", "-e", "power_on_timeout=force"]
        label = f"{len(names)} guests, {self.args.stubborn} stubborn"
        self.results.stubborn.append(self.shutdown(label, names, f"{GUEST_PREFIX}*", *extra, forced=self.args.stubborn))

    def attempt(self, what: str, step: Callable[[], None]) -> bool:
        """Runs a step; a failure is recorded (and the guests powered off) instead of ending the benchmark."""
        try:
            step()
        except (BenchError, libvirt.libvirtError) as err:
            self.results.errors.append(f"{what}: {err}")
            progress(f"{what}: FAILED: {err}")
            for dom in self.listener.conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE):
                if dom.name() in self.results.variants:
                    dom.destroy()
            return False
        return True

    def run(self) -> GuestResults:
        names = self.results.names
        self.define(names, "normal")
        for rep in range(self.args.guest_reps):
            steps = [("all guests", self.together), ("one guest alone", self.alone)]
            for what, step in steps[rep % 2 :] + steps[: rep % 2]:
                self.attempt(what, step)
        if self.args.stubborn:
            self.define(names[len(names) - self.args.stubborn :], "stubborn")
            for _rep in range(self.args.guest_reps):
                if not self.attempt("with stubborn guests", self.stubborn):
                    break
        return self.results


# --------------------------------------------------------------------------- report
def secs(values: Sequence[float], unit: str = " s") -> str:
    if not values:
        return "-"
    med = statistics.median(values)
    return f"{med:.2f}{unit}" if len(values) == 1 else f"{med:.2f}{unit} [{min(values):.2f}..{max(values):.2f}]"


def opt(value: float | None, spec: str, suffix: str = "") -> str:
    return "-" if value is None else f"{format(value, spec)}{suffix}"


def marginal_ms(results: Sequence[NoopResult], index: int) -> float | None:
    """virtops' cost of each domain more than the size before: (run - run before) / (size - size before)."""
    if index == 0:
        return None
    now, before = results[index].median(VIRTOPS), results[index - 1].median(VIRTOPS)
    if now is None or before is None:
        return None
    return (now - before) / (results[index].size - results[index - 1].size) * 1000


def noop_rows(results: Sequence[NoopResult]) -> list[list[str]]:
    rows = []
    for index, r in enumerate(results):
        reps = "/".join(str(len(r.runs[tool])) for tool in NOOP_TOOLS)
        rows.append(
            [
                f"{r.size} ({r.domains})",
                *(secs(r.runs[tool]) for tool in NOOP_TOOLS),
                opt(r.per_domain_ms(VIRTOPS), ".2f"),
                opt(marginal_ms(results, index), ".2f"),
                opt(r.per_domain_ms(COMMUNITY), ".1f"),
                opt(r.ratio(VIRTOPS, ONE_TASK), ".2f", "x"),
                opt(r.ratio(VIRTOPS, ONE_TASK_LIMIT), ".2f", "x"),
                opt(r.ratio(COMMUNITY, VIRTOPS), ".1f", "x"),
                reps,
                f"{r.load:.2f}",
                "FAILED (see below)" if r.error else r.note,
            ]
        )
    return rows


def restarts_note(starts: Sequence[Start]) -> str:
    restarts = sum(s.restarts for s in starts)
    return f"; {restarts} guest boot(s) of {len(starts)} starts panicked (TCG timer check) and were started again" if restarts else ""


def shutdown_row(label: str, samples: Sequence[Shutdown], note: str) -> list[str]:
    return [
        label,
        secs([s.first_off for s in samples]),
        secs([s.last_off for s in samples]),
        secs([s.returned for s in samples]),
        secs([s.gap for s in samples]),
        note,
    ]


def guest_rows(g: GuestResults, args: argparse.Namespace) -> list[list[str]]:
    n = len(g.names)
    forced = sorted({s.forced for s in g.stubborn if s.forced is not None})
    return [
        [
            f"start {n} (power_state=running)",
            "-",
            "-",
            secs([s.returned for s in g.starts + g.stubborn_starts]),
            "-",
            "returned; all hear ACPI after " + secs([s.ready for s in g.starts]) + restarts_note(g.starts + g.stubborn_starts),
        ],
        SEPARATOR,
        shutdown_row(f"shutdown {g.names[0]} alone (-l {g.names[0]})", g.alone, "the baseline"),
        shutdown_row(f"shutdown {n} (-l '{GUEST_PREFIX}*')", g.together, f"guests off {args.shutdown_delay:g} s after the ACPI request"),
        shutdown_row(
            f"shutdown {n}, {args.stubborn} stubborn",
            g.stubborn,
            f"power_timeout={FORCE_TIMEOUT} power_on_timeout=force; forced off: {', '.join(map(str, forced)) or '-'}",
        ),
    ]


def median_of(samples: Sequence[Shutdown], attr: str) -> float | None:
    return statistics.median(getattr(s, attr) for s in samples) if samples else None


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def goals(noop: Sequence[NoopResult], g: GuestResults, args: argparse.Namespace) -> list[str]:
    lines = []
    at = next((r for r in noop if r.size == GOAL_SIZE), None)
    startup = at.ratio(VIRTOPS, ONE_TASK) if at else None
    lines.append(
        f"goal: no-op over {GOAL_SIZE} domains <= {GOAL_STARTUP_RATIO:g}x the one-task playbook: "
        + ("not measured" if startup is None else f"{verdict(startup <= GOAL_STARTUP_RATIO)} ({startup:.2f}x)")
    )
    over_limit = at.ratio(VIRTOPS, ONE_TASK_LIMIT) if at else None
    lines.append(
        f"  the same against a one-task playbook over the same inventory and limit (Ansible's start-up for {GOAL_SIZE} domains): "
        + ("not measured" if over_limit is None else f"{over_limit:.2f}x")
    )
    speedup = at.ratio(COMMUNITY, VIRTOPS) if at else None
    lines.append(
        f"goal: community.libvirt per host >= {GOAL_COMMUNITY_RATIO:g}x slower than virtops at {GOAL_SIZE}: "
        + ("not measured" if speedup is None else f"{verdict(speedup >= GOAL_COMMUNITY_RATIO)} ({speedup:.1f}x)")
    )
    if g.together:
        worst = max(s.gap for s in g.together)
        lines.append(
            f"goal: the playbook returns within {GOAL_RETURN_GAP:g} s of the last guest off: {verdict(worst <= GOAL_RETURN_GAP)} (worst {worst:+.2f} s)"
        )
    alone, together = median_of(g.alone, "returned"), median_of(g.together, "returned")
    if alone and together:
        lines.append(
            f"goal: {len(g.names)} guests within {GOAL_ALONE_RATIO:g}x of one alone (request -> playbook returned):"
            f" {verdict(together <= GOAL_ALONE_RATIO * alone)} ({together:.2f} s / {alone:.2f} s = {together / alone:.2f}x)"
        )
    stubborn = median_of(g.stubborn, "returned")
    if stubborn and alone:
        one_after_another = args.stubborn * FORCE_TIMEOUT
        lines.append(
            f"goal: with {args.stubborn} stubborn guest(s) about {FORCE_TIMEOUT} s + the force, not {one_after_another} s one after the other:"
            f" {verdict(stubborn <= alone + FORCE_TIMEOUT)} ({stubborn:.2f} s; bound: one alone + power_timeout = {alone + FORCE_TIMEOUT:.2f} s)"
        )
    failures = failure_lines(noop, g)
    lines.append("check: every run exited 0, changed what it should (no-op: 0 changed) and left every guest off: " + verdict(not failures))
    return lines + [f"  {line}" for line in failures]


def failure_lines(noop: Sequence[NoopResult], g: GuestResults) -> list[str]:
    return [f"{r.size} domains: {r.error}" for r in noop if r.error] + g.errors


def markdown(noop: Sequence[NoopResult], g: GuestResults, args: argparse.Namespace) -> list[str]:
    out = [
        f"| Fleet run ({os.cpu_count()} cores, TCG) | `virtops.libvirt.power` | One-task playbook | One-task playbook over the same limit |"
        " community.libvirt, one task per host |",
        "| --- | --- | --- | --- | --- |",
    ]
    for index, r in enumerate(noop):
        virtops, startup, startup_limit, community = (r.median(tool) for tool in NOOP_TOOLS)
        more = marginal_ms(noop, index)
        cells = [
            opt(virtops, ".1f", " s") + ("" if more is None else f" (+{more:.1f} ms per domain more)"),
            opt(startup, ".1f", " s"),
            opt(startup_limit, ".1f", " s"),
            "not run" if community is None else f"{community:.0f} s ({r.ratio(COMMUNITY, VIRTOPS):.0f}x)" + (" (1 run)" if len(r.runs[COMMUNITY]) == 1 else ""),
        ]
        out.append(f"| No-op over {r.size} shut-off domains ({r.domains} on the daemon) | " + " | ".join("FAILED" if r.error else c for c in cells) + " |")
    n = len(g.names)
    rows = [
        (f"Graceful shutdown of {n} guests, until the playbook returns", g.together),
        ("One of them alone", g.alone),
        (f"{n} guests, {args.stubborn} ignore ACPI (`power_timeout={FORCE_TIMEOUT}`, `power_on_timeout=force`)", g.stubborn),
    ]
    for label, samples in rows:
        returned, gap = median_of(samples, "returned"), median_of(samples, "gap")
        cell = "not measured" if returned is None or gap is None else f"{returned:.1f} s ({gap:+.1f} s after the last guest off)"
        out.append(f"| {label} | {cell} | | | |")
    return out


def load_lines(loads: dict[str, list[float]]) -> list[str]:
    """The 1-minute load average before the runs of each part; it counts this benchmark's own
    processes too (community.libvirt's forks, the booting TCG guests), not only other users'."""
    cpus = os.cpu_count() or 1
    parts = [f"{part} median {statistics.median(values):.2f}, max {max(values):.2f}" for part, values in loads.items() if values]
    busy = [part for part, values in loads.items() if values and statistics.median(values) > cpus]
    lines = ["1-minute load average before the runs: " + "; ".join(parts) + " (this benchmark's own processes and guests included)"]
    if busy:
        lines.append(f"note: above the {cpus} CPUs in the {' and '.join(busy)} part(s): the runs competed for the CPUs (own guests or other processes)")
    return lines


def host_facts(conn: libvirt.virConnect, load_start: tuple[float, ...], loads: dict[str, list[float]], args: argparse.Namespace) -> list[str]:
    def dotted(n: int) -> str:
        return ".".join(str(part) for part in (n // 1000000, n // 1000 % 1000, n % 1000))

    community = json.loads((Path(libvirt_collection_dir()) / "MANIFEST.json").read_text(encoding="utf-8"))["collection_info"]["version"]
    load_end = os.getloadavg()
    return [
        f"ansible-core {importlib.metadata.version('ansible-core')}, community.libvirt {community}, libvirt {dotted(conn.getLibVersion())}"
        f" (libvirt-python {importlib.metadata.version('libvirt-python')}), QEMU {dotted(conn.getVersion())}, Python {sys.version.split()[0]}",
        f"{os.cpu_count()} CPUs; load average {' '.join(f'{v:.2f}' for v in load_start)} at the start, {' '.join(f'{v:.2f}' for v in load_end)} at the end",
        *load_lines(loads),
        f"no-op: {args.reps} run(s) per tool and size, interleaved, after one warm-up of virtops and the one-task playbook;"
        f" guests: {args.guest_reps} run(s) per scenario; medians [min..max]",
        f"guests: tests/testbed/guest.py, {GUEST_MEMORY_MIB} MiB, TCG translation cache {TB_CACHE_MIB} MiB,"
        f" off {args.shutdown_delay:g} s after the ACPI request",
    ]


NOTES = [
    "size (domains) = bnoop-* domains (every domain of the daemon, read by the inventory plugin: other users' included).",
    "Whole ansible-playbook runs (start-up included), default callback, default forks (5); per domain = (run - one-task) / N.",
    "really off = libvirt's STOPPED lifecycle event, seen by a listener in this process; times from the request (ansible-playbook started).",
]


def report(
    args: argparse.Namespace,
    conn: libvirt.virConnect,
    load_start: tuple[float, ...],
    loads: dict[str, list[float]],
    noop: Sequence[NoopResult],
    g: GuestResults,
) -> str:
    noop_table = render_table(
        [
            "size (domains)",
            *NOOP_TOOLS,
            "virtops ms/domain",
            "virtops ms/domain more",
            "community ms/domain",
            "virtops/one-task",
            "virtops/one-task over the limit",
            "community/virtops",
            "runs",
            "load 1m",
            "note",
        ],
        noop_rows(noop),
    )
    guest_table = render_table(
        ["scenario", "request -> first off", "request -> last off", "request -> returned", "last off -> returned", "note"], guest_rows(g, args)
    )
    return "\n".join(
        [
            "",
            f"1. No-op: {VIRTOPS} -l '{NOOP_PREFIX}*' -e power_state=shutdown on N shut-off domains, whole runs, seconds",
            noop_table,
            "",
            f"2./3. {len(g.names)} real TCG guests through {VIRTOPS} (-l '{GUEST_PREFIX}*'), seconds",
            guest_table,
            "",
            *goals(noop, g, args),
            "",
            *NOTES,
            "",
            *host_facts(conn, load_start, loads, args),
            "",
            "For docs/fleet.md:",
            "",
            *markdown(noop, g, args),
        ]
    )


# --------------------------------------------------------------------------- main
def sizes(text: str) -> list[int]:
    try:
        values = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers separated by commas, not {text!r}") from None
    if any(v < 1 or v > 99999 for v in values):
        raise argparse.ArgumentTypeError("every size must be between 1 and 99999")
    return values


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--quick", action="store_true", help="for development: sizes 100,1000 and 1 run of everything")
    p.add_argument("--sizes", type=sizes, default=None, help="numbers of shut-off domains of the no-op (default 100,1000,3000)")
    p.add_argument("--reps", type=int, default=None, help="runs per tool and size, medians (default 3)")
    p.add_argument("--community-sizes", type=sizes, default=sizes("100,1000"), help="sizes at which community.libvirt runs (default 100,1000)")
    p.add_argument(
        "--community-rep-limit",
        type=float,
        default=60.0,
        help="run community.libvirt once only at a size where its first run took longer than this (default %(default)g s)",
    )
    p.add_argument("--guests", type=int, default=16, help="real test guests of parts 2 and 3 (default %(default)s)")
    p.add_argument("--stubborn", type=int, default=4, help="of them, stubborn in part 3 (default %(default)s; 0 skips part 3)")
    p.add_argument("--guest-reps", type=int, default=None, help="runs of each guest scenario (default: --reps)")
    p.add_argument("--shutdown-delay", type=float, default=2.0, help="seconds a guest takes from the ACPI request to off (default %(default)g)")
    p.add_argument("--run-timeout", type=float, default=1500.0, help="longest one ansible-playbook run may take (default %(default)g s)")
    args = p.parse_args(argv)
    if args.sizes is None:
        args.sizes = sizes("100,1000") if args.quick else sizes("100,1000,3000")
    if args.reps is None:
        args.reps = 1 if args.quick else 3
    if args.guest_reps is None:
        args.guest_reps = args.reps
    if min(args.reps, args.guest_reps, args.guests) < 1 or not 0 <= args.stubborn < args.guests or args.shutdown_delay < 0 or args.run_timeout <= 0:
        p.error("--reps, --guest-reps and --guests must be at least 1, --stubborn between 0 and --guests - 1, times positive")
    return args


def remove_all(conn: libvirt.virConnect) -> None:
    """Remove every domain of this benchmark (bnoop-*, btcg-* and their logs); warn when that fails."""
    try:
        remove_noop_domains(conn)
        guest_py("cleanup", "--prefix", GUEST_PREFIX, "--remove-logs")
    except (BenchError, libvirt.libvirtError) as err:
        print(f"bench_fleet: warning: cleanup failed: {err}", file=sys.stderr)


def run_bench(args: argparse.Namespace, listener: StopListener, failures: list[str]) -> str:
    load_start = os.getloadavg()
    progress(f"load average at the start: {' '.join(f'{v:.2f}' for v in load_start)}")
    with tempfile.TemporaryDirectory(prefix="virtops-bench-fleet-") as tmp:
        tools = Tools(Path(tmp))
        noop = bench_noop(tools, listener.conn, args)
        tools.part = "guests"
        guests = Guests(tools, listener, args).run()
    failures.extend(failure_lines(noop, guests))
    return report(args, listener.conn, load_start, tools.loads, noop, guests)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    bench_power.RUN_TIMEOUT = args.run_timeout  # run_timed's limit; community.libvirt over 1000 hosts takes minutes
    progress(
        f"bench_fleet: no-op over {','.join(map(str, args.sizes))} {NOOP_PREFIX}* domains, then {args.guests} real guests"
        f" ({GUEST_PREFIX}*); takes {'a few' if args.quick else 'about 15'} minutes"
    )
    failures: list[str] = []

    def body() -> str:
        preflight()
        if not POWER_PLAYBOOK.exists():
            raise BenchError(f"{POWER_PLAYBOOK} is missing; run 'make setup'")
        listener = StopListener(URI)  # its connection serves the whole benchmark
        try:
            remove_all(listener.conn)  # what a killed earlier run left
            return run_bench(args, listener, failures)
        finally:
            remove_all(listener.conn)
            listener.close()

    status = run_main("bench_fleet", body)
    if status == 0 and failures:
        print(f"bench_fleet: error: {len(failures)} part(s) failed (see the report): " + "; ".join(f.splitlines()[0] for f in failures), file=sys.stderr)
        return 1
    return status


if __name__ == "__main__":
    sys.exit(main())
