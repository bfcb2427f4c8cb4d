"""Helpers for the inventory plugin's tests: fleets of domains for libvirt's test
driver (a <node> file the driver loads in-process), configuration files, names
and texts that hostile hypervisors show, the plugin driven as Ansible drives it,
and a count of what reaches libvirt. tests/integration/test_inventory_cli.py
uses them too, for the same fleets through `ansible-inventory` / `ansible-playbook`."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import NAMESPACE_URL, uuid5
from xml.sax.saxutils import escape

import libvirt
import yaml

VIRTOPS_NS = "https://virtops.dev/xmlns/libvirt/1"
# The test driver's own XML namespace, for a domain's initial state in a <node> file.
_RUNSTATE = {"running": 1, "paused": 3, "in_shutdown": 4, "shutoff": 5, "saved": 5, "crashed": 6, "pmsuspended": 7}
# Getters that libvirt-python answers from the object itself, without a call to the driver.
LOCAL_GETTERS = {"name", "UUIDString", "UUID", "ID", "connect"}


@dataclass(frozen=True)
class Domain:
    """One domain of a fleet file."""

    name: str
    state: str = "running"
    tags: tuple[str, ...] = ()
    vcpus: int = 1
    memory_mib: int = 256
    network: str | None = "default"  # the network of its one NIC, or None for no NIC
    transient: bool = False
    metadata: str | None = None  # raw XML for <metadata>, instead of the tags


def domain_xml(domain: Domain, index: int = 0, uuid: str | None = None) -> str:
    parts = [
        f"<name>{escape(domain.name)}</name>",
        *([f"<uuid>{uuid}</uuid>"] if uuid else []),
        f"<memory unit='MiB'>{domain.memory_mib}</memory>",
        f"<vcpu>{domain.vcpus}</vcpu>",
        "<os><type>hvm</type></os>",
    ]
    if domain.metadata is not None:
        parts.append(f"<metadata>{domain.metadata}</metadata>")
    elif domain.tags:
        tags = "".join(f"<virtops:tag>{escape(tag)}</virtops:tag>" for tag in domain.tags)
        parts.append(f"<metadata><virtops:tags xmlns:virtops='{VIRTOPS_NS}'>{tags}</virtops:tags></metadata>")
    if domain.network:
        mac = f"52:54:00:{index >> 16 & 255:02x}:{index >> 8 & 255:02x}:{index & 255:02x}"
        parts.append(f"<devices><interface type='network'><mac address='{mac}'/><source network='{escape(domain.network)}'/></interface></devices>")
    if domain.state != "running":
        parts.append(f"<test:runstate>{_RUNSTATE[domain.state]}</test:runstate>")
    if domain.state == "saved":
        parts.append("<test:hasmanagedsave>yes</test:hasmanagedsave>")
    if domain.transient:
        parts.append("<test:transient/>")
    return "<domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>" + "".join(parts) + "</domain>"


def write_fleet(path: Path, domains: list[Domain]) -> str:
    """Write a <node> file for the test driver (with an in-memory network
    'default' that the driver invents addresses on) and return its URI."""
    network = "<network><name>default</name><bridge name='virbr9'/><forward/><ip address='192.168.122.1' netmask='255.255.255.0'/></network>"
    # UUIDs fixed by file and name, so that reading a file twice gives the same domains
    body = "\n".join(domain_xml(domain, index, str(uuid5(NAMESPACE_URL, f"{path.resolve()}#{domain.name}"))) for index, domain in enumerate(domains))
    path.write_text(f"<node>\n{body}\n{network}\n</node>\n")
    return f"test://{path.resolve()}"


def fleet(count: int, prefix: str = "vm") -> list[Domain]:
    """A mixed fleet: 4 in 10 running, 1 paused, 3 shut off, 1 saved, 1 running
    transient; every third one tagged."""
    cycle = ("running", "running", "running", "running", "paused", "shutoff", "shutoff", "shutoff", "saved", "running")
    return [
        Domain(f"{prefix}{index:05d}", state=cycle[index % 10], tags=("web",) if index % 3 == 0 else (), transient=index % 10 == 9, vcpus=1 + index % 4)
        for index in range(count)
    ]


def write_config(directory: Path, stem: str = "test", **options: Any) -> Path:
    path = directory / f"{stem}.libvirt.yml"
    path.write_text(yaml.safe_dump({"plugin": "virtops.libvirt.libvirt", **options}, sort_keys=False))
    return path


# -- the plugin as Ansible runs it ---------------------------------------------------------
def load_inventory(*sources: Path, cache: bool = True):
    """An InventoryManager over the sources, as ansible-playbook builds it."""
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader

    return InventoryManager(loader=DataLoader(), sources=[str(source) for source in sources], cache=cache)


def parse_with_plugin(config: Path, cache: bool = True):
    """Parse one configuration file with the plugin itself (its errors are raised,
    not turned into warnings) and return (plugin, inventory data)."""
    from ansible.inventory.data import InventoryData
    from ansible.parsing.dataloader import DataLoader
    from ansible.plugins.loader import inventory_loader

    plugin = inventory_loader.get("virtops.libvirt.libvirt")
    assert plugin is not None, "Ansible's plugin loader cannot find virtops.libvirt.libvirt"
    inventory = InventoryData()
    plugin.parse(inventory, DataLoader(), str(config), cache=cache)
    return plugin, inventory


def host_vars(inventory, name: str) -> dict[str, Any]:
    return dict(inventory.get_host(name).get_vars())


def group_hosts(inventory, group: str) -> set[str]:
    return {host.name for host in inventory.groups[group].get_hosts()}


# -- names and texts from hostile hypervisors ------------------------------------------------
# A local URI that cannot be reached (no such socket): no daemon, no network.
UNREACHABLE = "qemu:///system?socket=/nonexistent/virtops-inventory-test.sock"
EVIL_NAME = "evil-{{ 7*7 }}"
EVIL_TAG = "{{ lookup('env','VIRTOPS_PROBE') }}"

# Reserved: group names of the configuration below, the sanitised name of a tag group
# ('we b' gives tag_we_b) or of a group key ('my-group'), and the controller's name.
RESERVED_HOSTILE = {
    "all",
    "ungrouped",
    "libvirt_running",
    "libvirt_shutoff",
    "libvirt_hypervisor_localhost",
    "tag_web",
    "tag_we_b",
    "big",
    "my_group",
    "role_db",
    "localhost",
}
# Names of every kind libvirt takes, the reserved ones among them.
HOSTILE_NAMES = [
    *sorted(RESERVED_HOSTILE),
    "a b",
    "x@y",
    "a:b",
    "[x]",
    "]",
    "-x",
    "*",
    "{{ lookup('pipe','id') }}",
    "é日本",
    "n" * 200,
    "plain",
]


def hostile_config(tmp_path, **options):
    domains = [Domain(name, tags=("web", "we b"), state="shutoff" if name == "all" else "running") for name in HOSTILE_NAMES]
    return write_config(
        tmp_path,
        uri=write_fleet(tmp_path / "fleet.xml", domains),
        read_tags=True,
        groups={"big": "libvirt_vcpus >= 1", "my-group": "true"},
        keyed_groups=[{"key": "libvirt_tags", "prefix": "role"}],
        **options,
    )


def expected_host(name: str) -> str:
    return f"{name}@localhost" if name in RESERVED_HOSTILE else name


# -- what messages may show ----------------------------------------------------------------------
SECRET_LINE = "SECRET-LINE-123"
WITH_PASSWORD = "qemu+tcp://user:pw@127.0.0.1:1/system"  # nothing listens on port 1: refused at once


def assert_discreet(*texts: str) -> None:
    for text in texts:
        assert SECRET_LINE not in text and "pw" not in text, text


def write_not_xml(directory: Path) -> str:
    """A test:/// URI naming a file that is not XML, whose first line is a secret."""
    path = directory / "notes.txt"
    path.write_text(f"{SECRET_LINE}\nmore\n")
    return f"test://{path}"


