"""The integration harness: run virt_power the way users do (ad-hoc commands and
playbooks) against real QEMU guests on the local libvirtd (qemu:///system), and
read the guests' state back with virsh.

`make setup` (part of `make test`) starts the daemons and builds the guests.
Every guest made here is named ``it-...`` and removed afterwards.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import libvirt
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.append(str(ROOT / "tests" / "corpus"))  # the corpus's own helpers (mutations.py)
URI = "qemu:///system"
GUEST_TOOL = [sys.executable, str(ROOT / "tests" / "testbed" / "guest.py"), "--uri", URI]
ENV = {
    **os.environ,
    "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
    "ANSIBLE_COLLECTIONS_PATH": str(ROOT / "build" / "collections"),
    "ANSIBLE_NOCOLOR": "1",
    "ANSIBLE_HOST_KEY_CHECKING": "0",
    "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
}
ENV.pop("LIBVIRT_DEFAULT_URI", None)
libvirt.registerErrorHandler(lambda _ctx, _err: None, None)


def guest_tool(*args: str) -> str:
    proc = subprocess.run([*GUEST_TOOL, *args], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, f"guest.py {' '.join(args)}: {proc.stderr}"
    return proc.stdout


def virsh(*args: str, check: bool = True) -> str:
    proc = subprocess.run(["virsh", "-q", "-c", URI, *args], capture_output=True, text=True, check=False)
    if check:
        assert proc.returncode == 0, f"virsh {' '.join(args)}: {proc.stderr}"
    return proc.stdout.strip()


def domstate(name: str) -> str:
    """virsh's own view, e.g. 'running', 'shut off', 'paused'."""
    return virsh("domstate", name)


class Adhoc:
    """One `ansible localhost -m virtops.libvirt.virt_power` run."""

    def __init__(self, args: dict, check: bool = False, env: dict | None = None) -> None:
        arg_string = " ".join(f"{key}={','.join(value) if isinstance(value, list) else value}" for key, value in args.items())
        cmd = ["ansible", "localhost", "-m", "virtops.libvirt.virt_power", "-a", arg_string, "-e", f"ansible_python_interpreter={sys.executable}"]
        if check:
            cmd.append("--check")
        started = time.monotonic()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env or ENV, check=False, cwd=ROOT)
        self.wall = time.monotonic() - started
        self.rc = proc.returncode
        self.output = proc.stdout + proc.stderr
        status, _sep, body = proc.stdout.partition(" => ")
        self.status = status.rpartition("| ")[2]  # SUCCESS, CHANGED or FAILED!
        assert body, f"no module result in: {self.output}"
        self.result = json.loads(body)

    def __getitem__(self, key):
        return self.result[key]

    @property
    def failed(self) -> bool:
        return self.rc != 0 and self.status == "FAILED!"


def playbook(tasks: list[dict], tmp_path: Path, diff: bool = False) -> list[dict]:
    """Run tasks in one play on localhost; return each task's registered result.

    A task holding ``expect_failure: true`` runs in a block whose rescue lets the
    play go on; its result is the failure (``failed``, ``msg``, ...).
    """
    registered = []
    for index, task in enumerate(tasks):
        task = {**task, "register": f"result_{index}"}
        if task.pop("expect_failure", False):
            task = {
                "name": f"Expected to fail: {task['name']}",
                "block": [task],
                "rescue": [{"name": "Failed as expected", "ansible.builtin.debug": {"msg": "failed"}}],
            }
        registered.append(task)
    out = tmp_path / "results.json"
    collect = "[" + ", ".join(f"result_{i}" for i in range(len(tasks))) + "]"
    play = [
        {
            "name": "Integration test play",
            "hosts": "localhost",
            "gather_facts": False,
            "vars": {"ansible_python_interpreter": sys.executable},
            "tasks": [
                *registered,
                {
                    "name": "Save the results",
                    "ansible.builtin.copy": {"content": "{{ " + collect + " | to_json }}", "dest": str(out), "mode": "0644"},
                },
            ],
        }
    ]
    path = tmp_path / "play.yml"
    path.write_text(yaml.safe_dump(play, sort_keys=False))
    cmd = ["ansible-playbook", str(path), *(["--diff"] if diff else [])]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=ENV, check=False, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(out.read_text())


