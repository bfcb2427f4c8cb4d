"""Idempotency, check-mode accuracy and writes of virtops.libvirt.virt_domain beside community.libvirt.virt.

Run from anywhere as ``.venv/bin/python tests/perf/bench_domain.py [--sample N]`` (after
``make setup``). Both tools apply the same domain XML corpus (``tests/corpus/domains/*.xml``,
globbed at run time; ``--sample N`` takes N files evenly spread over it) in the same run:
virtops.libvirt with ``virt_domain`` (``name``, ``xml``), community.libvirt with ``virt``
``command: define`` ``xml:`` (its default ``mutate_flags: [ADD_UUID]``). Each phase is one
``ansible-playbook`` per tool, looping over the corpus:

  A  check-mode first apply (the domains are absent)   B  first apply (defines them)
  C  check-mode re-apply                               D  re-apply (a no-op)
  E  check-mode mutation apply                         F  mutation apply
  G  re-apply of the mutation (a no-op again)

The mutation of each definition is ONE single-field change (memory, vcpu, a disk
source, a NIC model or the description: the rules of
tests/integration/test_virt_domain_corpus.py), the field rotating over the corpus so
every kind is exercised. Measured per tool:

1. idempotent re-apply: D (and G) report ``changed: false``;
2. check-mode accuracy: A/B, C/D, E/F report the same ``changed``;
3. mutations detected: F reports ``changed: true`` and libvirt's inactive XML of the
   domain really differs before and after F (read with libvirt-python);
4. definition writes: libvirt ``VIR_DOMAIN_EVENT_DEFINED`` lifecycle events for the corpus
   domains, seen by a listener in this process while each playbook runs;
5. the wall time of each phase's playbook (the whole ansible-playbook process).

A failing item (community.libvirt's define may fail on some definitions) is counted
per phase and reported, not fatal: the generated playbooks, written to a temporary
directory at run time, use ``ignore_errors``. Each tool starts from the same empty state:
every ``corpus-*`` domain is undefined before the run, between the tools and at the end
(also on error). No domain and no network is ever started.

Progress goes to stderr, the report to stdout; exit status 0 on success, 1 with a
message on failure (for example libvirtd not answering).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import libvirt

sys.path.append(str(Path(__file__).resolve().parents[1] / "corpus"))
from bench_power import (  # noqa: E402  (after the corpus helpers are on the path)
    COMMUNITY,
    SEPARATOR,
    URI,
    VENV_BIN,
    VIRTOPS,
    BenchError,
    LifecycleListener,
    failure_summary,
    libvirt_collection_dir,
    preflight,
    progress,
    read_json_callback,
    render_table,
    run_main,
    tool_env,
)
from mutations import mutations  # noqa: E402  (tests/corpus/mutations.py, shared with the property tests)

ROOT = Path(__file__).resolve().parents[2]
CORPUS_DIR = ROOT / "tests" / "corpus" / "domains"
MAKE_IMAGES = ROOT / "tests" / "corpus" / "make_images.sh"
PREFIX = "corpus-"
RUN_TIMEOUT = 1800.0  # one phase: a playbook looping over the whole corpus
EVENT_SETTLE = 0.5  # seconds after a playbook exits for libvirt's events to arrive
VIRSH_UNDEFINE = ["--nvram", "--tpm", "--managed-save", "--snapshots-metadata"]
TOOLS = (VIRTOPS, COMMUNITY)
FIELDS = ("memory", "vcpu", "disk source", "nic model", "description")

PLAYBOOK = """\
- name: Apply the corpus definitions with {tool}
  hosts: localhost
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{{{ ansible_playbook_python }}}}"
  tasks:
{task}      loop: "{{{{ corpus }}}}"
      loop_control:
        label: "{{{{ item.name }}}}"
      # community.libvirt may fail on an item: counted per phase and reported, not fatal
      ignore_errors: true
