#!/usr/bin/env python
"""Boot the Debian 12 test image (build_image.sh) once and measure it.

  /work/main/.venv/bin/python tests/testbed/boot_image.py [--tb-cache-mib 64]
      [--memory-mib 512] [--cmdline-extra 'mitigations=off'] [--disk-gib 4]
      [--diagnose] [--print-xml] [--keep-on-failure]

Makes a qcow2 overlay of debian-12.qcow2, a NoCloud seed ISO (label cidata)
with a throwaway ssh key for root, defines and starts a domain on libvirt's
network ``default`` (qemu:///system, inside netns virtops; run
start_daemons.sh and start_network.sh first), then measures

  first boot:  start -> agent answers guest-ping, -> DHCP lease, -> ssh root@IP works
  ACPI power button -> shut off
  second boot: start -> agent, -> lease, -> ssh
  guest agent shutdown -> shut off

and removes everything it made (domain, overlay, seed, key, log) even on
failure. Needs libvirt-python and pycdlib (the project's .venv has both).
--diagnose also prints, over ssh, systemd-analyze, the critical chain to the
agent, the slowest units and cloud-init's status.
"""

from __future__ import annotations

import argparse
import io
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
import libvirt_qemu
import pycdlib

URI = os.environ.get("LIBVIRT_DEFAULT_URI") or "qemu:///system"
IMAGE_DIR = os.environ.get("VIRTOPS_IMAGE_DIR") or "/var/lib/virtops/image"
NETNS = os.environ.get("VIRTOPS_NETNS") or "virtops"
DOMAIN_TYPE = os.environ.get("VIRTOPS_DOMAIN_TYPE") or "qemu"
WORK_PARENT = "/var/lib/virtops"

# The domain XML a guest of this image needs (format with str.format).
DOMAIN_XML = """\
<domain type='{domain_type}'>
  <name>{name}</name>
  <memory unit='MiB'>{memory_mib}</memory>
  <vcpu>{vcpus}</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>{image_dir}/vmlinuz</kernel>
    <initrd>{image_dir}/initrd.img</initrd>
    <cmdline>{cmdline}</cmdline>
  </os>
  <features>
    <acpi/>{tcg}
  </features>
  <clock offset='utc'/>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2' discard='unmap'/>
      <source file='{overlay}'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <controller type='scsi' index='0' model='virtio-scsi'/>
    <disk type='file' device='cdrom'>
      <driver name='qemu' type='raw'/>
      <source file='{seed}'/>
      <target dev='sda' bus='scsi'/>
      <readonly/>
    </disk>
    <interface type='network'>
      <source network='default'/>
      <model type='virtio'/>
    </interface>
    <channel type='unix'>
      <target type='virtio' name='org.qemu.guest_agent.0'/>
    </channel>
    <serial type='file'>
      <source path='{serial_log}'/>
      <target port='0'/>
    </serial>
    <rng model='virtio'>
      <backend model='random'>/dev/urandom</backend>
    </rng>
  </devices>
</domain>
"""

TCG_FEATURE = "\n    <tcg>\n      <tb-cache unit='MiB'>{mib}</tb-cache>\n    </tcg>"

USER_DATA = """\
#cloud-config
ssh_authorized_keys:
  - {pubkey}
"""

META_DATA = """\
instance-id: {instance_id}
local-hostname: {hostname}
"""

SSH_OPTS = ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "BatchMode=yes", "-o", "ConnectTimeout=3"]


class Failure(Exception):
    pass


def make_seed(path: str, files: dict[str, str]) -> None:
    """A NoCloud seed: ISO 9660 volume 'cidata' with Joliet and Rock Ridge names."""
    iso = pycdlib.PyCdlib()
    iso.new(interchange_level=3, joliet=3, rock_ridge="1.09", vol_ident="cidata")
    for i, (name, text) in enumerate(files.items()):
        data = text.encode()
        iso.add_fp(io.BytesIO(data), len(data), f"/FILE{i};1", rr_name=name, joliet_path=f"/{name}")
    iso.write(path)
    iso.close()


def now() -> float:
    return time.monotonic()


def agent_ping(dom: libvirt.virDomain) -> bool:
    try:
        libvirt_qemu.qemuAgentCommand(dom, '{"execute":"guest-ping"}', 5, 0)
        return True
    except libvirt.libvirtError:
        return False


def lease_ip(dom: libvirt.virDomain) -> str | None:
    try:
        ifaces = dom.interfaceAddresses(libvirt.VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_LEASE)
    except libvirt.libvirtError:
        return None
    for iface in ifaces.values():
        for addr in iface.get("addrs") or []:
            if addr.get("type") == libvirt.VIR_IP_ADDR_TYPE_IPV4:
                return addr["addr"]
    return None


def ssh_cmd(key: str, ip: str, *remote: str) -> list[str]:
    return ["ip", "netns", "exec", NETNS, "ssh", "-i", key, *SSH_OPTS, f"root@{ip}", *remote]