class Guests:
    """Makes test guests and puts them into a starting state with virsh."""

    def __init__(self) -> None:
        self.prefix = f"it-{uuid.uuid4().hex[:6]}-"
        self.count = 0

    def define(self, variant: str = "normal", *options: str) -> str:
        self.count += 1
        name = f"{self.prefix}{self.count}"
        guest_tool("define", name, "--variant", variant, *options)
        return name

    def booted(self, variant: str = "normal") -> str:
        """A running guest that is ready to hear the ACPI power button."""
        name = self.define(variant)
        virsh("start", name)
        self.wait_ready(name)
        return name

    def wait_ready(self, name: str, count: int = 1) -> None:
        pattern = "acpid started" if self.variant(name) == "normal" else "booted"
        guest_tool("wait-log", name, pattern, "--timeout", "60", "--count", str(count))

    def variant(self, name: str) -> str:
        return "stubborn" if "stubborn" in virsh("dumpxml", name) else "normal"

    def in_state(self, state: str) -> str:
        """A guest in one of the starting states a QEMU guest can be put in on demand."""
        return self.in_states([state])[state]

    def in_states(self, states: list[str]) -> dict[str, str]:
        """A guest in each of the starting states (as in_state makes it): {state: name}.
        The guests that have to run boot side by side, not one after the other."""
        names = {state: self.define("normal", *(["--crash-after", "0.5"] if state == "crashed" else [])) for state in states}
        booted = [names[state] for state in states if state != "shutoff"]
        for name in booted:
            virsh("start", name)
        for state in states:
            if state == "crashed":
                self.await_crash(names[state])
            elif state != "shutoff":
                self.wait_ready(names[state])
        if "paused" in names:
            virsh("suspend", names["paused"])
        if "saved" in names:
            # Seen once under load: a guest saved within milliseconds of "acpid
            # started" ignored every ACPI request after its restore. Let it settle.
            time.sleep(1)
            virsh("managedsave", names["saved"])
        return names

    def await_crash(self, name: str) -> None:
        """Wait until NAME (defined with --crash-after, started) has crashed (libvirt: crashed,
        panicked); then define it again as a normal guest, so that it boots normally next time."""
        deadline = time.monotonic() + 60
        while domstate(name) != "crashed":
            assert time.monotonic() < deadline, f"{name} did not crash: {domstate(name)}"
            time.sleep(0.1)
        guest_tool("define", name, "--variant", "normal")

    def cleanup(self) -> None:
        guest_tool("cleanup", "--prefix", self.prefix)


class BackgroundAdhoc:
    """An Adhoc run in a thread, with its own remote_tmp, so that the test can tell
    when this run's module process (and no other test's) is running."""

    def __init__(self, args: dict, tmp_path: Path) -> None:
        self.tmp = tmp_path / f"ansible-tmp-{uuid.uuid4().hex[:8]}"
        self.tmp.mkdir()
        env = {**ENV, "ANSIBLE_REMOTE_TMP": str(self.tmp)}
        self.run: Adhoc | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(args, env))
        self.thread.start()

    def _run(self, args: dict, env: dict) -> None:
        try:
            self.run = Adhoc(args, env=env)
        except BaseException as err:  # noqa: BLE001 - re-raised in result()
            self.error = err

    def module_started(self, timeout: float = 60) -> float:
        """Wait until the module runs on the controller; the time.monotonic() it was seen."""
        deadline = time.monotonic() + timeout
        while subprocess.run(["pgrep", "-f", f"{self.tmp}/.*AnsiballZ_virt_power"], capture_output=True, check=False).returncode:
            assert self.thread.is_alive(), "ansible ended before its module was seen"
            assert time.monotonic() < deadline, "the module did not start"
            time.sleep(0.01)
        return time.monotonic()

    def result(self, timeout: float = 300) -> Adhoc:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "ansible did not finish"
        if self.error is not None:
            raise self.error
        return self.run


def redefine(name: str, edit) -> None:
    """Define the domain again with its inactive XML passed through ``edit`` (str -> str)."""
    xml = virsh("dumpxml", "--inactive", name)
    with tempfile.NamedTemporaryFile("w", suffix=".xml") as handle:
        handle.write(edit(xml))
        handle.flush()
        virsh("define", handle.name)


# -- the daemon ---------------------------------------------------------------------------
LIBVIRTD_PID_FILE = Path("/run/libvirtd.pid")
START_DAEMONS = ROOT / "tests" / "testbed" / "start_daemons.sh"


def daemon_answers() -> bool:
    return subprocess.run(["virsh", "-c", URI, "version"], capture_output=True, check=False, timeout=60).returncode == 0


def stop_libvirtd(timeout: float = 15) -> None:
    """Stop libvirtd as a service manager would (SIGTERM); QEMU guests keep running."""
    pid = int(LIBVIRTD_PID_FILE.read_text().strip())
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while Path(f"/proc/{pid}").exists() and "(libvirtd) Z" not in _stat(pid):
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            deadline += timeout
        time.sleep(0.05)


def _stat(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""


def start_libvirtd() -> None:
    """Start libvirtd exactly as `make setup` does (start_daemons.sh: in the netns,
    under tini, with its pid file) and wait until it answers."""
    proc = subprocess.run([str(START_DAEMONS)], capture_output=True, text=True, check=False, timeout=120)
    assert proc.returncode == 0, f"start_daemons.sh: {proc.stdout}{proc.stderr}"
    deadline = time.monotonic() + 60
    while not daemon_answers():
        assert time.monotonic() < deadline, "libvirtd does not answer after start_daemons.sh"
        time.sleep(0.2)