# -- counting what reaches libvirt ---------------------------------------------------------
class CallRecorder:
    """Wraps libvirt's openers so that every call on a connection, or on an object
    it returns, is counted by function name (local getters excluded)."""

    def __init__(self, stats_with_sizes: bool = False) -> None:
        self.calls: Counter[str] = Counter()
        self.opened: list[tuple[str, str]] = []
        self.stats_with_sizes = stats_with_sizes

    def install(self, monkeypatch) -> CallRecorder:
        for opener in ("open", "openReadOnly"):
            monkeypatch.setattr(libvirt, opener, self._opener(opener, getattr(libvirt, opener)))
        return self

    def _opener(self, name: str, real):
        def opener(uri):
            self.opened.append((name, uri))
            return _Recorded(real(uri), self)

        opener.__name__ = name
        return opener

    def per_domain(self) -> Counter[str]:
        return Counter({name: count for name, count in self.calls.items() if name not in ("getAllDomainStats", "listAllDomains", "close")})


class _Recorded:
    def __init__(self, target, recorder: CallRecorder) -> None:
        self._target = target
        self._recorder = recorder

    def __getattr__(self, name: str):
        attribute = getattr(self._target, name)
        if name in LOCAL_GETTERS or not callable(attribute):
            return attribute

        def call(*args):
            self._recorder.calls[name] += 1
            result = self._wrap(attribute(*args))
            if name == "getAllDomainStats" and self._recorder.stats_with_sizes:
                result = [(domain, {**values, **_sizes(domain)}) for domain, values in result]
            return result

        call.__name__ = name
        return call

    def _wrap(self, value):
        if isinstance(value, (libvirt.virDomain, libvirt.virNetwork)):
            return _Recorded(value, self._recorder)
        if isinstance(value, list):
            return [self._wrap(item) for item in value]
        if isinstance(value, tuple):
            return tuple(self._wrap(item) for item in value)
        return value


def _sizes(domain: _Recorded) -> dict[str, int]:
    """What QEMU's statistics hold and the test driver's lack (read without counting)."""
    info = domain._target.info()
    return {"vcpu.current": info[3], "vcpu.maximum": info[3], "balloon.maximum": info[1]}
