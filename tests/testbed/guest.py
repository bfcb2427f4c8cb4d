#!/usr/bin/env python
"""Define, start, watch and clean up the virtops test guests.

Stdlib only; talks to libvirt through ``virsh`` so any Python 3 works.
The guest images come from tests/testbed/build_guest.sh.

  guest.py xml NAME [--variant normal|stubborn|net] [--memory-mib 128] [--transient]
  guest.py define NAME [NAME...] [--variant V] [--memory-mib M]
  guest.py create NAME [--variant V] [--transient]   (define+start, or start transient)
      xml/define/create also take --shutdown-delay S (power button -> off after S s),
      --crash-after S (kernel panic S s after boot; libvirt: crashed (panicked))
      and --tb-cache-mib M (TCG translation cache of M MiB instead of QEMU's default,
      about 1 GiB of host memory per guest; ignored for VIRTOPS_DOMAIN_TYPE=kvm)
  guest.py cleanup [--prefix PREFIX] [--remove-logs]
  guest.py list
  guest.py wait-log NAME PATTERN [--timeout 30] [--count N] [--regex]
  guest.py log-path NAME

Global options (before the sub-command): --uri (default $LIBVIRT_DEFAULT_URI or
qemu:///system), --guest-dir (default $VIRTOPS_GUEST_DIR or /var/lib/virtops/guest).
Env VIRTOPS_DOMAIN_TYPE=kvm switches the domain type from 'qemu' (TCG).

Every domain made here carries <metadata><virtops:testbed .../></metadata>;
cleanup touches only domains that carry it.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import re
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape, quoteattr

NS = "https://virtops.dev/testbed"
DESCRIPTION = "virtops test guest"
VARIANTS = ("normal", "stubborn", "net")
DEFAULT_URI = os.environ.get("LIBVIRT_DEFAULT_URI") or "qemu:///system"
DEFAULT_GUEST_DIR = os.environ.get("VIRTOPS_GUEST_DIR") or "/var/lib/virtops/guest"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,62}$")
SECONDS_RE = re.compile(r"^[0-9]{1,6}(\.[0-9]{1,3})?$")
VIRSH_TIMEOUT = 120


class GuestError(Exception):
    pass


# --------------------------------------------------------------------------- virsh
def virsh(uri: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    cmd = ["virsh", "-q", "-c", uri, *args]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=VIRSH_TIMEOUT, check=False)
    except FileNotFoundError:
        raise GuestError("virsh not found; run tests/testbed/install_system.sh") from None
    except subprocess.TimeoutExpired:
        raise GuestError(f"'virsh {' '.join(args)}' timed out after {VIRSH_TIMEOUT} s") from None
    if check and proc.returncode != 0:
        msg = (proc.stderr or proc.stdout).strip().replace("\n", " ")
        raise GuestError(f"'virsh {' '.join(args)}' failed: {msg}")
    return proc


def domain_names(uri: str) -> list[str]:
    out = virsh(uri, "list", "--all", "--name").stdout
    return [n.strip() for n in out.splitlines() if n.strip()]


def domain_xml(uri: str, name: str, inactive: bool = False) -> ET.Element | None:
    """Live (or with inactive=True, the next-boot) XML of a domain; None if no such domain."""
    proc = virsh(uri, "dumpxml", *(["--inactive"] if inactive else []), name, check=False)
    if proc.returncode != 0:
        if "ailed to get domain" in proc.stderr or "not found" in proc.stderr:
            return None
        raise GuestError(f"'virsh dumpxml {name}' failed: {proc.stderr.strip()}")
    return ET.fromstring(proc.stdout)


def testbed_marker(dom: ET.Element) -> ET.Element | None:
    return dom.find(f"metadata/{{{NS}}}testbed")


def domain_state(uri: str, name: str) -> str:
    return virsh(uri, "domstate", name).stdout.strip()


def is_persistent(uri: str, name: str) -> bool:
    out = virsh(uri, "dominfo", name).stdout
    m = re.search(r"^Persistent:\s*(\S+)", out, re.M)
    return bool(m and m.group(1) == "yes")


# --------------------------------------------------------------------------- XML
def check_name(name: str) -> str:
    if not NAME_RE.match(name):
        raise GuestError(f"invalid guest name {name!r} (letters, digits, '_.+-'; max 63)")
    return name


def mac_for(name: str) -> str:
    """A stable MAC per name, so a re-define does not change it."""
    h = hashlib.sha256(name.encode()).digest()
    return f"52:54:00:{h[0]:02x}:{h[1]:02x}:{h[2]:02x}"


def log_path(guest_dir: str, name: str) -> str:
    return os.path.join(guest_dir, "logs", f"{name}.log")


def seconds(text: str) -> str:
    """argparse type: a non-negative number of seconds, normalised ("3.50" -> "3.5")."""
    if not SECONDS_RE.match(text):
        raise argparse.ArgumentTypeError(f"invalid number of seconds {text!r} (e.g. 3 or 0.5)")
    whole, _dot, frac = text.partition(".")
    frac = frac.rstrip("0")
    return f"{int(whole)}.{frac}" if frac else str(int(whole))


def guest_desc(variant: str, shutdown_delay: str = "0", crash_after: str | None = None, tb_cache_mib: int | None = None) -> str:
    extra = "" if shutdown_delay == "0" else f", shutdown delay {shutdown_delay} s"
    extra += "" if crash_after is None else f", crash after {crash_after} s"
    extra += "" if tb_cache_mib is None else f", TCG cache {tb_cache_mib} MiB"
    return f"variant {variant}{extra}"


def build_xml(
    name: str,
    variant: str,
    memory_mib: int,
    guest_dir: str,
    uuid: str | None = None,
    shutdown_delay: str = "0",
    crash_after: str | None = None,
    tb_cache_mib: int | None = None,
) -> str:
    """Domain XML. shutdown_delay/crash_after are strings as returned by seconds();
    crash_after=None means no crash (and no pvpanic device); tb_cache_mib=None
    leaves the TCG translation cache at QEMU's default size."""
    check_name(name)
    if variant not in VARIANTS:
        raise GuestError(f"unknown variant {variant!r}; choose one of {', '.join(VARIANTS)}")
    if memory_mib < 64:
        raise GuestError("--memory-mib must be at least 64")
    if tb_cache_mib is not None and tb_cache_mib < 1:
        raise GuestError("--tb-cache-mib must be at least 1")
    for opt, val in (("--shutdown-delay", shutdown_delay), ("--crash-after", crash_after)):
        if val is not None and (not SECONDS_RE.match(val) or seconds(val) != val):
            raise GuestError(f"{opt} {val!r} is not a normalised number of seconds")
    dom_type = os.environ.get("VIRTOPS_DOMAIN_TYPE", "qemu")
    if dom_type not in ("qemu", "kvm"):
        raise GuestError(f"VIRTOPS_DOMAIN_TYPE must be 'qemu' or 'kvm', not {dom_type!r}")
    kernel = os.path.join(guest_dir, "vmlinuz")
    initrd = os.path.join(guest_dir, f"initrd-{variant}.img")
    log = log_path(guest_dir, name)
    uuid_xml = f"\n  <uuid>{escape(uuid)}</uuid>" if uuid else ""
    iface = ""
    if variant == "net":
        iface = f"""
    <interface type='network'>
      <mac address='{mac_for(name)}'/>
      <source network='default'/>
      <model type='virtio'/>
    </interface>"""
    # The kernel command line carries the per-domain behaviour (read by the
    # guest's init and power-button handler); the marker records it for define.
    cmdline = f"console=ttyS0 quiet virtops.variant={variant}"
    marker_attrs = f"variant='{variant}'"
    if shutdown_delay != "0":
        cmdline += f" virtops.shutdown_delay={shutdown_delay}"
        marker_attrs += f" shutdown-delay='{shutdown_delay}'"
    on_crash = "destroy"
    panic = ""
    if crash_after is not None:
        # panic=0: the kernel must not reboot itself; the pvpanic device tells
        # QEMU, and on_crash=preserve keeps the domain in crashed (panicked).
        cmdline += f" virtops.crash_after={crash_after} panic=0"
        marker_attrs += f" crash-after='{crash_after}'"
        on_crash = "preserve"
        panic = """
    <panic model='isa'>
      <address type='isa' iobase='0x505'/>
    </panic>"""
    tcg = ""
    if tb_cache_mib is not None:
        marker_attrs += f" tb-cache-mib='{tb_cache_mib}'"
        if dom_type == "qemu":  # the translation cache is TCG's; KVM has none
            tcg = f"""
    <tcg>
      <tb-cache unit='MiB'>{tb_cache_mib}</tb-cache>
    </tcg>"""
    return f"""<domain type='{dom_type}'>
  <name>{escape(name)}</name>{uuid_xml}
  <description>{DESCRIPTION}</description>
  <metadata>
    <virtops:testbed xmlns:virtops='{NS}' {marker_attrs}/>
  </metadata>
  <memory unit='MiB'>{memory_mib}</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>{escape(kernel)}</kernel>
    <initrd>{escape(initrd)}</initrd>
    <cmdline>{cmdline}</cmdline>
  </os>
  <features>
    <acpi/>{tcg}
  </features>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>{on_crash}</on_crash>
  <devices>
    <serial type='file'>
      <source path={quoteattr(log)}/>
      <target port='0'/>
    </serial>
    <console type='file'>
      <source path={quoteattr(log)}/>
      <target type='serial' port='0'/>
    </console>{iface}
    <controller type='usb' model='none'/>
    <memballoon model='none'/>{panic}
  </devices>
</domain>
"""


