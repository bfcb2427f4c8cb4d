"""Idempotency, check-mode accuracy, writes and no-op cost of virtops.libvirt.virt_domain beside community.libvirt.virt.

Run from anywhere as ``.venv/bin/python tests/perf/bench_domain.py [--sample N] [--noop-reps R]``
(after ``make setup``). Both tools apply the same domain XML corpus (``tests/corpus/domains/*.xml``,
globbed at run time; ``--sample N`` takes N files evenly spread over it) in the same run:
virtops.libvirt with ``virt_domain`` (``name``, ``xml``; ``unowned: keep``, the default),
community.libvirt with ``virt`` ``command: define`` ``xml:`` (its default ``mutate_flags:
[ADD_UUID]``). Each phase is one ``ansible-playbook`` per tool, looping over the corpus:

  A  check-mode first apply (the domains are absent)   B  first apply (defines them)
  C  check-mode re-apply                               D  re-apply (a no-op)
  E  check-mode mutation apply                         F  mutation apply
  G  re-apply of the mutation (a no-op again)

virt_domain keeps a last-applied record in each domain's ``<metadata>`` (namespace
https://virtops.dev/xmlns/libvirt/applied/1, plugins/module_utils/_definition/record.py):
a change is one define (a DEFINED lifecycle event) then one ``setMetadata`` writing the
record (a METADATA_CHANGE event, not DEFINED); a re-apply of the template last applied to
a definition libvirt still holds as it made it (normalised template bytes and the
fingerprint of the stored definition equal) is recognised from the record alone, without
comparing documents, and writes neither. community.libvirt keeps no record.

The mutation of each definition is ONE single-field change (memory, vcpu, a disk
source, a NIC model or the description: the rules of
tests/integration/test_virt_domain_corpus.py), the field rotating over the corpus so
every kind is exercised. Measured per tool:

1. idempotent re-apply: D (and G) report ``changed: false``;
2. check-mode accuracy: A/B, C/D, E/F report the same ``changed``;
3. mutations detected: F reports ``changed: true`` and libvirt's inactive XML of the
   domain, without virt_domain's record (which every apply rewrites), really differs
   before and after F (read with libvirt-python);
4. writes, from a listener in this process on its own connection while each playbook
   runs: definition writes are libvirt ``VIR_DOMAIN_EVENT_DEFINED`` lifecycle events of
   the corpus domains, record writes their ``VIR_DOMAIN_EVENT_ID_METADATA_CHANGE`` events;
5. the wall time of each phase's playbook (the whole ansible-playbook process);
6. the cost per no-op run, in this process (no Ansible start-up), right after each
   tool's phase D (for virtops.libvirt: every domain defined, with its record), for each
   domain D left without error, ``--noop-reps`` times (default 5): virtops' whole module
   run, ``DomainDefinition(conn, DefinitionRequest(name, xml)).run()`` on one
   ``Connection`` kept open (opening one is timed apart); the parts of its decision, on
   the same parsed documents: the read (lookup, ``XMLDesc(INACTIVE | SECURE)``) and
   parse of the stored and desired documents, the record check as ``plan()`` makes it
   (``record.still_applied``: the record's attributes, the digest of
   ``record.normalised``, ``record.fingerprint``, ``record.secrets_held``; each part also
   timed alone) and the document comparison the
   record replaces (``compare.differences(desired, stored)``); community.libvirt's module body,
   ``virt.core()`` with ``command: define`` (it opens its own connections and redefines
   the domain on every run), with a stand-in for the little of AnsibleModule it uses.
   Median per domain, then median and p95 over the domains, beside each tool's phase D
   wall time per domain; the events during these runs are counted too (virtops: none).

A failing item (community.libvirt's define may fail on some definitions) is counted
per phase and reported, not fatal: the generated playbooks, written to a temporary
directory at run time, use ``ignore_errors``. Each tool starts from the same empty state:
every ``corpus-*`` domain is undefined before the run, between the tools and at the end
(also on error), so nothing else may use ``corpus-*`` domains on the daemon meanwhile
(tests/integration/test_virt_domain_corpus.py does). No domain and no network is ever
started.

Progress goes to stderr, the report to stdout; exit status 0 on success, 1 with a
message on failure (for example libvirtd not answering).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib.metadata
import json
import math
import os
import re
import shlex
import statistics
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
    COLLECTIONS_DIR,
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

# The collection as Ansible sees it (build/collections/ansible_collections/virtops/libvirt, made by
# `make setup`), for the in-process no-op measurement; community.libvirt comes with the venv's ansible.
sys.path.insert(0, str(COLLECTIONS_DIR))
try:
    from ansible_collections.community.libvirt.plugins.modules import virt as community_virt
    from ansible_collections.virtops.libvirt.plugins.module_utils._core import xml as dxml
    from ansible_collections.virtops.libvirt.plugins.module_utils._core.client import Connection
    from ansible_collections.virtops.libvirt.plugins.module_utils._definition import record as drecord
    from ansible_collections.virtops.libvirt.plugins.module_utils._definition.compare import differences
    from ansible_collections.virtops.libvirt.plugins.module_utils._definition.runner import DefinitionRequest, DomainDefinition
except ImportError as err:
    IMPORT_ERROR: str | None = f"cannot import the collections ({err}); run 'make setup'"
else:
    IMPORT_ERROR = None


ROOT = Path(__file__).resolve().parents[2]
CORPUS_DIR = ROOT / "tests" / "corpus" / "domains"
MAKE_IMAGES = ROOT / "tests" / "corpus" / "make_images.sh"
PREFIX = "corpus-"
RUN_TIMEOUT = 1800.0  # one phase: a playbook looping over the whole corpus
EVENT_SETTLE = 0.5  # seconds after a playbook exits for libvirt's events to arrive
VIRSH_UNDEFINE = ["--nvram", "--tpm", "--managed-save", "--snapshots-metadata"]
TOOLS = (VIRTOPS, COMMUNITY)
FIELDS = ("memory", "vcpu", "disk source", "nic model", "description")
NOOP_REPS = 5  # in-process no-op runs per domain and path (--noop-reps)

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
class WriteListener(LifecycleListener):
    """Counts, per domain, libvirt's DEFINED lifecycle events (each write of a persistent
    definition) and METADATA_CHANGE events (each write of a metadata element: for
    virt_domain, its last-applied record)."""

    def __init__(self, uri: str) -> None:
        self._defines: Counter[str] = Counter()
        self._records: Counter[str] = Counter()
        self._lock = threading.Lock()
        super().__init__(uri)
        self._metadata_id = self.conn.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_METADATA_CHANGE, self._on_metadata, None)

    def _on_lifecycle(self, _conn: libvirt.virConnect, dom: libvirt.virDomain, event: int, _detail: int, _opaque: object) -> None:
        if event == libvirt.VIR_DOMAIN_EVENT_DEFINED:
            with self._lock:
                self._defines[dom.name()] += 1

    def _on_metadata(self, _conn: libvirt.virConnect, dom: libvirt.virDomain, _mtype: int, _nsuri: str | None, _opaque: object) -> None:
        with self._lock:
            self._records[dom.name()] += 1

    def snapshot(self) -> tuple[Counter[str], Counter[str]]:
        """The DEFINED and the METADATA_CHANGE events so far, by domain."""
        with self._lock:
            return Counter(self._defines), Counter(self._records)

    def writes_since(self, before: tuple[Counter[str], Counter[str]], names: Sequence[str]) -> tuple[int, int]:
        """The definition and record writes of the domains `names` since `before` (a snapshot), after letting the events arrive."""
        time.sleep(EVENT_SETTLE)
        (defines, records), (defines_before, records_before) = self.snapshot(), before
        return sum(defines[n] - defines_before[n] for n in names), sum(records[n] - records_before[n] for n in names)

    def close(self) -> None:
        with contextlib.suppress(libvirt.libvirtError):
            self.conn.domainEventDeregisterAny(self._metadata_id)
        super().close()


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


def definition_only(xml: str) -> bytes:
    """libvirt's definition without virt_domain's last-applied record (canonical form): the
    record changes with every apply, so only the rest tells whether the definition changed."""
    return dxml.etree.tostring(drecord.without_record(dxml.parse_domain(xml, "libvirt's definition")), method="c14n")


def inactive_definitions(conn: libvirt.virConnect, names: Sequence[str]) -> dict[str, bytes | None]:
    """libvirt's persistent (inactive) definition of each domain, without the record; None when it is not defined."""
    found: dict[str, bytes | None] = {}
    for name in names:
        try:
            found[name] = definition_only(conn.lookupByName(name).XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
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
    record_writes: int  # METADATA_CHANGE events of the corpus domains while it ran

    def failures(self) -> dict[str, str]:
        return {name: o.msg for name, o in self.outcomes.items() if not o.ok}


@dataclass
class NoopCost:
    """The in-process no-op measurement of one tool: per path, the per-domain medians (seconds)."""

    medians: dict[str, list[float]] = field(default_factory=dict)
    domains: int = 0
    reps: int = 0
    not_noop: Counter[str] = field(default_factory=Counter)  # per path: domains it did not find unchanged
    writes: int = 0  # DEFINED events during the runs
    record_writes: int = 0  # METADATA_CHANGE events during the runs


@dataclass
class ToolResult:
    phases: dict[str, PhaseResult] = field(default_factory=dict)
    mutation_written: dict[str, bool] = field(default_factory=dict)  # the definition (without the record) differs before/after F
    noop: NoopCost = field(default_factory=NoopCost)


class Runner:
    """Writes the vars file and one playbook per tool, and runs a phase."""

    def __init__(self, workdir: Path, items: Sequence[CorpusItem], listener: WriteListener) -> None:
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
        writes, record_writes = self.listener.writes_since(before, self.names)
        return PhaseResult(wall, self.outcomes(read_json_callback(proc.stdout), tool, phase), writes, record_writes)

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


# --------------------------------------------------------------------------- the cost per no-op run, in process
# Paths of the virtops.libvirt measurement (their report labels are in noop_rows).
WHOLE, READ, RECORD, COMPARE, RECORD_PATH, COMPARE_PATH, CONNECT = "whole", "read", "record", "compare", "record path", "compare path", "connect"
RECORD_READ, RECORD_NORMALISED, RECORD_FINGERPRINT, RECORD_SECRETS = "record.read", "record.normalised", "record.fingerprint", "record.secrets_held"


class CommunityModule:
    """The little of AnsibleModule that community.libvirt.virt's ``command: define`` uses."""

    check_mode = False

    def __init__(self, name: str, xml: str) -> None:
        self.params = {
            "name": name,
            "uri": URI,
            "command": "define",
            "xml": xml,
            "mutate_flags": ["ADD_UUID"],
            "state": None,
            "autostart": None,
            "force": None,
            "flags": None,
        }

    @staticmethod
    def run_command(cmd: str | list[str]) -> tuple[int, str, str]:
        proc = subprocess.run(shlex.split(cmd) if isinstance(cmd, str) else cmd, capture_output=True, text=True, check=False)
        return proc.returncode, proc.stdout, proc.stderr

    def warn(self, _msg: str) -> None:
        pass

    def fail_json(self, msg: str = "", **_kwargs: object) -> None:
        raise BenchError(f"community.libvirt.virt (in process) failed on {self.params['name']}: {msg}")


def timed(func: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    value = func()
    return time.perf_counter() - start, value


def virtops_noop_once(conn: Connection, item: CorpusItem) -> tuple[dict[str, float], dict[str, bool]]:
    """One no-op of virtops.libvirt on one domain: the whole module run, then the decision's
    parts on the documents of one read; the times (seconds) and whether each found no change."""
    t_whole, result = timed(lambda: DomainDefinition(conn, DefinitionRequest(name=item.name, xml=item.xml)).run())

    def read_and_parse() -> tuple[object, object]:
        text = conn.raw.lookupByName(item.name).XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE | libvirt.VIR_DOMAIN_XML_SECURE)
        return dxml.parse_domain(item.xml, "option xml"), dxml.parse_domain(text, "libvirt's definition")

    t_read, (desired, stored) = timed(read_and_parse)
    # The record check as plan() makes it (record.still_applied), then each of its parts timed alone.
    t_record, same = timed(lambda: drecord.still_applied(desired, stored))
    t_get, _attributes = timed(lambda: dict(stored.find(f"metadata/{drecord.TAG}").attrib))
    t_normalised, _digest = timed(lambda: hashlib.sha256(drecord.normalised(desired)).hexdigest())
    t_fingerprint, _fingerprint = timed(lambda: drecord.fingerprint(stored))
    t_secrets, _held = timed(lambda: drecord.secrets_held(desired, stored))
    t_compare, found = timed(lambda: differences(desired, stored))
    times = {
        WHOLE: t_whole,
        READ: t_read,
        RECORD: t_record,
        RECORD_READ: t_get,
        RECORD_NORMALISED: t_normalised,
        RECORD_FINGERPRINT: t_fingerprint,
        RECORD_SECRETS: t_secrets,
        COMPARE: t_compare,
        RECORD_PATH: t_read + t_record,
        COMPARE_PATH: t_read + t_compare,
    }
    return times, {WHOLE: not result["changed"], RECORD: bool(same), COMPARE: not found}


def community_noop_once(item: CorpusItem) -> tuple[dict[str, float], dict[str, bool]]:
    """One no-op of community.libvirt on one domain: its module body, as its main() runs it."""
    t_whole, (_rc, result) = timed(lambda: community_virt.core(CommunityModule(item.name, item.xml)))
    return {WHOLE: t_whole}, {WHOLE: not result.get("changed", False)}


def connect_times(reps: int) -> list[float]:
    """Opening (and closing) a virtops Connection, as each module run does once."""
    found = []
    for _rep in range(reps):
        elapsed, conn = timed(lambda: Connection(URI))
        conn.close()
        found.append(elapsed)
    return found


def measure_noop(tool: str, items: Sequence[CorpusItem], listener: WriteListener, reps: int) -> NoopCost:
    """The cost per no-op run of `tool` on each of `items` (all defined as the template says), in process."""
    cost = NoopCost(domains=len(items), reps=reps)
    if not items:
        return cost
    conn = Connection(URI) if tool == VIRTOPS else None
    try:

        def once(item: CorpusItem) -> tuple[dict[str, float], dict[str, bool]]:
            return virtops_noop_once(conn, item) if conn is not None else community_noop_once(item)

        names = [item.name for item in items]
        before = listener.snapshot()
        once(items[0])  # warm-up (imports, caches, the daemon's), not counted
        samples: dict[str, list[list[float]]] = {}
        for item in items:
            runs: dict[str, list[float]] = {}
            for _rep in range(reps):
                times, unchanged = once(item)
                for path, value in times.items():
                    runs.setdefault(path, []).append(value)
            for path, values in runs.items():
                samples.setdefault(path, []).append(values)
            cost.not_noop.update(path for path, ok in unchanged.items() if not ok)
        cost.writes, cost.record_writes = listener.writes_since(before, names)
        cost.medians = {path: [statistics.median(values) for values in per_domain] for path, per_domain in samples.items()}
        if conn is not None:
            cost.medians[CONNECT] = [statistics.median(connect_times(reps))]
    finally:
        if conn is not None:
            conn.close()
    return cost


def run_tool(tool: str, runner: Runner, conn: libvirt.virConnect, noop_reps: int) -> ToolResult:
    """Phases A..G of one tool, from an empty state; the in-process no-op cost after D."""
    undefine_corpus(conn)
    result = ToolResult()
    for phase in PHASES:
        if phase.key == "F":
            before = inactive_definitions(conn, runner.names)
        outcome = runner.run(tool, phase)
        if phase.key == "F":
            after = inactive_definitions(conn, runner.names)
            result.mutation_written = {n: before[n] is not None and after[n] is not None and before[n] != after[n] for n in runner.names}
        require_none_running(conn)
        result.phases[phase.key] = outcome
        changed = sum(o.changed for o in outcome.outcomes.values())
        progress(
            f"{tool} {phase.key} {phase.label}: {outcome.wall:.1f} s, changed {changed}/{len(runner.names)},"
            f" failed {len(outcome.failures())}, DEFINED events {outcome.writes}, METADATA_CHANGE events {outcome.record_writes}"
        )
        if phase.key == "D":
            applied = [item for item in runner.items if outcome.outcomes[item.name].ok]
            started = time.monotonic()
            result.noop = measure_noop(tool, applied, runner.listener, noop_reps)
            require_none_running(conn)
            progress(
                f"{tool} no-op in process: {len(applied)} domains x {noop_reps} runs in {time.monotonic() - started:.1f} s,"
                f" whole run median {1000 * statistics.median(result.noop.medians.get(WHOLE, [0.0])):.2f} ms"
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
        row("3. mutations detected (F)", lambda r: detected(r, items), "F changed=true and the inactive XML (record left out) differs before/after"),
    ]
    for kind in FIELDS:
        picked = [i for i in items if i.field == kind]
        rows.append(row(f"   {kind} ({kinds[kind]})", lambda r, p=picked: detected(r, p)))
    rows += [
        SEPARATOR,
        row("4. definition writes, no-op re-apply (D)", lambda r: str(r.phases["D"].writes), "goal 0; DEFINED events while the playbook ran"),
        row("   record writes, no-op re-apply (D)", lambda r: str(r.phases["D"].record_writes), "goal 0; METADATA_CHANGE events (the last-applied record)"),
        row("   definition writes, re-apply of the mutation (G)", lambda r: str(r.phases["G"].writes), "goal 0"),
        row("   record writes, re-apply of the mutation (G)", lambda r: str(r.phases["G"].record_writes), "goal 0"),
        row(
            "   definition writes per phase",
            lambda r: " ".join(f"{p.key}:{r.phases[p.key].writes}" for p in PHASES),
            f"B, F: {n} expected (one define each); A, C, E (check mode): 0",
        ),
        row(
            "   record writes per phase",
            lambda r: " ".join(f"{p.key}:{r.phases[p.key].record_writes}" for p in PHASES),
            f"virtops.libvirt B, F: {n} expected (one setMetadata per define); community.libvirt keeps none",
        ),
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


def p95(values: Sequence[float]) -> float:
    """The 95th percentile, nearest rank."""
    ordered = sorted(values)
    return ordered[max(math.ceil(0.95 * len(ordered)) - 1, 0)]


def ms(value: float) -> str:
    return f"{1000 * value:.2f} ms"


def noop_rows(items: Sequence[CorpusItem], results: dict[str, ToolResult]) -> list[list[str]]:
    """The cost per no-op run: median and p95 over the domains of each path's per-domain median."""
    ours, theirs = results[VIRTOPS].noop, results[COMMUNITY].noop

    def row(label: str, cost: NoopCost, path: str, note: str = "") -> list[str]:
        values = cost.medians.get(path)
        if not values:
            return [label, "-", "-", note]
        return [label, ms(statistics.median(values)), ms(p95(values)), note]

    def phase_d(tool: str) -> list[str]:
        return [
            f"phase D wall time per domain, {tool}",
            ms(results[tool].phases["D"].wall / len(items)),
            "-",
            "the whole ansible-playbook run / the domains (Ansible included)",
        ]

    found = f"found unchanged by every run on {ours.domains - ours.not_noop[RECORD]}/{ours.domains} domains"
    return [
        row("virtops record path: read + parse + record check", ours, RECORD_PATH, "the no-op decision of plan() with its inputs"),
        row("   read (lookup, XMLDesc) and parse of both documents", ours, READ),
        row("   record check: record.still_applied(desired, stored)", ours, RECORD, found),
        row("      the record's attributes (version, template digest, fingerprint)", ours, RECORD_READ),
        row("      digest of record.normalised(desired): mask (in place), c14n", ours, RECORD_NORMALISED),
        row("      record.fingerprint(stored): mask (in place), serialise, sha256", ours, RECORD_FINGERPRINT),
        row("      record.secrets_held(desired, stored)", ours, RECORD_SECRETS),
        row(
            "document comparison: compare.differences(desired, stored)",
            ours,
            COMPARE,
            f"the path the record replaces; no difference on {ours.domains - ours.not_noop[COMPARE]}/{ours.domains} (a change that is none on the rest)",
        ),
        row("   read + parse + document comparison", ours, COMPARE_PATH),
        row(
            "virtops whole module run in process: DomainDefinition.run()",
            ours,
            WHOLE,
            f"one Connection kept open; changed=false on {ours.domains - ours.not_noop[WHOLE]}/{ours.domains}",
        ),
        row("   opening a Connection (once per module run, not above)", ours, CONNECT, f"median of {ours.reps} opens"),
        row(
            "community.libvirt module body in process: virt core(), define",
            theirs,
            WHOLE,
            f"opens its own connections, redefines every run; changed=false on {theirs.domains - theirs.not_noop[WHOLE]}/{theirs.domains}",
        ),
        SEPARATOR,
        phase_d(VIRTOPS),
        phase_d(COMMUNITY),
    ]


def noop_lines(items: Sequence[CorpusItem], results: dict[str, ToolResult]) -> list[str]:
    ours, theirs = results[VIRTOPS].noop, results[COMMUNITY].noop

    def median(cost: NoopCost, path: str) -> str:
        values = cost.medians.get(path)
        return ms(statistics.median(values)) if values else "-"

    return [
        f"Cost per no-op run, after phase D, in this process without Ansible's start-up: median of {ours.reps} runs per domain,"
        f" then median and p95 over the domains (virtops.libvirt {ours.domains}, community.libvirt {theirs.domains}).",
        f"no-op decision per domain: virtops record path {median(ours, RECORD_PATH)} (of which record check {median(ours, RECORD)})"
        f" | document comparison {median(ours, COMPARE)} | whole module run in-process {median(ours, WHOLE)}",
        f"phase D wall time per domain: virtops.libvirt {ms(results[VIRTOPS].phases['D'].wall / len(items))},"
        f" community.libvirt {ms(results[COMMUNITY].phases['D'].wall / len(items))}",
        "",
        render_table(["no-op path (per domain)", "median", "p95", "note"], noop_rows(items, results)),
        "",
        f"writes during the in-process no-op runs: virtops.libvirt {ours.writes} DEFINED, {ours.record_writes} METADATA_CHANGE (goal 0);"
        f" community.libvirt {theirs.writes} DEFINED, {theirs.record_writes} METADATA_CHANGE (it defines on every run)",
    ]


def goal_lines(items: Sequence[CorpusItem], results: dict[str, ToolResult]) -> list[str]:
    n = len(items)
    ours = results[VIRTOPS]
    rates = {
        "idempotent re-apply": idempotent(ours, "B", "D") == n and idempotent(ours, "F", "G") == n,
        "check-mode accuracy": all(check_accurate(ours, c, x) == n for c, x, _l in CHECK_PAIRS),
        "mutations detected": all(mutation_detected(ours, i.name) for i in items),
        "zero writes on a no-op run": all(ours.phases[k].writes == 0 and ours.phases[k].record_writes == 0 for k in ("D", "G"))
        and ours.noop.writes == 0
        and ours.noop.record_writes == 0,
    }
    met = all(rates.values())
    missed = [k for k, ok in rates.items() if not ok]
    record, compare = ours.noop.medians.get(RECORD), ours.noop.medians.get(COMPARE)
    if record and compare:
        cheaper = statistics.median(record) <= statistics.median(compare) and p95(record) <= p95(compare)
        cost = (
            f"goal: the no-op decision does not grow (record check <= document comparison, median and p95):"
            f" {'met' if cheaper else 'NOT met'} ({ms(statistics.median(record))} vs {ms(statistics.median(compare))},"
            f" p95 {ms(p95(record))} vs {ms(p95(compare))})"
        )
    else:
        cost = "goal: the no-op decision does not grow: not measured (no domain was applied without error in phase D)"
    return [
        "goal: virtops.libvirt 100% on each rate and zero writes (definition and record) on a no-op run: "
        + ("met" if met else "NOT met (" + ", ".join(missed) + ")"),
        cost,
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
    "virtops.libvirt: virt_domain name/uri/xml (unowned: keep; a three-way apply with its last-applied record in <metadata>)."
    " community.libvirt: virt command=define name/uri/xml, default mutate_flags [ADD_UUID].",
    "A failed item counts against every rate it takes part in (a pair is accurate only when both runs succeeded).",
    "Definition writes are libvirt VIR_DOMAIN_EVENT_DEFINED lifecycle events of the corpus domains, record writes their"
    " VIR_DOMAIN_EVENT_ID_METADATA_CHANGE events (virt_domain writes its record with setMetadata after each define), from a listener on its own connection.",
    "The no-op cost is timed with time.perf_counter in this process; the record check and the document comparison run on the same"
    " documents (one read of XMLDesc(INACTIVE | SECURE), parsed with parse_domain), after phase D (virtops' domains hold their records).",
]


def report(items: Sequence[CorpusItem], corpus_size: int, results: dict[str, ToolResult], conn: libvirt.virConnect) -> str:
    table = render_table(["metric", VIRTOPS, COMMUNITY, "note"], metric_rows(items, results))
    return "\n".join(
        [
            "",
            table,
            "",
            *noop_lines(items, results),
            "",
            *goal_lines(items, results),
            "",
            "Failures:",
            *failure_lines(results),
            "",
            *NOTES,
            "",
            *host_facts(conn, items, corpus_size),
        ]
    )


# --------------------------------------------------------------------------- main
def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sample", type=int, metavar="N", help="apply N corpus files, evenly spread (default: all)")
    p.add_argument("--noop-reps", type=int, default=NOOP_REPS, metavar="R", help=f"in-process no-op runs per domain and path (default: {NOOP_REPS})")
    args = p.parse_args(argv)
    if args.sample is not None and args.sample < 1:
        p.error("--sample must be at least 1")
    if args.noop_reps < 1:
        p.error("--noop-reps must be at least 1")
    return args


def run_bench(args: argparse.Namespace, listener: WriteListener, workdir: Path) -> str:
    items, corpus_size = load_corpus(args.sample)
    make_images()
    progress(f"{len(items)} of {corpus_size} corpus files, 7 phases per tool, {args.noop_reps} in-process no-op runs per domain after D")
    runner = Runner(workdir, items, listener)
    results = {tool: run_tool(tool, runner, listener.conn, args.noop_reps) for tool in TOOLS}
    return report(items, corpus_size, results, listener.conn)


def cleanup() -> None:
    """Undefine the corpus domains, on a connection of its own (the listener's breaks if the daemon restarted); warn if that fails."""
    try:
        conn = libvirt.open(URI)
        try:
            undefine_corpus(conn)
        finally:
            conn.close()
    except (BenchError, libvirt.libvirtError) as e:
        print(f"bench_domain: warning: cleanup: {e}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    progress("bench_domain: the domain corpus with virtops.libvirt beside community.libvirt; takes several minutes")

    def body() -> str:
        preflight()
        if IMPORT_ERROR:
            raise BenchError(IMPORT_ERROR)
        listener = WriteListener(URI)
        try:
            left = undefine_corpus(listener.conn)
            if left:
                progress(f"undefined {left} leftover {PREFIX}* domain(s)")
            with tempfile.TemporaryDirectory(prefix="virtops-bench-domain-") as tmp:
                text = run_bench(args, listener, Path(tmp))
        finally:
            cleanup()
            listener.close()
        return text

    return run_main("bench_domain", body)


if __name__ == "__main__":
    sys.exit(main())