"""

TASKS = {
    VIRTOPS: """\
    - name: Define each domain with virtops.libvirt.virt_domain
      virtops.libvirt.virt_domain:
        name: "{{ item.name }}"
        uri: "{{ uri }}"
        xml: "{{ item[xml_key] }}"
""",
    COMMUNITY: """\
    - name: Define each domain with community.libvirt.virt
      community.libvirt.virt:
        name: "{{ item.name }}"
        uri: "{{ uri }}"
        command: define
        xml: "{{ item[xml_key] }}"
""",
}


@dataclass(frozen=True)
class Phase:
    key: str
    label: str
    xml_key: str  # "xml" (the corpus file) or "mutated"
    check: bool


PHASES = (
    Phase("A", "check-mode first apply", "xml", True),
    Phase("B", "first apply", "xml", False),
    Phase("C", "check-mode re-apply", "xml", True),
    Phase("D", "re-apply (no-op)", "xml", False),
    Phase("E", "check-mode mutation apply", "mutated", True),
    Phase("F", "mutation apply", "mutated", False),
    Phase("G", "re-apply of the mutation", "mutated", False),
)
CHECK_PAIRS = (("A", "B", "first apply"), ("C", "D", "re-apply"), ("E", "F", "mutation apply"))


# --------------------------------------------------------------------------- corpus


@dataclass(frozen=True)
class CorpusItem:
    name: str
    path: Path
    xml: str
    field: str  # the mutated field, one of FIELDS
    mutated: str


def pick_mutation(xml: str, index: int) -> tuple[str, str]:
    """One applicable mutation: the field kind rotates with the index, skipping kinds that do not apply."""
    found = mutations(xml)
    for k in range(len(FIELDS)):
        kind = FIELDS[(index + k) % len(FIELDS)]
        if kind in found:
            return kind, found[kind]
    raise BenchError("no mutation applies")  # unreachable: the description always does


def sample_paths(paths: list[Path], sample: int | None) -> list[Path]:
    """`sample` files evenly spread over the sorted corpus (all of them without --sample)."""
    if sample is None or sample >= len(paths):
        return paths
    return [paths[i * len(paths) // sample] for i in range(sample)]


def load_corpus(sample: int | None) -> tuple[list[CorpusItem], int]:
    """The corpus items to apply, and the size of the whole corpus."""
    paths = sorted(CORPUS_DIR.glob("*.xml"))
    if not paths:
        raise BenchError(f"no domain XML in {CORPUS_DIR}")
    items = []
    for index, path in enumerate(sample_paths(paths, sample)):
        xml = path.read_text(encoding="utf-8")
        found = re.search(r"<name>([^<]+)</name>", xml)
        if not found or not found.group(1).startswith(PREFIX):
            raise BenchError(f"{path.name}: no <name>{PREFIX}NNN</name>")
        if any(marker in xml for marker in ("{{", "{%", "{#")):
            raise BenchError(f"{path.name}: holds a Jinja marker, which Ansible would template")
        kind, mutated = pick_mutation(xml, index)
        items.append(CorpusItem(found.group(1), path, xml, kind, mutated))
    names = [item.name for item in items]
    if len(set(names)) != len(names):
        raise BenchError("two corpus files have the same <name>")
    return items, len(paths)


def make_images() -> None:
    proc = subprocess.run(["bash", str(MAKE_IMAGES)], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise BenchError(f"{MAKE_IMAGES.name} failed: {(proc.stderr or proc.stdout).strip()}")


# --------------------------------------------------------------------------- libvirt
class DefineListener(LifecycleListener):
    """Counts libvirt's DEFINED lifecycle events (each write of a persistent definition) per domain."""

    def __init__(self, uri: str) -> None:
        self._defines: Counter[str] = Counter()
        self._lock = threading.Lock()
        super().__init__(uri)

    def _on_lifecycle(self, _conn: libvirt.virConnect, dom: libvirt.virDomain, event: int, _detail: int, _opaque: object) -> None:
        if event == libvirt.VIR_DOMAIN_EVENT_DEFINED:
            with self._lock:
                self._defines[dom.name()] += 1

    def snapshot(self) -> Counter[str]:
        with self._lock:
            return Counter(self._defines)