def require_images(guest_dir: str, variant: str) -> None:
    for f in ("vmlinuz", f"initrd-{variant}.img"):
        p = os.path.join(guest_dir, f)
        if not os.path.isfile(p):
            raise GuestError(f"{p} is missing; run tests/testbed/build_guest.sh")


def with_xml_file(xml: str, fn):
    with tempfile.NamedTemporaryFile("w", prefix="virtops-guest-", suffix=".xml") as f:
        f.write(xml)
        f.flush()
        return fn(f.name)


# --------------------------------------------------------------------------- commands
def define_one(
    uri: str,
    name: str,
    variant: str,
    memory_mib: int,
    guest_dir: str,
    shutdown_delay: str = "0",
    crash_after: str | None = None,
    tb_cache_mib: int | None = None,
) -> str:
    check_name(name)
    require_images(guest_dir, variant)
    dom = domain_xml(uri, name, inactive=True)
    uuid = None
    if dom is not None:
        marker = testbed_marker(dom)
        if marker is None:
            raise GuestError(f"domain {name!r} exists and is not a testbed domain; not touching it")
        uuid = dom.findtext("uuid")
        mem = dom.find("memory")
        same_mem = mem is not None and int(mem.text or 0) == memory_mib * 1024 and mem.get("unit", "KiB") == "KiB"
        same_opts = (
            marker.get("shutdown-delay", "0") == shutdown_delay
            and marker.get("crash-after") == crash_after
            and marker.get("tb-cache-mib") == (None if tb_cache_mib is None else str(tb_cache_mib))
        )
        if marker.get("variant") == variant and same_mem and same_opts and is_persistent(uri, name):
            return "unchanged"
    xml = build_xml(name, variant, memory_mib, guest_dir, uuid=uuid, shutdown_delay=shutdown_delay, crash_after=crash_after, tb_cache_mib=tb_cache_mib)
    with_xml_file(xml, lambda path: virsh(uri, "define", path))
    return "redefined" if uuid else "defined"


