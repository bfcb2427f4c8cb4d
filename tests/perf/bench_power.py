"""Speed of virtops.libvirt.virt_power beside community.libvirt.virt, on real guests.

Run from anywhere as ``.venv/bin/python tests/perf/bench_power.py`` (``make bench``
does the set-up first). Every figure is measured in the same run, on the same
test-bed guests (``bench-1`` ... ``bench-8``), with the tools interleaved:

1. Graceful shutdown of one guest: wall time from the request (``ansible-playbook``
   starts) to the domain being really off, and how long after that the playbook
   returned. community.libvirt's ``command: shutdown`` does not wait, so its
   playbook holds the polling loop a user writes around it (``command: status``
   ``until: result.status == 'shutdown'``, ``delay`` 1 s by default).
   "Really off" is the STOPPED lifecycle event seen by an independent libvirt
   event listener in this process; "task returned" is the end time the
   ``ansible.posix.json`` callback records for the waiting task. The module is
   also run alone (``python -m``, no controller) to time its own return.
2. Graceful shutdown of 8 guests in one playbook, the ways a user would write it:
   virtops in one loop (each item waits); both tools asking every guest first and
   then waiting in a second loop (virtops ``wait: false``, then ``state:
   shutdown``; community ``command: shutdown``, then the polling loop); and both
   with one inventory host per guest (``connection: local``, ``forks`` = 8).
3. An idempotent no-op (``state=running`` on a running guest) with ``ansible
   localhost -m``, beside ``ansible.builtin.ping``: whole-process wall time and
   CPU time (user + system of all its processes), medians.

Before each shutdown the guests are started and waited for until their serial log
says ``acpid started`` (they can hear the ACPI power button), so both tools face
identical guests. The bench guests are removed at the end, also on error.

The guests take ``--shutdown-delay`` seconds (default 2) from the ACPI request to
powering off, as a real OS does, so a polling loop's cost shows.

Usage: bench_power.py [--reps 3] [--guests 8] [--multi-reps 2] [--noop-runs 7]
[--poll-delay 1] [--shutdown-delay 2]. Progress goes to stderr, the report to stdout; exit status 0
on success, 1 with a message on failure (for example libvirtd not answering).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from xml.etree import ElementTree as ET

import libvirt

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / ".venv" / "bin"
VENV_PYTHON = VENV_BIN / "python"
GUEST_PY = ROOT / "tests" / "testbed" / "guest.py"
COLLECTIONS_DIR = ROOT / "build" / "collections"
URI = "qemu:///system"
PREFIX = "bench-"
BOOT_TIMEOUT = 60.0
OFF_TIMEOUT = 60.0
RUN_TIMEOUT = 300.0
GOAL_RETURN_GAP = 0.2
GOAL_PING_RATIO = 1.1
SEPARATOR: list[str] = []  # a row of the report table that draws a line

VIRTOPS = "virtops.libvirt"
COMMUNITY = "community.libvirt"
PING = "ping"

# Playbooks are written to a temporary directory at run time (so that the linters
# of the repository never see them); they are what a user would write. Variables:
# guests (list of domain names), poll_delay (community.libvirt's polling delay).
PLAY_LOCALHOST = """\
- name: {title}
  hosts: localhost
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{{{ ansible_playbook_python }}}}"
  tasks:
"""

PLAY_FORKS = """\
- name: {title}
  hosts: bench_guests
  gather_facts: false
  connection: local
  vars:
    ansible_python_interpreter: "{{{{ ansible_playbook_python }}}}"
  tasks:
"""

TASK_VIRTOPS_WAIT = """\
    - name: Shut down and wait until the guest is off
      virtops.libvirt.virt_power:
        name: {guest}
        state: shutdown
"""

TASK_VIRTOPS_NOWAIT = """\
    - name: Ask the guest to shut down, without waiting
      virtops.libvirt.virt_power:
        name: {guest}
        state: shutdown
        wait: false
