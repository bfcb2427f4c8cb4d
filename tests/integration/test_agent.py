"""The QEMU guest agent, for real: one Debian 12 guest (the image of
tests/testbed/build_image.sh, booted as tests/testbed/boot_image.py boots it: a qcow2
overlay, a NoCloud seed, a NIC on network `default`, the agent's channel) serves
the whole file:

- virt_power wait_for=agent starts it and waits until the agent answers;
  wait_for=ip with ip_sources=[agent] returns the addresses the agent reports;
- the inventory with ip_sources=[agent] sets ansible_host to that address, and
  ansible_host_networks chooses it by network `default`, not by a CIDR it is not in;
- virt_power state=shutdown shutdown_mode=[agent] shuts it down through the agent.

A missing image fails the tests, naming it (`make setup` builds it). The domain,
the overlay and the seed are removed at the end, also on failure.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from xml.sax.saxutils import escape

import libvirt
import pytest
from fleet_harness import ansible_inventory, ensure_network, inventory_file
from virt_harness import ROOT, URI, Adhoc, domstate

IMAGE_DIR = Path(os.environ.get("VIRTOPS_IMAGE_DIR") or "/var/lib/virtops/image")
IMAGE = IMAGE_DIR / "debian-12.qcow2"
DOMAIN_TYPE = os.environ.get("VIRTOPS_DOMAIN_TYPE") or "qemu"
DEFAULT_NETWORK = ipaddress.ip_network("192.168.122.0/24")
BOOT_TIMEOUT = 150  # the agent answers ~45 s after a first start under TCG; more on a busy machine


sys.path.append(str(ROOT / "tests" / "testbed"))


@pytest.fixture(scope="module")
def debian():
    """The name of a defined, shut-off Debian guest with a guest agent (removed afterwards)."""
    missing = [str(path) for path in (IMAGE, IMAGE_DIR / "vmlinuz", IMAGE_DIR / "initrd.img") if not path.exists()]
    assert not missing, f"the Debian test image is incomplete, {', '.join(missing)} missing: run `make setup` (tests/testbed/build_image.sh)"
    from boot_image import DOMAIN_XML, META_DATA, TCG_FEATURE, make_seed  # the XML and seed the image is measured with

    ensure_network()
    name = f"it-agent-{uuid.uuid4().hex[:6]}"
    work = Path(tempfile.mkdtemp(prefix="it-agent.", dir="/var/lib/virtops"))
    work.chmod(0o755)
    conn = libvirt.open(URI)
    try:
        overlay, seed = work / "disk.qcow2", work / "seed.iso"
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", str(IMAGE), "-F", "qcow2", str(overlay)], check=True)
        make_seed(str(seed), {"user-data": "#cloud-config\n", "meta-data": META_DATA.format(instance_id=f"{name}-{uuid.uuid4()}", hostname=name)})
        seed.chmod(0o644)
        cmdline = (IMAGE_DIR / "cmdline").read_text().strip()
        xml = DOMAIN_XML.format(
            domain_type=DOMAIN_TYPE,
            name=name,
            memory_mib=512,
            vcpus=1,
            image_dir=escape(str(IMAGE_DIR)),
            cmdline=escape(cmdline),
            tcg=TCG_FEATURE.format(mib=64) if DOMAIN_TYPE == "qemu" else "",
            overlay=escape(str(overlay)),
            seed=escape(str(seed)),
            serial_log=escape(str(work / "serial.log")),
        )
        conn.defineXML(xml)
        yield name
    finally:
        try:
            domain = conn.lookupByName(name)
            if domain.isActive():
                domain.destroy()
            domain.undefine()
        except libvirt.libvirtError:
            pass
        conn.close()
        shutil.rmtree(work, ignore_errors=True)


@pytest.fixture(scope="module")
def reached(debian):
    """The runs that start the guest and wait for its agent, then for the address it reports."""
    started = time.monotonic()
    agent = Adhoc({"name": debian, "state": "running", "wait_for": "agent", "ip_sources": "agent", "wait_for_timeout": BOOT_TIMEOUT})
    ip = Adhoc({"name": debian, "state": "running", "wait_for": "ip", "ip_sources": "agent", "wait_for_timeout": 60})
    print(
        f"\n{debian}: agent answered {agent['wait_for_seconds']:.1f} s after the start ({agent['elapsed']:.1f} s in the module, "
        f"{len(agent['addresses'])} address(es) then), an agent address {time.monotonic() - started:.1f} s after the first run began"
    )
    return agent, ip


def test_wait_for_agent_starts_the_guest_and_waits_until_its_agent_answers(reached):
    agent, ip = reached
    assert agent.status == "CHANGED", agent.output
    assert (agent["actions"], agent["state"], agent["waited"]) == (["start"], "running", True)
    assert 5 < agent["wait_for_seconds"] < BOOT_TIMEOUT
    assert all(address["source"] == "agent" for address in agent["addresses"])

    assert ip.status == "SUCCESS" and ip["changed"] is False, ip.output
    assert ipaddress.ip_address(ip["ip"]) in DEFAULT_NETWORK
    first = ip["addresses"][0]
    assert (first["source"], first["interface"], first["network"], first["bridge"], first["address"]) == ("agent", "eth0", "default", "virbr0", ip["ip"])


def test_the_inventory_reads_the_agent_and_chooses_by_network(reached, debian, tmp_path):
    address = reached[1]["ip"]

    def host(**options):
        return ansible_inventory(inventory_file(tmp_path, debian, uris=[URI], ip_sources=["agent"], **options), "--host", debian)

    plain = host()
    assert plain["ansible_host"] == address and plain["libvirt_addresses"][0]["source"] == "agent"
    by_network = host(ansible_host_networks=["default"])
    assert by_network["ansible_host"] == address and by_network["libvirt_addresses"][0]["network"] == "default"
    elsewhere = host(ansible_host_networks=["10.255.0.0/16"])
    assert "ansible_host" not in elsewhere and elsewhere["libvirt_ips"] == plain["libvirt_ips"]


def test_shutdown_through_the_agent(reached, debian):
    assert domstate(debian) == "running"
    run = Adhoc({"name": debian, "state": "shutdown", "shutdown_mode": "agent", "timeout": 90})
    assert run.status == "CHANGED", run.output
    assert (run["previous_state"], run["state"], run["actions"], run["forced"]) == ("running", "shutoff", ["shutdown:agent"], False)
    assert domstate(debian) == "shut off"
    print(f"\n{debian}: shut down through the agent in {run['elapsed']:.1f} s")