def cmd_xml(a) -> int:
    sys.stdout.write(
        build_xml(a.name, a.variant, a.memory_mib, a.guest_dir, shutdown_delay=a.shutdown_delay, crash_after=a.crash_after, tb_cache_mib=a.tb_cache_mib)
    )
    return 0


def cmd_define(a) -> int:
    for name in a.names:
        what = define_one(a.uri, name, a.variant, a.memory_mib, a.guest_dir, a.shutdown_delay, a.crash_after, a.tb_cache_mib)
        print(f"{name}: {what} ({guest_desc(a.variant, a.shutdown_delay, a.crash_after, a.tb_cache_mib)})")
    return 0


def cmd_create(a) -> int:
    name = check_name(a.name)
    require_images(a.guest_dir, a.variant)
    dom = domain_xml(a.uri, name)
    if a.transient:
        if dom is not None:
            raise GuestError(f"domain {name!r} already exists; run 'guest.py cleanup' first")
        xml = build_xml(name, a.variant, a.memory_mib, a.guest_dir, shutdown_delay=a.shutdown_delay, crash_after=a.crash_after, tb_cache_mib=a.tb_cache_mib)
        with_xml_file(xml, lambda path: virsh(a.uri, "create", path))
        print(f"{name}: started transient ({guest_desc(a.variant, a.shutdown_delay, a.crash_after, a.tb_cache_mib)})")
        return 0
    what = define_one(a.uri, name, a.variant, a.memory_mib, a.guest_dir, a.shutdown_delay, a.crash_after, a.tb_cache_mib)
    if domain_state(a.uri, name) == "running":
        print(f"{name}: {what}, already running")
    else:
        virsh(a.uri, "start", name)
        print(f"{name}: {what}, started ({guest_desc(a.variant, a.shutdown_delay, a.crash_after, a.tb_cache_mib)})")
    return 0