"""

TASK_COMMUNITY_SHUTDOWN = """\
    - name: Ask the guest to shut down (the module does not wait)
      community.libvirt.virt:
        name: {guest}
        command: shutdown
"""

TASK_COMMUNITY_POLL = """\
    - name: Wait until the guest is off
      community.libvirt.virt:
        name: {guest}
        command: status
      register: result
      until: result.status == 'shutdown'
      retries: 120
      delay: "{{{{ poll_delay }}}}"
"""

LOOP = '      loop: "{{ guests }}"\n'
ITEM = '"{{ item }}"'
HOST = '"{{ inventory_hostname }}"'


def loop_playbook(title: str, *tasks: str) -> str:
    """A play on localhost whose tasks each loop over the guests."""
    return PLAY_LOCALHOST.format(title=title) + "\n".join(t.format(guest=ITEM) + LOOP for t in tasks)


def forks_playbook(title: str, *tasks: str) -> str:
    """A play over one inventory host per guest, run on the controller."""
    return PLAY_FORKS.format(title=title) + "\n".join(t.format(guest=HOST) for t in tasks)


PLAYBOOKS = {
    "virtops_each": loop_playbook("Shut down each guest with virtops.libvirt, one after the other", TASK_VIRTOPS_WAIT),
    "virtops_two_loops": loop_playbook("Ask every guest with virtops.libvirt, then wait for each", TASK_VIRTOPS_NOWAIT, TASK_VIRTOPS_WAIT),
    "virtops_forks": forks_playbook("Shut down the guests with virtops.libvirt, in parallel", TASK_VIRTOPS_WAIT),
    "community_two_loops": loop_playbook("Ask every guest with community.libvirt, then poll each", TASK_COMMUNITY_SHUTDOWN, TASK_COMMUNITY_POLL),
    "community_forks": forks_playbook("Shut down the guests with community.libvirt, in parallel", TASK_COMMUNITY_SHUTDOWN, TASK_COMMUNITY_POLL),
}


class BenchError(Exception):
    """A failure that ends the benchmark with a message."""


# --------------------------------------------------------------------------- libvirt
class LifecycleListener:
    """Watches libvirt's domain lifecycle events on a connection of its own,
    independent of the tools measured, with libvirt's default event loop in a
    daemon thread. Subclasses set up their state, then call this __init__, and
    implement _on_lifecycle."""

    def __init__(self, uri: str) -> None:
        libvirt.registerErrorHandler(lambda *_args: None, None)
        libvirt.virEventRegisterDefaultImpl()
        threading.Thread(target=self._run_loop, name="libvirt-events", daemon=True).start()
        try:
            self.conn = libvirt.open(uri)
        except libvirt.libvirtError as e:
            raise BenchError(f"libvirt at {uri} does not answer ({e}); run 'make setup' or tests/testbed/start_daemons.sh") from None
        self._callback_id = self.conn.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, self._on_lifecycle, None)

    @staticmethod
    def _run_loop() -> None:
        while True:
            libvirt.virEventRunDefaultImpl()

    def _on_lifecycle(self, _conn: libvirt.virConnect, dom: libvirt.virDomain, event: int, _detail: int, _opaque: object) -> None:
        raise NotImplementedError

    def close(self) -> None:
        try:
            self.conn.domainEventDeregisterAny(self._callback_id)
            self.conn.close()
        except libvirt.libvirtError:
            pass


class StopListener(LifecycleListener):
    """Records when libvirt reports each domain stopped (lifecycle event STOPPED)."""

    def __init__(self, uri: str) -> None:
        self._stops: dict[str, list[float]] = {}
        self._cond = threading.Condition()
        super().__init__(uri)

    def _on_lifecycle(self, _conn: libvirt.virConnect, dom: libvirt.virDomain, event: int, _detail: int, _opaque: object) -> None:
        if event != libvirt.VIR_DOMAIN_EVENT_STOPPED:
            return
        now = time.time()
        with self._cond:
            self._stops.setdefault(dom.name(), []).append(now)
            self._cond.notify_all()

    def stopped_at(self, names: Sequence[str], since: float, timeout: float = OFF_TIMEOUT) -> dict[str, float]:
        """The first STOPPED event time (time.time()) after `since` of each domain, waiting for them."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                first = {}
                for name in names:
                    times = [t for t in self._stops.get(name, []) if t >= since]
                    if times:
                        first[name] = min(times)
                if len(first) == len(names):
                    return first
                left = deadline - time.monotonic()
                if left <= 0:
                    missing = sorted(set(names) - set(first))
                    raise BenchError(f"no STOPPED event within {timeout:.0f} s for: {' '.join(missing)}")
                self._cond.wait(left)