def corpus_domains(conn: libvirt.virConnect) -> list[libvirt.virDomain]:
    return [dom for dom in conn.listAllDomains(0) if dom.name().startswith(PREFIX)]


def undefine_corpus(conn: libvirt.virConnect) -> int:
    """Undefine every corpus-* domain (they hold nothing of value); how many there were."""
    doms = corpus_domains(conn)
    for dom in doms:
        if dom.isActive():
            raise BenchError(f"{dom.name()} is running; the benchmark never starts a domain, so it leaves it alone")
        proc = subprocess.run(["virsh", "-q", "-c", URI, "undefine", dom.name(), *VIRSH_UNDEFINE], capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise BenchError(f"virsh undefine {dom.name()} failed: {(proc.stderr or proc.stdout).strip()}")
    return len(doms)


def inactive_xml(conn: libvirt.virConnect, names: Sequence[str]) -> dict[str, str | None]:
    """libvirt's persistent (inactive) definition of each domain; None when it is not defined."""
    found: dict[str, str | None] = {}
    for name in names:
        try:
            found[name] = conn.lookupByName(name).XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
        except libvirt.libvirtError:
            found[name] = None
    return found


def require_none_running(conn: libvirt.virConnect) -> None:
    running = [dom.name() for dom in corpus_domains(conn) if dom.isActive()]
    if running:
        raise BenchError(f"corpus domains were started, which must never happen: {' '.join(running)}")


# --------------------------------------------------------------------------- running the playbooks
@dataclass
class Outcome:
    ok: bool
    changed: bool
    msg: str = ""


@dataclass
class PhaseResult:
    wall: float  # the ansible-playbook process, start to exit
    outcomes: dict[str, Outcome]  # by domain name
    writes: int  # DEFINED events of the corpus domains while it ran

    def failures(self) -> dict[str, str]:
        return {name: o.msg for name, o in self.outcomes.items() if not o.ok}


@dataclass
class ToolResult:
    phases: dict[str, PhaseResult] = field(default_factory=dict)
    mutation_written: dict[str, bool] = field(default_factory=dict)  # inactive XML differs before/after F


class Runner:
    """Writes the vars file and one playbook per tool, and runs a phase."""

    def __init__(self, workdir: Path, items: Sequence[CorpusItem], listener: DefineListener) -> None:
        self.workdir = workdir
        self.items = items
        self.names = [item.name for item in items]
        self.listener = listener
        corpus = [{"name": i.name, "xml": i.xml, "mutated": i.mutated, "field": i.field} for i in items]
        self.vars_file = workdir / "corpus.json"
        self.vars_file.write_text(json.dumps({"corpus": corpus, "uri": URI}), encoding="utf-8")
        for tool in TOOLS:
            self.playbook(tool).write_text(PLAYBOOK.format(tool=tool, task=TASKS[tool]), encoding="utf-8")

    def playbook(self, tool: str) -> Path:
        return self.workdir / f"{tool.replace('.', '_')}.yml"

    def run(self, tool: str, phase: Phase) -> PhaseResult:
        cmd = [str(VENV_BIN / "ansible-playbook"), str(self.playbook(tool)), "-e", f"@{self.vars_file}", "-e", json.dumps({"xml_key": phase.xml_key})]
        if phase.check:
            cmd.append("--check")
        before = self.listener.snapshot()
        start = time.monotonic()
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, env=tool_env("ansible.posix.json"), cwd=ROOT, timeout=RUN_TIMEOUT, check=False)
        except subprocess.TimeoutExpired:
            raise BenchError(f"{tool} phase {phase.key} did not finish within {RUN_TIMEOUT:.0f} s") from None
        wall = time.monotonic() - start
        if proc.returncode != 0:
            raise BenchError(f"{tool} phase {phase.key}: ansible-playbook exited with {proc.returncode}:\n{failure_summary(proc.stdout, proc.stderr)}")
        time.sleep(EVENT_SETTLE)
        after = self.listener.snapshot()
        writes = sum(after[name] - before[name] for name in self.names)
        return PhaseResult(wall, self.outcomes(read_json_callback(proc.stdout), tool, phase), writes)

    def outcomes(self, report: dict, tool: str, phase: Phase) -> dict[str, Outcome]:
        try:
            results = report["plays"][0]["tasks"][0]["hosts"]["localhost"]["results"]
        except (KeyError, IndexError, TypeError):
            raise BenchError(f"{tool} phase {phase.key}: no per-item results in the callback output") from None
        found = {}
        for result in results:
            name = result.get("item", {}).get("name")
            failed = bool(result.get("failed") or result.get("unreachable"))
            found[name] = Outcome(not failed, bool(result.get("changed")), one_line(result.get("msg", "")) if failed else "")
        missing = set(self.names) - set(found)
        if missing:
            raise BenchError(f"{tool} phase {phase.key}: no result for {' '.join(sorted(missing))}")
        return found


