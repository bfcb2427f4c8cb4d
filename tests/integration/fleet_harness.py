"""Helpers of the fleet tests (test_fleet.py): tagged test guests, inventory files
of the inventory plugin virtops.libvirt.libvirt, the collection playbooks run as an
operator runs them, and a watcher that timestamps what the guests print.

The libvirt network 'default' (tests/testbed/start_network.sh, inside the daemon's
network namespace) and the loopback sshd (tests/testbed/start_sshd.sh) are started
here on demand; both scripts are idempotent and return at once when already up.
Every guest made here is named ``fl-<hex>-...`` and removed afterwards.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import yaml
from virt_harness import ENV, ROOT, guest_tool, virsh

TESTBED = ROOT / "tests" / "testbed"
TAGS_NS = "https://virtops.dev/xmlns/libvirt/1"
TESTBED_NS = "https://virtops.dev/testbed"  # guest.py's marker
SSH_DIR = Path(os.environ.get("VIRTOPS_SSH_DIR") or "/var/lib/virtops/ssh")
GUEST_DIR = Path(os.environ.get("VIRTOPS_GUEST_DIR") or "/var/lib/virtops/guest")
BOOT_TIMEOUT = "90"  # TCG on a busy 2-core machine


def run_testbed(script: str, *args: str) -> str:
    proc = subprocess.run([str(TESTBED / script), *args], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, f"{script}: {proc.stdout}{proc.stderr}"
    return proc.stdout


def ensure_network() -> None:
    run_testbed("start_network.sh")


def ensure_sshd() -> str:
    """The qemu+ssh URI of the local libvirtd through the loopback sshd."""
    run_testbed("start_sshd.sh")
    return (SSH_DIR / "libvirt-uri").read_text().strip()


def sshd_logins() -> int:
    """Key logins accepted so far by the test-bed sshd."""
    try:
        return (SSH_DIR / "sshd.log").read_text().count("Accepted publickey for root")
    except FileNotFoundError:
        return 0


def tagged_xml(name: str, variant: str, tags: list[str]) -> str:
    """guest.py's domain XML plus the collection's tags in <metadata>."""
    root = ET.fromstring(guest_tool("xml", name, "--variant", variant))
    if tags:
        holder = ET.SubElement(root.find("metadata"), f"{{{TAGS_NS}}}tags")
        for tag in tags:
            ET.SubElement(holder, f"{{{TAGS_NS}}}tag").text = tag
    ET.register_namespace("virtops", TAGS_NS)
    ET.register_namespace("testbed", TESTBED_NS)
    return ET.tostring(root, encoding="unicode")


class Fleet:
    """Test guests with tags, named ``fl-<hex>-<n>``."""

    def __init__(self, tmp_path: Path) -> None:
        self.prefix = f"fl-{uuid.uuid4().hex[:6]}-"
        self.tmp_path = tmp_path
        self.count = 0

    def define(self, variant: str = "normal", tags: tuple[str, ...] = ()) -> str:
        self.count += 1
        name = f"{self.prefix}{self.count}"
        path = self.tmp_path / f"{name}.xml"
        path.write_text(tagged_xml(name, variant, list(tags)))
        virsh("define", str(path))
        return name

    def define_many(self, count: int, variant: str = "normal", tags: tuple[str, ...] = ()) -> list[str]:
        return [self.define(variant, tags) for _index in range(count)]

    def start(self, *names: str) -> None:
        """Start the guests together, then wait until each can hear the ACPI power button."""
        for name in names:
            virsh("start", name)
        for name in names:
            self.wait_ready(name)

    @staticmethod
    def wait_ready(name: str, count: int = 1) -> None:
        pattern = "acpid (started|disabled)"
        guest_tool("wait-log", name, pattern, "--regex", "--timeout", BOOT_TIMEOUT, "--count", str(count))

    def cleanup(self) -> None:
        guest_tool("cleanup", "--prefix", self.prefix, "--remove-logs")


# --------------------------------------------------------------------------- inventory
def inventory_file(tmp_path: Path, prefix: str, **options) -> Path:
    """An inventory configuration of the plugin, limited to the guests of PREFIX."""
    config = {"plugin": "virtops.libvirt.libvirt", "include_names": [f"{prefix}*"], **options}
    config.setdefault("uris", ["qemu:///system"])
    path = tmp_path / f"fleet-{uuid.uuid4().hex[:4]}.libvirt.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def ansible_inventory(inventory: Path, *args: str) -> dict:
    """`ansible-inventory -i INVENTORY ARGS` as JSON, with the values marked unsafe
    (``{"__ansible_unsafe": text}``, as the plugin marks hypervisor text) unwrapped."""
    cmd = ["ansible-inventory", "-i", str(inventory), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=ENV, check=False, cwd=ROOT)
    assert proc.returncode == 0, f"{' '.join(cmd)}: {proc.stdout}{proc.stderr}"
    return json.loads(proc.stdout, object_hook=lambda obj: obj["__ansible_unsafe"] if set(obj) == {"__ansible_unsafe"} else obj)


# --------------------------------------------------------------------------- playbooks
class PlaybookRun:
    """One `ansible-playbook virtops.libvirt.<playbook>` run, as documented in docs/fleet.md
    (``playbook`` may also be the path of a playbook of one's own that imports them)."""

    def __init__(
        self, playbook: str, inventory: Path | str | list[Path | str], limit: str | None = None, extra: dict | None = None, args: tuple[str, ...] = ()
    ) -> None:
        cmd = ["ansible-playbook", playbook if playbook.endswith(".yml") else f"virtops.libvirt.{playbook}"]
        for source in inventory if isinstance(inventory, list) else [inventory]:
            cmd += ["-i", str(source)]
        if limit:
            cmd += ["-l", limit]
        if extra:
            cmd += ["-e", json.dumps(extra)]
        cmd += args
        started = time.monotonic()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=ENV, check=False, cwd=ROOT)
        self.wall = time.monotonic() - started
        self.cmd = " ".join(cmd)
        self.rc = proc.returncode
        self.output = proc.stdout + proc.stderr

    @property
    def summary(self) -> list[str]:
        """The lines of the playbook's closing summary (its last debug message)."""
        found = re.findall(r'"msg": \[\n(.*?)\n\s*\]', self.output, re.S)
        assert found, f"no summary in the output of {self.cmd}:\n{self.output}"
        return [json.loads(line.strip().rstrip(",")) for line in found[-1].splitlines()]

    def line_of(self, host: str) -> str:
        lines = [line for line in self.summary if line.startswith(f"{host}: ")]
        assert len(lines) == 1, f"no summary line for {host}: {self.summary}"
        return lines[0]

    def assert_ok(self) -> PlaybookRun:
        assert self.rc == 0, f"{self.cmd} failed (rc {self.rc}):\n{self.output}"
        return self