def testbed_domains(uri: str, prefix: str = "") -> list[tuple[str, ET.Element]]:
    found = []
    for name in domain_names(uri):
        if prefix and not name.startswith(prefix):
            continue
        dom = domain_xml(uri, name)
        if dom is not None and testbed_marker(dom) is not None:
            found.append((name, dom))
    return found


def cmd_cleanup(a) -> int:
    removed = []
    for name, _dom in testbed_domains(a.uri, a.prefix):
        if domain_state(a.uri, name) not in ("shut off", "shutoff"):
            proc = virsh(a.uri, "destroy", name, check=False)
            if proc.returncode != 0 and "not running" not in proc.stderr and "ailed to get domain" not in proc.stderr:
                raise GuestError(f"'virsh destroy {name}' failed: {proc.stderr.strip()}")
        if domain_xml(a.uri, name) is not None and is_persistent(a.uri, name):
            virsh(a.uri, "undefine", name, "--managed-save", "--snapshots-metadata", "--nvram")
        if a.remove_logs:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(log_path(a.guest_dir, name))
        removed.append(name)
    scope = f" with prefix {a.prefix!r}" if a.prefix else ""
    print(f"cleanup: removed {len(removed)} testbed domain(s){scope}" + (f": {' '.join(removed)}" if removed else ""))
    return 0


def cmd_list(a) -> int:
    for name, dom in testbed_domains(a.uri, a.prefix):
        variant = testbed_marker(dom).get("variant", "?")
        print(f"{name}\t{variant}\t{domain_state(a.uri, name)}")
    return 0


def cmd_log_path(a) -> int:
    print(log_path(a.guest_dir, check_name(a.name)))
    return 0