def one_line(msg: object) -> str:
    return " ".join(str(msg).split())


def run_tool(tool: str, runner: Runner, conn: libvirt.virConnect) -> ToolResult:
    """Phases A..G of one tool, from an empty state."""
    undefine_corpus(conn)
    result = ToolResult()
    for phase in PHASES:
        if phase.key == "F":
            before = inactive_xml(conn, runner.names)
        outcome = runner.run(tool, phase)
        if phase.key == "F":
            after = inactive_xml(conn, runner.names)
            result.mutation_written = {n: before[n] is not None and after[n] is not None and before[n] != after[n] for n in runner.names}
        require_none_running(conn)
        result.phases[phase.key] = outcome
        changed = sum(o.changed for o in outcome.outcomes.values())
        progress(
            f"{tool} {phase.key} {phase.label}: {outcome.wall:.1f} s, changed {changed}/{len(runner.names)},"
            f" failed {len(outcome.failures())}, DEFINED events {outcome.writes}"
        )
    return result


# --------------------------------------------------------------------------- metrics
def rate(k: int, n: int) -> str:
    return f"{k}/{n} ({100.0 * k / n:.1f}%)" if n else "0/0 (-)"


def idempotent(result: ToolResult, first: str, again: str) -> int:
    """Items applied without error in `first` that `again` reports unchanged."""
    a, b = result.phases[first].outcomes, result.phases[again].outcomes
    return sum(a[n].ok and b[n].ok and not b[n].changed for n in a)


def check_accurate(result: ToolResult, check: str, real: str) -> int:
    """Items whose check-mode run and real run both succeeded and agree on `changed`."""
    c, r = result.phases[check].outcomes, result.phases[real].outcomes
    return sum(c[n].ok and r[n].ok and c[n].changed == r[n].changed for n in c)


def changed_count(result: ToolResult, key: str) -> int:
    return sum(o.ok and o.changed for o in result.phases[key].outcomes.values())


def mutation_detected(result: ToolResult, name: str) -> bool:
    outcome = result.phases["F"].outcomes[name]
    return outcome.ok and outcome.changed and result.mutation_written[name]