def ssh_ok(key: str, ip: str) -> bool:
    try:
        return subprocess.run(ssh_cmd(key, ip, "true"), capture_output=True, timeout=15, check=False).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def qemu_cpu_seconds(name: str) -> float:
    """CPU time (user + system, all threads) the domain's QEMU process has used:
    unlike wall-clock figures, barely changed by other load on the host."""
    try:
        with open(f"/run/libvirt/qemu/{name}.pid", encoding="ascii") as f:
            pid = f.read().strip()
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def watch_boot(dom: libvirt.virDomain, key: str, t0: float, timeout: float) -> dict[str, float | str]:
    """Seconds from t0 until the agent answers, a lease shows, ssh works."""
    got: dict[str, float | str] = {}
    while len(got) < 5:
        if now() - t0 > timeout:
            raise Failure(f"boot not complete after {timeout:.0f} s (have {sorted(got)})")
        state = dom.state()[0]
        if state != libvirt.VIR_DOMAIN_RUNNING:
            raise Failure(f"domain left the running state (state {state}) during boot")
        if "agent" not in got and agent_ping(dom):
            got["agent"] = now() - t0
            got["agent_cpu"] = qemu_cpu_seconds(dom.name())
        if "lease" not in got:
            ip = lease_ip(dom)
            if ip:
                got["lease"] = now() - t0
                got["ip"] = ip
        if "ip" in got and "ssh" not in got and ssh_ok(key, str(got["ip"])):
            got["ssh"] = now() - t0
        time.sleep(0.2)
    return got


def wait_shutoff(dom: libvirt.virDomain, t0: float, timeout: float) -> float:
    while dom.state()[0] != libvirt.VIR_DOMAIN_SHUTOFF:
        if now() - t0 > timeout:
            raise Failure(f"not shut off {timeout:.0f} s after the shutdown request")
        time.sleep(0.05)
    return now() - t0