def cmd_wait_log(a) -> int:
    path = log_path(a.guest_dir, check_name(a.name))
    rx = re.compile(a.pattern) if a.regex else None
    deadline = time.monotonic() + a.timeout
    text = ""
    while True:
        try:
            with open(path, errors="replace") as f:
                text = f.read()
        except FileNotFoundError:
            text = ""
        hits = len(rx.findall(text)) if rx else text.count(a.pattern)
        if hits >= a.count:
            return 0
        if time.monotonic() >= deadline:
            tail = "\n".join(text.splitlines()[-10:])
            raise GuestError(
                f"{a.pattern!r} seen {hits} of {a.count} time(s) in {path} after {a.timeout} s"
                + (f"; last lines:\n{tail}" if tail else " (log empty or missing)")
            )
        time.sleep(0.1)


# --------------------------------------------------------------------------- CLI
def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="guest.py", description="virtops test guests")
    p.add_argument("--uri", default=DEFAULT_URI, help="libvirt URI (default %(default)s)")
    p.add_argument("--guest-dir", default=DEFAULT_GUEST_DIR, help="built guest images (default %(default)s)")
    sub = p.add_subparsers(dest="cmd", required=True)

    def guest_opts(sp):
        sp.add_argument("--variant", choices=VARIANTS, default="normal")
        sp.add_argument("--memory-mib", type=int, default=128)
        sp.add_argument(
            "--shutdown-delay",
            type=seconds,
            default="0",
            metavar="SECONDS",
            help="power button: wait SECONDS, then power off; presses meanwhile are ignored (default 0)",
        )
        sp.add_argument(
            "--crash-after",
            type=seconds,
            default=None,
            metavar="SECONDS",
            help="kernel panic SECONDS after boot; libvirt reports crashed (panicked) (default: never)",
        )
        sp.add_argument(
            "--tb-cache-mib",
            type=int,
            default=None,
            metavar="MIB",
            help="TCG translation cache size; QEMU's default costs about 1 GiB of host memory per guest (default: QEMU's; ignored for kvm)",
        )

    def uri_opt(sp):  # also accept --uri after the sub-command
        sp.add_argument("--uri", default=argparse.SUPPRESS)

    sp = sub.add_parser("xml", help="print domain XML")
    sp.add_argument("name")
    guest_opts(sp)
    sp.add_argument("--transient", action="store_true", help="(same XML; accepted for symmetry)")
    sp.set_defaults(fn=cmd_xml)

    sp = sub.add_parser("define", help="define guests (idempotent)")
    sp.add_argument("names", nargs="+", metavar="NAME")
    guest_opts(sp)
    uri_opt(sp)
    sp.set_defaults(fn=cmd_define)

    sp = sub.add_parser("create", help="define and start, or start a transient guest")
    sp.add_argument("name")
    guest_opts(sp)
    sp.add_argument("--transient", action="store_true")
    uri_opt(sp)
    sp.set_defaults(fn=cmd_create)

    sp = sub.add_parser("cleanup", help="destroy and undefine testbed domains")
    sp.add_argument("--prefix", default="")
    sp.add_argument("--remove-logs", action="store_true")
    uri_opt(sp)
    sp.set_defaults(fn=cmd_cleanup)

    sp = sub.add_parser("list", help="list testbed domains: name, variant, state")
    sp.add_argument("--prefix", default="")
    uri_opt(sp)
    sp.set_defaults(fn=cmd_list)

    sp = sub.add_parser("wait-log", help="wait until the serial log contains PATTERN")
    sp.add_argument("name")
    sp.add_argument("pattern")
    sp.add_argument("--timeout", type=float, default=30.0)
    sp.add_argument("--count", type=int, default=1, help="wait for the N-th occurrence")
    sp.add_argument("--regex", action="store_true", help="PATTERN is a Python regex")
    sp.set_defaults(fn=cmd_wait_log)

    sp = sub.add_parser("log-path", help="print the serial log path of NAME")
    sp.add_argument("name")
    sp.set_defaults(fn=cmd_log_path)
    return p


def main(argv: list[str] | None = None) -> int:
    a = parser().parse_args(argv)
    try:
        return a.fn(a)
    except GuestError as e:
        print(f"guest.py: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