def guest_py(*args: str, timeout: float = RUN_TIMEOUT) -> str:
    try:
        proc = subprocess.run([str(VENV_PYTHON), str(GUEST_PY), *args], capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise BenchError(f"guest.py {' '.join(args)} did not finish within {timeout:.0f} s") from None
    if proc.returncode != 0:
        raise BenchError(f"guest.py {' '.join(args)} failed: {(proc.stderr or proc.stdout).strip()}")
    return proc.stdout


def boot(conn: libvirt.virConnect, names: Sequence[str]) -> None:
    """Start the guests and wait until each can hear the ACPI power button."""
    for name in names:
        dom = conn.lookupByName(name)
        if not dom.isActive():
            dom.create()
    for name in names:
        guest_py("wait-log", name, "acpid started", "--timeout", str(BOOT_TIMEOUT))


def require_off(conn: libvirt.virConnect, names: Sequence[str]) -> None:
    for name in names:
        state = conn.lookupByName(name).state()[0]
        if state != libvirt.VIR_DOMAIN_SHUTOFF:
            raise BenchError(f"{name} is not shut off after the run (libvirt state {state})")


# --------------------------------------------------------------------------- running tools
def tool_env(stdout_callback: str | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["ANSIBLE_CONFIG"] = str(ROOT / "ansible.cfg")
    env["ANSIBLE_COLLECTIONS_PATH"] = str(COLLECTIONS_DIR)
    env["ANSIBLE_LOCALHOST_WARNING"] = "false"
    env["ANSIBLE_INVENTORY_UNPARSED_WARNING"] = "false"
    env["ANSIBLE_NOCOLOR"] = "1"
    if stdout_callback:
        env["ANSIBLE_STDOUT_CALLBACK"] = stdout_callback
    return env


@dataclass
class TimedRun:
    start: float  # time.time() just before the process was started
    end: float  # time.time() just after it exited
    stdout: str


def run_timed(cmd: Sequence[str], env: dict[str, str]) -> TimedRun:
    start = time.time()
    try:
        proc = subprocess.run(list(cmd), capture_output=True, text=True, env=env, cwd=ROOT, timeout=RUN_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        raise BenchError(f"{' '.join(cmd)} did not finish within {RUN_TIMEOUT:.0f} s") from None
    end = time.time()
    if proc.returncode != 0:
        raise BenchError(f"{' '.join(cmd)} exited with {proc.returncode}:\n{failure_summary(proc.stdout, proc.stderr)}")
    return TimedRun(start, end, proc.stdout)


def failure_summary(stdout: str, stderr: str) -> str:
    """The failed tasks' messages from an ansible.posix.json report, else the output's last lines."""
    try:
        report = json.loads(stdout)
        failed = [
            f"task '{task['task']['name']}' on {host}: {result.get('msg', result)}"
            for play in report["plays"]
            for task in play["tasks"]
            for host, host_result in task["hosts"].items()
            for result in host_result.get("results", [host_result])
            if result.get("failed") or result.get("unreachable")
        ]
    except (ValueError, KeyError, TypeError, AttributeError):
        failed = []
    return "\n".join(failed or (stdout + stderr).strip().splitlines()[-25:])


def read_json_callback(output: str) -> dict:
    try:
        return json.loads(output)
    except json.JSONDecodeError as e:
        raise BenchError(f"cannot read the ansible.posix.json callback output ({e}): {output[:300]!r}") from None


def task_end_times(report: dict) -> list[float]:
    """End times (time.time() scale) of every task, from the ansible.posix.json callback's report."""
    ends = []
    for play in report["plays"]:
        for task in play["tasks"]:
            stamp = task["task"]["duration"]["end"].rstrip("Z")
            ends.append(datetime.fromisoformat(stamp).replace(tzinfo=UTC).timestamp())
    return ends


def most_attempts(report: dict) -> int | None:
    """The most attempts (calls of an until/retries loop) for one guest in the last task; None without such a loop."""
    last = report["plays"][-1]["tasks"][-1]
    results = []
    for host_result in last["hosts"].values():
        results.extend(host_result.get("results", [host_result]))
    attempts = [r["attempts"] for r in results if "attempts" in r]
    return max(attempts) if attempts else None


# --------------------------------------------------------------------------- shutdown scenarios
@dataclass
class ShutdownSample:
    to_off: float  # request -> last guest really off (STOPPED event)
    to_return: float  # request -> the tool's process exited
    task_gap: float | None  # last STOPPED event -> end of the last task (the waiting one)
    exit_gap: float  # last STOPPED event -> the tool's process exited
    polls: int | None  # most status calls for one guest in a polling loop (until/retries)


@dataclass
class Scenario:
    key: str  # a key of PLAYBOOKS, or MODULE_ALONE
    label: str


MODULE_ALONE = "module_alone"


class Runner:
    """Writes the playbooks once and runs them, or the module alone."""

    def __init__(self, workdir: Path, poll_delay: float) -> None:
        self.workdir = workdir
        self.poll_delay = poll_delay
        for key, text in PLAYBOOKS.items():
            (workdir / f"{key}.yml").write_text(text, encoding="utf-8")

    def run(self, key: str, names: Sequence[str]) -> TimedRun:
        if key == MODULE_ALONE:
            return self.module_alone(names)
        extra_vars = json.dumps({"guests": list(names), "poll_delay": self.poll_delay})
        cmd = [str(VENV_BIN / "ansible-playbook"), str(self.workdir / f"{key}.yml"), "-e", extra_vars]
        if key.endswith("_forks"):
            inventory = self.workdir / "bench_guests.ini"
            inventory.write_text("[bench_guests]\n" + "\n".join(names) + "\n", encoding="utf-8")
            cmd += ["-i", str(inventory), "--forks", str(len(names))]
        return run_timed(cmd, tool_env("ansible.posix.json"))

    def module_alone(self, names: Sequence[str]) -> TimedRun:
        """virt_power run directly by Python, without Ansible's controller: the module's own return time."""
        if len(names) != 1:
            raise BenchError("the module alone shuts down one guest")
        args = self.workdir / "module_args.json"
        args.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": {"name": names[0], "state": "shutdown", "uri": URI}}), encoding="utf-8")
        env = tool_env()
        env["PYTHONPATH"] = str(COLLECTIONS_DIR)
        run = run_timed([str(VENV_PYTHON), "-m", "ansible_collections.virtops.libvirt.plugins.modules.virt_power", str(args)], env)
        if json.loads(run.stdout).get("state") != "shutoff":
            raise BenchError(f"virt_power run directly did not report shutoff: {run.stdout.strip()}")
        return run


def measure_shutdown(listener: StopListener, runner: Runner, names: Sequence[str], key: str) -> ShutdownSample:
    boot(listener.conn, names)
    run = runner.run(key, names)
    off = max(listener.stopped_at(names, since=run.start).values())
    require_off(listener.conn, names)
    task_gap = polls = None
    if key != MODULE_ALONE:
        report = read_json_callback(run.stdout)
        task_gap = task_end_times(report)[-1] - off
        polls = most_attempts(report)
    return ShutdownSample(off - run.start, run.end - run.start, task_gap, run.end - off, polls)


def interleaved(scenarios: Sequence[Scenario], reps: int) -> list[Scenario]:
    """Each scenario `reps` times, the starting one rotating, so no tool always goes first."""
    order = []
    for rep in range(reps):
        k = rep % len(scenarios)
        order.extend(scenarios[k:] + scenarios[:k])
    return order


def bench_shutdowns(listener: StopListener, runner: Runner, names: Sequence[str], scenarios: Sequence[Scenario], reps: int) -> dict[str, list[ShutdownSample]]:
    samples: dict[str, list[ShutdownSample]] = {s.key: [] for s in scenarios}
    for scenario in interleaved(scenarios, reps):
        sample = measure_shutdown(listener, runner, names, scenario.key)
        samples[scenario.key].append(sample)
        gap = "" if sample.task_gap is None else f", task returned {sample.task_gap:+.3f} s after off"
        polls = "" if sample.polls is None else f", status polls per guest <= {sample.polls}"
        progress(f"{len(names)} guest(s), {scenario.label}: off after {sample.to_off:.2f} s, returned after {sample.to_return:.2f} s{gap}{polls}")
    return samples


# --------------------------------------------------------------------------- no-op
@dataclass
class NoopSamples:
    wall: list[float] = field(default_factory=list)  # whole-process wall time
    cpu: list[float] = field(default_factory=list)  # user + system CPU time of the process and its children


def noop_commands(guest: str) -> dict[str, list[str]]:
    ansible = str(VENV_BIN / "ansible")
    interpreter = ["-e", f"ansible_python_interpreter={VENV_PYTHON}"]
    args = f"name={guest} state=running"
    return {
        VIRTOPS: [ansible, "localhost", "-m", "virtops.libvirt.virt_power", "-a", args, *interpreter],
        COMMUNITY: [ansible, "localhost", "-m", "community.libvirt.virt", "-a", args, *interpreter],
        PING: [ansible, "localhost", "-m", "ansible.builtin.ping", *interpreter],
    }


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed_noop(key: str, cmd: Sequence[str], samples: NoopSamples | None = None) -> None:
    cpu_before = children_cpu()
    run = run_timed(cmd, tool_env())
    cpu = children_cpu() - cpu_before
    if key != PING and '"changed": false' not in run.stdout:
        raise BenchError(f"{key} no-op reported a change or an unexpected result:\n{run.stdout.strip()}")
    if samples is not None:
        samples.wall.append(run.end - run.start)
        samples.cpu.append(cpu)


def bench_noop(conn: libvirt.virConnect, guest: str, runs: int) -> dict[str, NoopSamples]:
    boot(conn, [guest])
    commands = noop_commands(guest)
    keys = list(commands)
    for key in keys:  # warm-up (page cache, bytecode caches), not counted
        timed_noop(key, commands[key])
    samples = {k: NoopSamples() for k in keys}
    for i in range(runs):
        for key in keys[i % len(keys) :] + keys[: i % len(keys)]:
            timed_noop(key, commands[key], samples[key])
    progress("no-op: " + ", ".join(f"{k} {statistics.median(v.wall):.3f} s" for k, v in samples.items()))
    return samples


# --------------------------------------------------------------------------- report
def progress(msg: str) -> None:
    print(f"  .. {msg}", file=sys.stderr, flush=True)


def fmt(values: Sequence[float | None], signed: bool = False) -> str:
    vals = [v for v in values if v is not None]
    if not vals:
        return "-"
    spec = "+.3f" if signed else ".2f"
    med = format(statistics.median(vals), spec)
    if len(vals) == 1:
        return f"{med} s"
    return f"{med} s [{format(min(vals), spec)}..{format(max(vals), spec)}]"


def polls_note(samples: list[ShutdownSample] | None) -> str:
    polls = [s.polls for s in samples or [] if s.polls is not None]
    if not polls:
        return ""
    return f"community: at most {max(polls)} status call(s) per guest" + (", so it never waited its delay" if max(polls) == 1 else "")


def shutdown_rows(title: str, ours: list[ShutdownSample], theirs: list[ShutdownSample] | None, note: str, full: bool = False) -> list[list[str]]:
    def col(samples: list[ShutdownSample] | None, attr: str, signed: bool = False) -> str:
        return "-" if samples is None else fmt([getattr(s, attr) for s in samples], signed)

    rows = [
        [f"{title}: request -> really off", col(ours, "to_off"), col(theirs, "to_off"), "", note],
        [f"{title}: request -> playbook returned", col(ours, "to_return"), col(theirs, "to_return"), "", polls_note(theirs)],
        [f"{title}: really off -> waiting task returned", col(ours, "task_gap", True), col(theirs, "task_gap", True), "", ""],
    ]
    if full:
        rows.append([f"{title}: really off -> playbook returned", col(ours, "exit_gap", True), col(theirs, "exit_gap", True), "", ""])
    return rows


def noop_rows(noop: dict[str, NoopSamples]) -> list[list[str]]:
    ping_wall = statistics.median(noop[PING].wall)
    ping_cpu = statistics.median(noop[PING].cpu)

    def ratio(key: str, attr: str, base: float) -> str:
        return f"{statistics.median(getattr(noop[key], attr)) / base:.2f}x"

    return [
        ["no-op state=running: wall time", *(fmt(noop[k].wall) for k in (VIRTOPS, COMMUNITY, PING)), "whole `ansible localhost -m` process"],
        ["no-op: wall time / ping", ratio(VIRTOPS, "wall", ping_wall), ratio(COMMUNITY, "wall", ping_wall), "1.00x", f"goal: virtops <= {GOAL_PING_RATIO}x"],
        ["no-op: CPU time (user+sys)", *(fmt(noop[k].cpu) for k in (VIRTOPS, COMMUNITY, PING)), "all its processes; steadier under load"],
        ["no-op: CPU time / ping", ratio(VIRTOPS, "cpu", ping_cpu), ratio(COMMUNITY, "cpu", ping_cpu), "1.00x", ""],
    ]


def render_table(header: list[str], rows: list[list[str]]) -> str:
    cells = [header, *(r for r in rows if r != SEPARATOR)]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    line = "-+-".join("-" * w for w in widths)

    def fmt_row(r: list[str]) -> str:
        return " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()

    out = [fmt_row(header), line]
    for r in rows:
        out.append(line if r == SEPARATOR else fmt_row(r))
    return "\n".join(out)


def host_facts(listener: StopListener, guest: str, args: argparse.Namespace) -> list[str]:
    def version(n: int) -> str:
        return f"{n // 1000000}.{n // 1000 % 1000}.{n % 1000}"

    conn = listener.conn
    dom_type = ET.fromstring(conn.lookupByName(guest).XMLDesc(0)).get("type")
    manifest = Path(libvirt_collection_dir()) / "MANIFEST.json"
    community_version = json.loads(manifest.read_text(encoding="utf-8"))["collection_info"]["version"]
    load = os.getloadavg()
    return [
        f"libvirt {version(conn.getLibVersion())}, QEMU {version(conn.getVersion())} ({URI}), domain type '{dom_type}'"
        + (" (TCG)" if dom_type == "qemu" else ""),
        f"ansible-core {importlib.metadata.version('ansible-core')}, community.libvirt {community_version}"
        f" (ansible {importlib.metadata.version('ansible')}), libvirt-python {importlib.metadata.version('libvirt-python')},"
        f" Python {sys.version.split()[0]}",
        f"{os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at the end",
        f"reps: 1 guest x{args.reps} per way, {args.guests} guests x{args.multi_reps} per way,"
        f" no-op x{args.noop_runs} per command (+1 warm-up); medians, [min..max]",
        f"community.libvirt polling delay: {args.poll_delay:g} s (retries 120); guests power off {args.shutdown_delay:g} s after the ACPI request",
    ]


def libvirt_collection_dir() -> str:
    spec = importlib.util.find_spec("ansible_collections.community.libvirt")
    if spec is None or not spec.submodule_search_locations:
        raise BenchError("community.libvirt is not installed in the venv (pip install ansible)")
    return list(spec.submodule_search_locations)[0]


# --------------------------------------------------------------------------- main
def preflight() -> None:
    for tool in ("ansible", "ansible-playbook"):
        if not (VENV_BIN / tool).exists():
            raise BenchError(f"{VENV_BIN / tool} is missing; run 'make setup'")
    libvirt_collection_dir()
    if not (COLLECTIONS_DIR / "ansible_collections" / "virtops" / "libvirt").exists():
        raise BenchError(f"{COLLECTIONS_DIR} does not hold virtops.libvirt; run 'make setup'")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=3, help="repetitions of the one-guest shutdown, per way (default %(default)s)")
    p.add_argument("--guests", type=int, default=8, help="guests of the many-guest shutdown (default %(default)s)")
    p.add_argument("--multi-reps", type=int, default=2, help="repetitions of the many-guest shutdown, per way (default %(default)s)")
    p.add_argument("--noop-runs", type=int, default=7, help="timed runs of each no-op command (default %(default)s)")
    p.add_argument("--poll-delay", type=float, default=1.0, help="delay of community.libvirt's polling loop (default %(default)s s)")
    p.add_argument(
        "--shutdown-delay",
        type=float,
        default=2.0,
        help="seconds each guest takes from the ACPI request to powering off, like a real OS (default %(default)s s)",
    )
    args = p.parse_args(argv)
    if min(args.reps, args.guests, args.multi_reps, args.noop_runs) < 1 or args.poll_delay <= 0 or args.shutdown_delay < 0:
        p.error("counts must be at least 1, --poll-delay positive and --shutdown-delay not negative")
    return args


ONE_GUEST = [
    Scenario("virtops_each", "virtops.libvirt playbook"),
    Scenario("community_two_loops", "community.libvirt playbook"),
    Scenario(MODULE_ALONE, "virt_power module alone"),
]
MANY_GUESTS = [
    Scenario("virtops_each", "virtops.libvirt, one loop"),
    Scenario("virtops_two_loops", "virtops.libvirt, wait=false loop + wait loop"),
    Scenario("community_two_loops", "community.libvirt, shutdown loop + poll loop"),
    Scenario("virtops_forks", "virtops.libvirt, forks"),
    Scenario("community_forks", "community.libvirt, forks"),
]


def run_bench(args: argparse.Namespace, listener: StopListener, workdir: Path) -> str:
    names = [f"{PREFIX}{i}" for i in range(1, args.guests + 1)]
    guest_py("define", *names, "--variant", "normal", "--shutdown-delay", f"{args.shutdown_delay:g}")
    runner = Runner(workdir, args.poll_delay)
    noop = bench_noop(listener.conn, names[0], args.noop_runs)
    one = bench_shutdowns(listener, runner, names[:1], ONE_GUEST, args.reps)
    many = bench_shutdowns(listener, runner, names, MANY_GUESTS, args.multi_reps)
    return report(args, listener, names[0], noop, one, many)


def report(
    args: argparse.Namespace,
    listener: StopListener,
    guest: str,
    noop: dict[str, NoopSamples],
    one: dict[str, list[ShutdownSample]],
    many: dict[str, list[ShutdownSample]],
) -> str:
    n = args.guests
    delay = f"delay {args.poll_delay:g} s"
    rows = [
        *shutdown_rows("1 guest", one["virtops_each"], one["community_two_loops"], f"community: shutdown, then status until off ({delay})", full=True),
        [
            "1 guest: really off -> module process exited",
            fmt([s.exit_gap for s in one[MODULE_ALONE]], True),
            "-",
            "",
            "virt_power run by python -m, no controller",
        ],
        SEPARATOR,
        *shutdown_rows(f"{n} guests, one loop", many["virtops_each"], None, "virtops: one loop, each item waits until off"),
        SEPARATOR,
        *shutdown_rows(
            f"{n} guests, ask all then wait",
            many["virtops_two_loops"],
            many["community_two_loops"],
            f"virtops: wait=false loop + wait loop; community: shutdown loop + status loop ({delay})",
        ),
        SEPARATOR,
        *shutdown_rows(f"{n} guests, forks={n}", many["virtops_forks"], many["community_forks"], f"{n} inventory hosts, connection local, forks {n}"),
        SEPARATOR,
        *noop_rows(noop),
    ]
    table = render_table(["metric", VIRTOPS, COMMUNITY, PING, "note"], rows)
    return "\n".join(["", table, "", *verdicts(one, noop), "", *NOTES, "", *host_facts(listener, guest, args)])


NOTES = [
    "really off = libvirt's STOPPED lifecycle event, seen by a listener in this process; task returned = the task's end in the ansible.posix.json callback.",
    "Times are medians [min..max]; 'request' is the start of the ansible-playbook (or python) process, so Ansible's start-up is included.",
    "community.libvirt's status reports libvirt's 'in shutdown' as 'shutdown' too, so its loop can end before the guest is off (a negative gap).",
]


def verdicts(one: dict[str, list[ShutdownSample]], noop: dict[str, NoopSamples]) -> list[str]:
    worst_gap = max(s.task_gap for s in one["virtops_each"] if s.task_gap is not None)
    ratio = statistics.median(noop[VIRTOPS].wall) / statistics.median(noop[PING].wall)
    return [
        f"goal: virt_power's task returns within {GOAL_RETURN_GAP} s of the guest being off (1 guest): "
        + ("met" if worst_gap <= GOAL_RETURN_GAP else "NOT met")
        + f", worst {worst_gap:.3f} s",
        f"goal: a no-op costs at most {GOAL_PING_RATIO}x ping (wall time): " + ("met" if ratio <= GOAL_PING_RATIO else "NOT met") + f", {ratio:.2f}x",
    ]


def cleanup() -> None:
    """Remove the bench guests (guest.py touches only test-bed domains); warn if that fails."""
    try:
        guest_py("cleanup", "--prefix", PREFIX)
    except BenchError as e:
        print(f"bench_power: warning: {e}", file=sys.stderr)


def run_main(tool: str, body: Callable[[], str]) -> int:
    """Run a benchmark's body: its report on stdout and the total time, or an
    actionable message on stderr and a non-zero exit status."""
    started = time.monotonic()
    try:
        text = body()
    except BenchError as err:
        print(f"{tool}: error: {err}", file=sys.stderr)
        return 1
    except libvirt.libvirtError as err:
        print(f"{tool}: error: libvirt: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{tool}: interrupted", file=sys.stderr)
        return 130
    print(text)
    print(f"total run time: {time.monotonic() - started:.0f} s")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    progress(f"bench_power: {args.guests} test guests ({PREFIX}*), virtops.libvirt beside community.libvirt; takes a few minutes")

    def body() -> str:
        preflight()
        listener = StopListener(URI)
        try:
            guest_py("cleanup", "--prefix", PREFIX)
            with tempfile.TemporaryDirectory(prefix="virtops-bench-") as tmp:
                text = run_bench(args, listener, Path(tmp))
        finally:
            cleanup()
            listener.close()
        return text

    return run_main("bench_power", body)


if __name__ == "__main__":
    sys.exit(main())
