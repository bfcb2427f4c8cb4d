"""The two libvirt hypervisors of the test bed, for the migration tests (test_migrate.py,
test_drain.py), and how those tests drive them: ad-hoc commands and playbooks as a user
runs them, state read back with virsh on both daemons, tiny guests made with
tests/testbed/guest.py under a prefix of the test's own, removed from both afterwards.

hv1 is the libvirtd of start_daemons.sh; hv2 the one of start_second_daemon.sh (`make
setup`), in the same network namespace, sharing hv1's bridge virbr0 and its dir pools.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import yaml
from virt_harness import ENV, ROOT, guest_tool

HV1 = "qemu:///system"
HV2 = "qemu+unix:///system?socket=/var/lib/virtops/hv2/sock/libvirt-sock"
# hv1 as hv2's daemon reaches it (its /run/libvirt, bind-mounted where hv2 sees it): the
# peer_uri of a peer-to-peer migration from hv2 to hv1.
HV1_FROM_HV2 = "qemu+unix:///system?socket=/var/lib/virtops/hv2/hv1-run/libvirt-sock"
# Both daemons run on this machine: the migration data goes over the loopback.
MIGRATE_URI = "tcp://127.0.0.1"
NETNS = "virtops"
START_HV2 = "run make setup (tests/testbed/start_second_daemon.sh)"
NAMES = {HV1: "hv1", HV2: "hv2"}


def require_hv2() -> None:
    """Fail (never skip) when hv2 does not answer, saying how to start it."""
    try:
        proc = subprocess.run(["virsh", "-q", "-c", HV2, "version"], capture_output=True, text=True, timeout=15, check=False)
        error = " ".join(proc.stderr.split()) if proc.returncode else ""
    except subprocess.TimeoutExpired:
        error = "no answer within 15 s"
    assert not error, f"hv2 does not answer at {HV2} ({error}); {START_HV2}"
    assert host_uuid(HV1) != host_uuid(HV2), f"hv1 and hv2 have one host UUID; {START_HV2}"


def show_figures(request, label: str, figures: dict[str, str]) -> None:
    """Print what a test module measured, after its last test (pytest's capture off)."""
    plugins = request.config.pluginmanager
    reporter, capture = plugins.get_plugin("terminalreporter"), plugins.get_plugin("capturemanager")
    if reporter is None or not figures:
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line("")
        for key, value in figures.items():
            reporter.write_line(f"{label}: {key}: {value}")


# -- virsh on either daemon ----------------------------------------------------------------
def virsh_on(uri: str, *args: str, check: bool = True) -> str:
    proc = subprocess.run(["virsh", "-q", "-c", uri, *args], capture_output=True, text=True, check=False, timeout=120)
    if check:
        assert proc.returncode == 0, f"virsh -c {uri} {' '.join(args)}: {proc.stderr}"
    return proc.stdout.strip()


def state_on(uri: str, name: str) -> str | None:
    """virsh's state of NAME on that hypervisor ('running', 'shut off', ...), None when it has no such domain."""
    proc = subprocess.run(["virsh", "-q", "-c", uri, "domstate", name], capture_output=True, text=True, check=False, timeout=120)
    if proc.returncode:
        assert "failed to get domain" in proc.stderr, f"virsh -c {uri} domstate {name}: {proc.stderr}"
        return None
    return proc.stdout.strip()


def where(name: str) -> dict[str, str | None]:
    """{'hv1': state or None, 'hv2': state or None}."""
    return {label: state_on(uri, name) for uri, label in NAMES.items()}


def persistent_on(uri: str, name: str) -> bool:
    return re.search(r"^Persistent:\s+yes$", virsh_on(uri, "dominfo", name), re.M) is not None


def domain_id(uri: str, name: str) -> str:
    return virsh_on(uri, "domid", name)


def host_uuid(uri: str) -> str:
    return (ET.fromstring(virsh_on(uri, "capabilities")).findtext("host/uuid") or "").strip()


def free_mib(uri: str) -> int:
    """The host's available memory (free, buffers and page cache, from virsh nodememstats), what the
    memory pre-flight check reads."""
    stats = dict(re.findall(r"^(\w+)\s*:\s*(\d+) KiB", virsh_on(uri, "nodememstats"), re.M))
    assert "free" in stats, f"virsh -c {uri} nodememstats: no free memory"
    return sum(int(stats.get(key, 0)) for key in ("free", "buffers", "cached")) // 1024


def names_on(uri: str, prefix: str) -> list[str]:
    return sorted(name for name in virsh_on(uri, "list", "--all", "--name").split() if name.startswith(prefix))


# -- what users run ----------------------------------------------------------------------
class Run:
    """One `ansible localhost -m virtops.libvirt.MODULE -a '{json}'` run."""

    def __init__(self, module: str, args: dict, check: bool = False, diff: bool = False) -> None:
        cmd = ["ansible", "localhost", "-m", f"virtops.libvirt.{module}", "-a", json.dumps(args), "-e", f"ansible_python_interpreter={sys.executable}"]
        cmd += (["--check"] if check else []) + (["--diff"] if diff else [])
        started = time.monotonic()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=ENV, check=False, cwd=ROOT, timeout=600)
        self.wall = time.monotonic() - started
        self.rc = proc.returncode
        self.output = proc.stdout + proc.stderr
        found = re.search(r"^localhost \| (CHANGED|SUCCESS|FAILED!)(?: \| rc=-?\d+)? => ", proc.stdout, re.M)
        assert found, f"no module result in: {self.output}"
        self.status = found.group(1)
        self.before = proc.stdout[: found.start()]  # what --diff printed
        self.result, _end = json.JSONDecoder().raw_decode(proc.stdout, found.end())

    def __getitem__(self, key):
        return self.result[key]

    @property
    def failed(self) -> bool:
        return self.status == "FAILED!" and self.rc != 0