def metric_rows(items: Sequence[CorpusItem], results: dict[str, ToolResult]) -> list[list[str]]:
    n = len(items)
    kinds = Counter(item.field for item in items)

    def row(label: str, fn: Callable[[ToolResult], str], note: str = "") -> list[str]:
        return [label, *(fn(results[tool]) for tool in TOOLS), note]

    def all_pairs(r: ToolResult) -> str:
        return rate(sum(check_accurate(r, c, x) for c, x, _label in CHECK_PAIRS), len(CHECK_PAIRS) * n)

    def detected(r: ToolResult, picked: Sequence[CorpusItem]) -> str:
        return rate(sum(mutation_detected(r, i.name) for i in picked), len(picked))

    def wall(r: ToolResult, key: str) -> str:
        return f"{r.phases[key].wall:.1f} s ({1000 * r.phases[key].wall / n:.0f} ms/item)"

    rows = [
        row("1. idempotent re-apply (D)", lambda r: rate(idempotent(r, "B", "D"), n), "D reports changed=false after B defined it"),
        row("   idempotent after the mutation (G)", lambda r: rate(idempotent(r, "F", "G"), n), "G reports changed=false after F applied the mutation"),
        SEPARATOR,
        row("2. check-mode accuracy, all pairs", all_pairs, "check mode's changed == the real run's (both ran without error)"),
    ]
    for check, real, label in CHECK_PAIRS:
        rows.append(row(f"   {label} ({check} vs {real})", lambda r, c=check, x=real: rate(check_accurate(r, c, x), n)))
    rows += [
        SEPARATOR,
        row("3. mutations detected (F)", lambda r: detected(r, items), "F changed=true and libvirt's inactive XML differs before/after"),
    ]
    for kind in FIELDS:
        picked = [i for i in items if i.field == kind]
        rows.append(row(f"   {kind} ({kinds[kind]})", lambda r, p=picked: detected(r, p)))
    rows += [
        SEPARATOR,
        row("4. definition writes, no-op re-apply (D)", lambda r: str(r.phases["D"].writes), "goal 0; DEFINED events while the playbook ran"),
        row("   writes, re-apply of the mutation (G)", lambda r: str(r.phases["G"].writes), "goal 0"),
        row("   writes, first apply (B)", lambda r: str(r.phases["B"].writes), f"{n} expected: the listener sees the defines"),
        row("   writes, mutation apply (F)", lambda r: str(r.phases["F"].writes), f"{n} expected"),
        SEPARATOR,
    ]
    for phase in PHASES:
        rows.append(row(f"5. wall time {phase.key}: {phase.label}", lambda r, k=phase.key: wall(r, k)))
    rows += [
        SEPARATOR,
        row("items reporting changed, per phase", lambda r: " ".join(f"{p.key}:{changed_count(r, p.key)}" for p in PHASES)),
        row("items that failed, per phase", lambda r: " ".join(f"{p.key}:{len(r.phases[p.key].failures())}" for p in PHASES)),
    ]
    return rows


def goal_lines(items: Sequence[CorpusItem], results: dict[str, ToolResult]) -> list[str]:
    n = len(items)
    ours = results[VIRTOPS]
    rates = {
        "idempotent re-apply": idempotent(ours, "B", "D") == n and idempotent(ours, "F", "G") == n,
        "check-mode accuracy": all(check_accurate(ours, c, x) == n for c, x, _l in CHECK_PAIRS),
        "mutations detected": all(mutation_detected(ours, i.name) for i in items),
        "zero writes on a no-op run": ours.phases["D"].writes == 0 and ours.phases["G"].writes == 0,
    }
    met = all(rates.values())
    missed = [k for k, ok in rates.items() if not ok]
    return [
        "goal: virtops.libvirt 100% on each rate and zero writes on a no-op run: " + ("met" if met else "NOT met (" + ", ".join(missed) + ")"),
    ]


def failure_lines(results: dict[str, ToolResult], limit: int = 3) -> list[str]:
    """The distinct failure messages of each tool and phase, with how many items gave each."""
    lines = []
    for tool in TOOLS:
        for phase in PHASES:
            messages = Counter(msg[:200] for msg in results[tool].phases[phase.key].failures().values())
            for msg, count in messages.most_common(limit):
                lines.append(f"{tool} {phase.key}: {count} x {msg}")
            if len(messages) > limit:
                lines.append(f"{tool} {phase.key}: ... and {len(messages) - limit} other message(s)")
    return lines or ["no item failed"]