def diagnose(key: str, ip: str) -> None:
    script = (
        "timeout 120 systemctl is-system-running --wait; systemd-analyze; echo; systemd-analyze critical-chain qemu-guest-agent.service; echo;"
        " systemd-analyze blame | head -n 25; echo; cloud-init status --long;"
        " systemctl --failed --no-legend; python3 --version; id; hostname; df -h /;"
        " grep -i -E 'warn|error' /var/log/cloud-init.log | tail -n 20;"
        " cloud-init analyze blame | head -n 30;"
        " journalctl -b -o short-monotonic --no-pager | grep -v ' kernel: ' | head -n 300"
    )
    out = subprocess.run(ssh_cmd(key, ip, script), capture_output=True, text=True, timeout=120, check=False)
    print("---- diagnose ----")
    print(out.stdout + out.stderr)
    print("------------------")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--image-dir", default=IMAGE_DIR)
    ap.add_argument("--memory-mib", type=int, default=512)
    ap.add_argument("--vcpus", type=int, default=1)
    ap.add_argument("--tb-cache-mib", type=int, default=64, help="0: QEMU's default (1 GiB)")
    ap.add_argument("--cmdline", help="kernel command line (default: IMAGE_DIR/cmdline)")
    ap.add_argument("--cmdline-extra", default="", help="appended to the command line")
    ap.add_argument("--disk-gib", type=int, default=0, help="overlay virtual size (default: the image's)")
    ap.add_argument("--timeout", type=float, default=240)
    ap.add_argument("--diagnose", action="store_true")
    ap.add_argument("--print-xml", action="store_true")
    ap.add_argument("--hold", type=float, default=0, help="after the first boot, wait this long (to log in)")
    ap.add_argument("--keep-on-failure", action="store_true")
    args = ap.parse_args()

    libvirt.registerErrorHandler(lambda *_: None, None)
    image_dir = os.path.abspath(args.image_dir)
    base = os.path.join(image_dir, "debian-12.qcow2")
    if not os.path.exists(base):
        print(f"boot_image.py: no {base}; run tests/testbed/build_image.sh", file=sys.stderr)
        return 2
    cmdline = args.cmdline
    if cmdline is None:
        with open(os.path.join(image_dir, "cmdline"), encoding="utf-8") as f:
            cmdline = f.read().strip()
    cmdline = f"{cmdline} {args.cmdline_extra}".strip()

    name = f"virtops-img-{uuid.uuid4().hex[:8]}"
    work = tempfile.mkdtemp(prefix="image-selftest.", dir=WORK_PARENT)
    os.chmod(work, 0o755)
    conn = None
    dom = None
    failed = True
    results: list[tuple[str, float]] = []
    try:
        overlay = os.path.join(work, "disk.qcow2")
        cmd = ["qemu-img", "create", "-q", "-f", "qcow2", "-b", base, "-F", "qcow2", overlay]
        if args.disk_gib:
            cmd.append(f"{args.disk_gib}G")
        subprocess.run(cmd, check=True)
        key = os.path.join(work, "id_ed25519")
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", key], check=True)
        with open(key + ".pub", encoding="utf-8") as f:
            pubkey = f.read().strip()
        seed = os.path.join(work, "seed.iso")
        make_seed(
            seed,
            {
                "user-data": USER_DATA.format(pubkey=pubkey),
                "meta-data": META_DATA.format(instance_id=f"{name}-{uuid.uuid4()}", hostname=name),
            },
        )
        os.chmod(seed, 0o644)
        serial_log = os.path.join(work, "serial.log")
        tcg = TCG_FEATURE.format(mib=args.tb_cache_mib) if args.tb_cache_mib and DOMAIN_TYPE == "qemu" else ""
        xml = DOMAIN_XML.format(
            domain_type=DOMAIN_TYPE,
            name=name,
            memory_mib=args.memory_mib,
            vcpus=args.vcpus,
            image_dir=escape(image_dir),
            cmdline=escape(cmdline),
            tcg=tcg,
            overlay=escape(overlay),
            seed=escape(seed),
            serial_log=escape(serial_log),
        )
        if args.print_xml:
            print(xml)

        conn = libvirt.open(URI)
        dom = conn.defineXML(xml)
        print(f"boot_image.py: {name}, {args.memory_mib} MiB, {args.vcpus} vCPU, tb-cache {args.tb_cache_mib or 'default'} MiB, cmdline: {cmdline}", flush=True)

        t0 = now()
        dom.create()
        first = watch_boot(dom, key, t0, args.timeout)
        ip = str(first["ip"])
        results += [
            ("first boot: start -> agent", first["agent"]),
            ("first boot: QEMU CPU s to agent", first["agent_cpu"]),
            ("first boot: start -> lease", first["lease"]),
            ("first boot: start -> ssh", first["ssh"]),
        ]
        print(
            f"  first boot: agent {first['agent']:.1f} s (QEMU CPU {first['agent_cpu']:.1f} s), lease {first['lease']:.1f} s ({ip}), ssh {first['ssh']:.1f} s",
            flush=True,
        )
        try:
            pid = Path(f"/run/libvirt/qemu/{name}.pid").read_text().strip()
            rss = int(Path(f"/proc/{pid}/status").read_text().split("VmRSS:")[1].split()[0]) // 1024
            print(f"  QEMU RSS after first boot: {rss} MiB")
        except (OSError, IndexError, ValueError):
            pass
        if args.diagnose:
            diagnose(key, ip)
        if args.hold:
            print(f"  holding {args.hold:.0f} s: {' '.join(ssh_cmd(key, ip))}", flush=True)
            time.sleep(args.hold)

        t = now()
        dom.shutdownFlags(libvirt.VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN)
        acpi = wait_shutoff(dom, t, 90)
        results.append(("ACPI power button -> shut off", acpi))
        print(f"  ACPI shutdown: {acpi:.1f} s", flush=True)

        t0 = now()
        dom.create()
        second = watch_boot(dom, key, t0, args.timeout)
        results += [
            ("second boot: start -> agent", second["agent"]),
            ("second boot: QEMU CPU s to agent", second["agent_cpu"]),
            ("second boot: start -> lease", second["lease"]),
            ("second boot: start -> ssh", second["ssh"]),
        ]
        print(
            f"  second boot: agent {second['agent']:.1f} s (QEMU CPU {second['agent_cpu']:.1f} s), lease {second['lease']:.1f} s "
            f"({second['ip']}), ssh {second['ssh']:.1f} s",
            flush=True,
        )

        t = now()
        dom.shutdownFlags(libvirt.VIR_DOMAIN_SHUTDOWN_GUEST_AGENT)
        agent = wait_shutoff(dom, t, 90)
        results.append(("agent shutdown -> shut off", agent))
        print(f"  agent shutdown: {agent:.1f} s", flush=True)
        failed = False
    except (Failure, libvirt.libvirtError, subprocess.CalledProcessError) as e:
        print(f"boot_image.py: FAILED: {e}", file=sys.stderr)
        log = os.path.join(work, "serial.log")
        if os.path.exists(log):
            with open(log, errors="replace") as f:
                tail = f.read()[-3000:]
            print(f"---- serial log (tail) ----\n{tail}", file=sys.stderr)
    finally:
        if failed and args.keep_on_failure:
            print(f"boot_image.py: kept {name} and {work}", file=sys.stderr)
        else:
            if dom is not None:
                try:
                    if dom.isActive():
                        dom.destroy()
                except libvirt.libvirtError:
                    pass
                try:
                    dom.undefine()
                except libvirt.libvirtError as e:
                    print(f"boot_image.py: undefine {name}: {e}", file=sys.stderr)
            shutil.rmtree(work, ignore_errors=True)
        if conn is not None:
            conn.close()
    if not failed:
        print(f"boot_image.py: figures (host load average now: {os.getloadavg()[0]:.2f})")
        for label, secs in results:
            print(f"  {label:32s} {secs:6.1f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