# --------------------------------------------------------------------------- serial logs
class LogWatch:
    """Timestamps (time.monotonic) of the lines the guests write to their serial logs,
    polled every 20 ms in a thread, for checks of order and overlap."""

    def __init__(self, names: list[str]) -> None:
        self.names = names
        self.seen: dict[str, list[tuple[float, str]]] = {name: [] for name in names}
        self._offsets = {name: self._size(name) for name in names}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def _path(name: str) -> Path:
        return GUEST_DIR / "logs" / f"{name}.log"

    def _size(self, name: str) -> int:
        try:
            return self._path(name).stat().st_size
        except FileNotFoundError:
            return 0

    def _poll(self) -> None:
        now = time.monotonic()
        for name in self.names:
            try:
                with open(self._path(name), "rb") as log:
                    log.seek(self._offsets[name])
                    data = log.read()
            except FileNotFoundError:
                continue
            complete = data.rpartition(b"\n")[0]
            if complete:
                self._offsets[name] += len(complete) + 1
                self.seen[name] += [(now, line) for line in complete.decode(errors="replace").splitlines()]

    def _run(self) -> None:
        while not self._stop.is_set():
            self._poll()
            time.sleep(0.02)

    def __enter__(self) -> LogWatch:
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._stop.set()
        self._thread.join()
        self._poll()

    def times(self, name: str, text: str) -> list[float]:
        """When each line of NAME containing TEXT was seen, in order."""
        return [when for when, line in self.seen[name] if text in line]