def host_facts(conn: libvirt.virConnect, items: Sequence[CorpusItem], corpus_size: int) -> list[str]:
    def version(n: int) -> str:
        return f"{n // 1000000}.{n // 1000 % 1000}.{n % 1000}"

    manifest = Path(libvirt_collection_dir()) / "MANIFEST.json"
    community_version = json.loads(manifest.read_text(encoding="utf-8"))["collection_info"]["version"]
    load = os.getloadavg()
    kinds = Counter(item.field for item in items)
    return [
        f"libvirt {version(conn.getLibVersion())}, QEMU {version(conn.getVersion())} ({URI})",
        f"ansible-core {importlib.metadata.version('ansible-core')}, community.libvirt {community_version}"
        f" (ansible {importlib.metadata.version('ansible')}), libvirt-python {importlib.metadata.version('libvirt-python')},"
        f" Python {sys.version.split()[0]}",
        f"corpus: {len(items)} of {corpus_size} files in {CORPUS_DIR.relative_to(ROOT)}; mutations: " + ", ".join(f"{kind} {kinds[kind]}" for kind in FIELDS),
        f"{os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at the end",
    ]


NOTES = [
    "Each phase is one ansible-playbook per tool looping over the corpus; wall time is the whole process (Ansible's start-up included).",
    "virtops.libvirt: virt_domain name/uri/xml (match: subset). community.libvirt: virt command=define name/uri/xml, default mutate_flags [ADD_UUID].",
    "A failed item counts against every rate it takes part in (a pair is accurate only when both runs succeeded).",
    "Writes are libvirt VIR_DOMAIN_EVENT_DEFINED lifecycle events of the corpus domains, from a listener on its own connection.",
]


def report(items: Sequence[CorpusItem], corpus_size: int, results: dict[str, ToolResult], conn: libvirt.virConnect) -> str:
    table = render_table(["metric", VIRTOPS, COMMUNITY, "note"], metric_rows(items, results))
    return "\n".join(
        ["", table, "", *goal_lines(items, results), "", "Failures:", *failure_lines(results), "", *NOTES, "", *host_facts(conn, items, corpus_size)]
    )


# --------------------------------------------------------------------------- main
def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sample", type=int, metavar="N", help="apply N corpus files, evenly spread (default: all)")
    args = p.parse_args(argv)
    if args.sample is not None and args.sample < 1:
        p.error("--sample must be at least 1")
    return args


def run_bench(args: argparse.Namespace, listener: DefineListener, workdir: Path) -> str:
    items, corpus_size = load_corpus(args.sample)
    make_images()
    progress(f"{len(items)} of {corpus_size} corpus files, 7 phases per tool")
    runner = Runner(workdir, items, listener)
    results = {tool: run_tool(tool, runner, listener.conn) for tool in TOOLS}
    return report(items, corpus_size, results, listener.conn)


def cleanup(conn: libvirt.virConnect) -> None:
    """Undefine the corpus domains; warn if that fails."""
    try:
        undefine_corpus(conn)
    except (BenchError, libvirt.libvirtError) as e:
        print(f"bench_domain: warning: cleanup: {e}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    progress("bench_domain: the domain corpus with virtops.libvirt beside community.libvirt; takes several minutes")

    def body() -> str:
        preflight()
        listener = DefineListener(URI)
        try:
            left = undefine_corpus(listener.conn)
            if left:
                progress(f"undefined {left} leftover {PREFIX}* domain(s)")
            with tempfile.TemporaryDirectory(prefix="virtops-bench-domain-") as tmp:
                text = run_bench(args, listener, Path(tmp))
        finally:
            cleanup(listener.conn)
            listener.close()
        return text

    return run_main("bench_domain", body)


if __name__ == "__main__":
    sys.exit(main())