def migrate(name: str, source: str, dest: str, check: bool = False, diff: bool = False, **options) -> Run:
    """virt_migrate NAME from SOURCE to DEST ad hoc; the data over the loopback unless told otherwise."""
    return Run("virt_migrate", {"name": name, "uri": source, "dest_uri": dest, "migrate_uri": MIGRATE_URI, **options}, check=check, diff=diff)


def playbook(tasks: list[dict], tmp_path: Path, extra_vars: dict | None = None, diff: bool = False) -> list[dict]:
    """Run TASKS in one play on localhost (EXTRA_VARS given with -e @file); each task's
    registered result, in order. A task holding ``expect_failure: true`` runs in a block
    whose rescue lets the play go on; its result is the failure."""
    registered = []
    for index, task in enumerate(tasks):
        task = {**task, "register": f"result_{index}"}
        if task.pop("expect_failure", False):
            rescue = [{"name": "Failed as expected", "ansible.builtin.debug": {"msg": "failed"}}]
            task = {"name": f"Expected to fail: {task['name']}", "block": [task], "rescue": rescue}
        registered.append(task)
    out = tmp_path / f"results-{uuid.uuid4().hex[:6]}.json"
    collect = "[" + ", ".join(f"result_{i}" for i in range(len(tasks))) + "]"
    save = {"name": "Save the results", "ansible.builtin.copy": {"content": "{{ " + collect + " | to_json }}", "dest": str(out), "mode": "0644"}}
    play = [
        {
            "name": "Migration test play",
            "hosts": "localhost",
            "gather_facts": False,
            "vars": {"ansible_python_interpreter": sys.executable},
            "tasks": [*registered, save],
        }
    ]
    path = tmp_path / f"play-{out.stem}.yml"
    path.write_text(yaml.safe_dump(play, sort_keys=False))
    cmd = ["ansible-playbook", str(path), *(["--diff"] if diff else [])]
    if extra_vars is not None:
        vars_file = tmp_path / f"vars-{out.stem}.json"
        vars_file.write_text(json.dumps(extra_vars))
        cmd += ["-e", f"@{vars_file}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=ENV, check=False, cwd=ROOT, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(out.read_text())


# -- test guests on both daemons -----------------------------------------------------------
class Guests2:
    """Tiny test guests (guest.py, TCG cache of 32 MiB) named PREFIX-N, on either daemon;
    cleanup() destroys and undefines every one of them on both, whatever its state, and
    nothing else (guest.py cleanup touches only test-bed domains with the prefix)."""

    def __init__(self, kind: str) -> None:
        self.prefix = f"{kind}-{uuid.uuid4().hex[:6]}-"
        self.count = 0
        self.networks: list[str] = []

    def name(self) -> str:
        self.count += 1
        return f"{self.prefix}{self.count}"

    def xml(self, name: str, variant: str = "normal", memory_mib: int | None = None) -> str:
        return guest_tool("xml", name, "--variant", variant, "--tb-cache-mib", "32", *(["--memory-mib", str(memory_mib)] if memory_mib else []))

    def define(self, variant: str = "normal", memory_mib: int | None = None, uri: str = HV1, edit=None) -> str:
        """A shut-off guest defined on URI; EDIT (str -> str) changes its XML first."""
        name = self.name()
        xml = self.xml(name, variant, memory_mib)
        if edit is not None:
            xml = edit(xml)
        self._define(uri, xml)
        return name

    @staticmethod
    def _define(uri: str, xml: str) -> None:
        proc = subprocess.run(["virsh", "-q", "-c", uri, "define", "/dev/stdin"], input=xml, capture_output=True, text=True, check=False, timeout=120)
        assert proc.returncode == 0, f"virsh -c {uri} define: {proc.stderr}"

    def booted(self, count: int = 1, variant: str = "normal", memory_mib: int | None = None, uri: str = HV1, edit=None, ready: str | None = None) -> list[str]:
        """COUNT running guests, booted side by side, each ready: its serial log holds READY
        (by default its ACPI handler is up, or for variant net its DHCP lease is bound)."""
        names = [self.define(variant, memory_mib, uri, edit) for _index in range(count)]
        return self.start(names, ready or ("dhcp bound" if variant == "net" else "acpid started"), uri)

    def start(self, names: list[str], ready: str = "acpid started", uri: str = HV1) -> list[str]:
        """Start the guests NAMES side by side; wait until each serial log holds READY."""
        for name in names:
            virsh_on(uri, "start", name)
        for name in names:
            self.wait_log(name, ready)
        return names

    def transient(self, uri: str = HV1) -> str:
        """A running transient guest (it is gone once stopped)."""
        name = self.name()
        guest_tool("create", name, "--transient", "--tb-cache-mib", "32", "--uri", uri)
        self.wait_log(name, "acpid started")
        return name

    @staticmethod
    def wait_log(name: str, pattern: str, timeout: float = 90) -> None:
        guest_tool("wait-log", name, pattern, "--timeout", str(timeout))

    def network_on_hv1_only(self) -> str:
        """A network on hv1 only that creates nothing: forward mode bridge onto hv1's virbr0."""
        name = f"{self.prefix}hv1only"
        xml = f"<network><name>{name}</name><forward mode='bridge'/><bridge name='virbr0'/></network>"
        proc = subprocess.run(["virsh", "-q", "-c", HV1, "net-define", "/dev/stdin"], input=xml, capture_output=True, text=True, check=False)
        assert proc.returncode == 0, proc.stderr
        self.networks.append(name)
        virsh_on(HV1, "net-start", name)
        return name

    def cleanup(self) -> None:
        try:
            for uri in (HV1, HV2):
                guest_tool("cleanup", "--prefix", self.prefix, "--remove-logs", "--uri", uri)
        finally:
            for index in range(1, self.count + 1):  # also the logs of transient guests gone meanwhile
                Path(guest_tool("log-path", f"{self.prefix}{index}").strip()).unlink(missing_ok=True)
            for network in self.networks:
                virsh_on(HV1, "net-destroy", network, check=False)
                virsh_on(HV1, "net-undefine", network, check=False)
        assert not any(network in virsh_on(HV1, "net-list", "--all", "--name").split() for network in self.networks)
        for uri in (HV1, HV2):
            assert names_on(uri, self.prefix) == [], f"left on {uri}: {names_on(uri, self.prefix)}"


def exclude_all_but(prefix: str) -> list[str]:
    """Shell patterns (virt_drain's exclude_names) that match every name NOT starting with
    PREFIX, whatever domains come and go meanwhile: a different first character, the same
    first and a different second, ... and the names that are a start of PREFIX."""
    assert re.fullmatch(r"[A-Za-z0-9-]+", prefix), prefix
    patterns = [f"{prefix[:i]}[!{prefix[i]}]*" for i in range(len(prefix))]
    return patterns + [prefix[:i] for i in range(1, len(prefix))]


# ICMP echo every 0.1 s, as `ping -i 0.1 ADDRESS` would send (this machine has no ping
# binary): one "icmp_seq=N" line per reply; on SIGINT, after 0.5 s for the replies still
# under way, the count sent and received.
PING = r"""
import os, select, signal, socket, struct, sys, time

def checksum(data):
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    return ~(total + (total >> 16)) & 0xFFFF

address, ident, payload = sys.argv[1], os.getpid() & 0xFFFF, b"virtops!" * 7
sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
sent = received = 0
stop_at = None
signal.signal(signal.SIGINT, lambda *_: globals().__setitem__("stop_at", time.monotonic() + 0.5))
next_send = time.monotonic()
while stop_at is None or time.monotonic() < stop_at:
    if stop_at is None and time.monotonic() >= next_send:
        header = struct.pack("!BBHHH", 8, 0, 0, ident, sent & 0xFFFF)
        sock.sendto(struct.pack("!BBHHH", 8, 0, checksum(header + payload), ident, sent & 0xFFFF) + payload, (address, 0))
        sent += 1
        next_send += 0.1
    until = stop_at if stop_at is not None else next_send
    ready, _writable, _failed = select.select([sock], [], [], max(0.0, until - time.monotonic()))
    if ready:
        data, source = sock.recvfrom(2048)
        start = (data[0] & 0x0F) * 4
        kind, _code, _sum, echo_id, seq = struct.unpack("!BBHHH", data[start : start + 8])
        if kind == 0 and echo_id == ident and source[0] == address:
            received += 1
            print(f"{len(data) - start} bytes from {address}: icmp_seq={seq}", flush=True)
print(f"{sent} packets transmitted, {received} received", flush=True)
"""


class Pinger:
    """A ping loop from netns virtops to ADDRESS in the background (ICMP echo every 0.1 s,
    PING above): which replies came back."""

    def __init__(self, address: str) -> None:
        self.replies: list[tuple[int, float]] = []  # (icmp_seq, time.monotonic())
        self.summary = ""
        self._got = threading.Condition()
        cmd = ["ip", "netns", "exec", NETNS, sys.executable, "-c", PING, address]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            seq = re.search(r"icmp_seq=(\d+)", line)
            if seq and "bytes from" in line:
                with self._got:
                    self.replies.append((int(seq.group(1)), time.monotonic()))
                    self._got.notify_all()
            elif "transmitted" in line:
                self.summary = line.strip()

    def wait_replies(self, more: int, timeout: float = 30) -> None:
        """Wait until MORE replies came back after now."""
        with self._got:
            want = len(self.replies) + more
            assert self._got.wait_for(lambda: len(self.replies) >= want, timeout), f"ping: {len(self.replies)} replies, wanted {want}"

    def stop(self) -> dict[str, int]:
        """Stop it; {'sent', 'received', 'lost', 'longest_gap'} (the most replies missing in a row)."""
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(timeout=10)
        self.reader.join(timeout=10)
        counts = re.search(r"(\d+) packets transmitted, (\d+) received", self.summary)
        assert counts, f"no ping summary: {self.summary!r}"
        sent, received = int(counts.group(1)), int(counts.group(2))
        seqs = [seq for seq, _when in self.replies]
        gap = max((b - a - 1 for a, b in zip(seqs, seqs[1:])), default=0)
        return {"sent": sent, "received": received, "lost": sent - received, "longest_gap": gap}

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
