"""Generate the libvirt domain XML corpus in tests/corpus/domains/.

Deterministic: the same script always writes the same files (one seeded
random.Random per domain).  Run it from anywhere:

    .venv/bin/python tests/corpus/generate.py

It rewrites the generated ``domains/001-*.xml`` .. ``122-*.xml`` files and
``images.txt`` (the disk images the corpus references; ``make_images.sh`` creates
them).  Files numbered from 123 (``HANDWRITTEN_FIRST``) are written by hand: it
neither deletes nor overwrites them, and keeps the hand-written tail of
``images.txt`` (from the ``HANDWRITTEN_IMAGES_MARKER`` line on) as it is.  Twelve profiles imitate
where real domain XML comes from (virt-install/virt-manager output, OpenStack
Nova, Proxmox-style hand tuning, minimal hand-written templates, dumped XML with
addresses, ...); the profiles are interleaved so that any slice of the corpus is
varied.  See README.md for what each profile covers.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar
from xml.sax.saxutils import escape

HERE = Path(__file__).resolve().parent
DOMAINS_DIR = HERE / "domains"
IMAGES_LIST = HERE / "images.txt"
IMAGE_DIR = "/var/lib/virtops/corpus-images"
HANDWRITTEN_FIRST = 123  # domains/123-*.xml onwards are hand-written (see README): never deleted or overwritten here
HANDWRITTEN_IMAGES_MARKER = "# Hand-written definitions"  # images.txt keeps this line and the ones after it
GUEST_DIR = "/var/lib/virtops/guest"
T = TypeVar("T")
SEED = 20240611

LIBOSINFO_NS = "http://libosinfo.org/xmlns/libvirt/domain/1.0"
VIRTOPS_NS = "https://virtops.dev/xmlns/libvirt/1"
NOVA_NS = "http://openstack.org/xmlns/libvirt/nova/1.1"

# Linux and BSD guests: (short name, libosinfo id, install ISO shared by the domains that use it)
UNIX_OSES = [
    ("debian12", "http://debian.org/debian/12", "debian-12.5.0-amd64-netinst.iso"),
    ("ubuntu22.04", "http://ubuntu.com/ubuntu/22.04", "ubuntu-22.04.4-live-server-amd64.iso"),
    ("fedora39", "http://fedoraproject.org/fedora/39", "Fedora-Server-netinst-x86_64-39-1.5.iso"),
    ("rhel9.3", "http://redhat.com/rhel/9.3", "rhel-9.3-x86_64-boot.iso"),
    ("debian11", "http://debian.org/debian/11", "debian-11.9.0-amd64-netinst.iso"),
    ("ubuntu24.04", "http://ubuntu.com/ubuntu/24.04", "ubuntu-24.04-live-server-amd64.iso"),
    ("almalinux9", "http://almalinux.org/almalinux/9", "AlmaLinux-9.3-x86_64-minimal.iso"),
    ("opensuse15.5", "http://opensuse.org/opensuse/15.5", "openSUSE-Leap-15.5-NET-x86_64-Media.iso"),
    ("alpine3.19", "http://alpinelinux.org/alpinelinux/3.19", "alpine-virt-3.19.1-x86_64.iso"),
    ("rocky9", "http://rockylinux.org/rocky/9", "Rocky-9.3-x86_64-minimal.iso"),
    ("archlinux", "http://archlinux.org/archlinux/rolling", "archlinux-2024.03.01-x86_64.iso"),
    ("freebsd14.0", "http://freebsd.org/freebsd/14.0", "FreeBSD-14.0-RELEASE-amd64-disc1.iso"),
]
WINDOWS_OSES = [
    ("win11", "http://microsoft.com/win/11", "Win11_23H2_English_x64v2.iso"),
    ("win10", "http://microsoft.com/win/10", "Win10_22H2_English_x64v1.iso"),
    ("win2k22", "http://microsoft.com/win/2k22", "SERVER_EVAL_x64FRE_en-us.iso"),
    ("win2k19", "http://microsoft.com/win/2k19", "17763.3650.221105-1748.rs5_release_svc_refresh_SERVER_EVAL_x64FRE_en-us.iso"),
]
VIRTIO_WIN_ISO = "virtio-win-0.1.240.iso"
# CPU models QEMU 7.2 can run under TCG on this host (usable='yes' in domcapabilities).
TCG_CPU_MODELS = ["qemu64", "Westmere", "Nehalem", "Penryn", "Conroe", "core2duo", "kvm64", "Opteron_G2", "Opteron_G1", "athlon"]
CPU_FEATURES = ["x2apic", "hypervisor", "lahf_lm", "popcnt", "sse4.2", "ssse3", "aes", "pcid", "vmx", "svm"]
TAGS = ["web", "db", "cache", "lb", "ci", "build", "monitoring", "dev", "staging", "prod", "dmz", "backup", "mail", "dns"]
ENVIRONMENTS = ["prod", "staging", "dev", "lab"]


@dataclass(frozen=True)
class Image:
    path: str
    fmt: str
    size: str
    backing: str = ""


IMAGES: dict[str, Image] = {}


def image(rel: str, fmt: str, size: str, backing: str = "") -> str:
    """Register a disk image (created by make_images.sh) and return its absolute path."""
    path = f"{IMAGE_DIR}/{rel}"
    known = IMAGES.get(path)
    if known is not None and known != Image(path, fmt, size, backing):
        raise ValueError(f"image {path} registered twice with different properties")
    IMAGES[path] = Image(path, fmt, size, backing)
    return path


def iso(name: str) -> str:
    return image(f"isos/{name}", "raw", "2M")


def attrs(**kw: object) -> str:
    """Render attributes in the given order, single-quoted like libvirt does; None values are left out."""
    return "".join(f" {key}='{escape(str(value), {chr(39): '&apos;'})}'" for key, value in kw.items() if value is not None)


def el(tag: str, text: str | int | None = None, **kw: object) -> str:
    if text is None:
        return f"<{tag}{attrs(**kw)}/>"
    return f"<{tag}{attrs(**kw)}>{escape(str(text))}</{tag}>"


def indent(line: str) -> str:
    """Indent markup lines; continuation lines of multi-line text (a description) stay as written."""
    return "  " + line if line.lstrip().startswith("<") else line


def block(tag: str, children: Iterable[str], **kw: object) -> str:
    inner = [line for child in children if child for line in child.splitlines()]
    if not inner:
        return el(tag, **kw)
    body = "\n".join(indent(line) for line in inner)
    return f"<{tag}{attrs(**kw)}>\n{body}\n</{tag}>"


class DevNames:
    """Hands out target device names per bus family (vda, sda, hda, fda)."""

    def __init__(self) -> None:
        self.used: dict[str, int] = {"vd": 0, "sd": 0, "hd": 0, "fd": 0}

    def next(self, bus: str) -> str:
        prefix = {"virtio": "vd", "sata": "sd", "scsi": "sd", "usb": "sd", "ide": "hd", "fdc": "fd"}[bus]
        index = self.used[prefix]
        self.used[prefix] += 1
        return prefix + "abcdefghijklmnop"[index]

    def take(self, name: str) -> str:
        """Reserve a specific name (e.g. hdc for an IDE cdrom) and advance past it."""
        prefix, index = name[:2], "abcdefghijklmnop".index(name[2])
        self.used[prefix] = max(self.used[prefix], index + 1)
        return name


@dataclass
class Dom:
    num: int
    rng: random.Random
    machine: str = "pc"
    profile: str = ""
    words: list[str] = field(default_factory=list)
    head: list[str] = field(default_factory=list)
    resources: list[str] = field(default_factory=list)
    os: str = ""
    middle: list[str] = field(default_factory=list)
    devices: list[str] = field(default_factory=list)
    tail: list[str] = field(default_factory=list)
    names: DevNames = field(default_factory=DevNames)

    @property
    def name(self) -> str:
        return f"corpus-{self.num:03d}"

    @property
    def q35(self) -> bool:
        return "q35" in self.machine

    def img(self, role: str, fmt: str, size: str, backing: str = "") -> str:
        ext = "qcow2" if fmt == "qcow2" else "img"
        return image(f"{self.name}-{role}.{ext}", fmt, size, backing)

    def slug(self) -> str:
        words = [self.profile, *self.words]
        return "-".join(w.replace(".", "").replace("_", "-").lower() for w in words if w)

    def render(self) -> str:
        lines = ["<domain type='qemu'>", f"  <name>{self.name}</name>"]
        sections = [*self.head, *self.resources, self.os, *self.middle, block("devices", self.devices), *self.tail]
        for section in sections:
            lines.extend(indent(line) for line in section.splitlines())
        lines.append("</domain>")
        return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------
# Building blocks shared by the profiles
# ---------------------------------------------------------------------------


def uuid_for(num: int) -> str:
    rng = random.Random(f"uuid-{num}")
    hexdigits = "".join(rng.choice("0123456789abcdef") for _digit in range(32))
    h = hexdigits[:12] + "4" + hexdigits[13:16] + rng.choice("89ab") + hexdigits[17:]
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def mac_for(num: int, index: int, oui: str = "52:54:00") -> str:
    return f"{oui}:{num % 256:02x}:{(index * 37 + 11) % 256:02x}:{(num * 7 + index) % 256:02x}"


def title_and_description(dom: Dom, host: str, role: str) -> None:
    dom.head.append(el("title", f"{host} ({role})"))
    dom.head.append(
        el("description", f"{role} for the {dom.rng.choice(ENVIRONMENTS)} environment (ops & sre).\nManaged by Ansible (virtops.libvirt); do not edit by hand.")
    )


def metadata(*items: str) -> str:
    return block("metadata", items)


def libosinfo(os_id: str) -> str:
    return block("libosinfo:libosinfo", [el("libosinfo:os", id=os_id)], **{"xmlns:libosinfo": LIBOSINFO_NS})


def virtops_tags(tags: list[str]) -> str:
    return block("virtops:tags", [el("virtops:tag", t) for t in tags], **{"xmlns:virtops": VIRTOPS_NS})


def virtops_owner(team: str, ticket: str) -> str:
    return block("virtops:owner", [el("virtops:team", team), el("virtops:ticket", ticket)], **{"xmlns:virtops": VIRTOPS_NS})


def memory(amount_kib: int, style: str, current_kib: int | None = None) -> list[str]:
    """Write memory the way different tools do: explicit KiB, no unit, MiB, GiB, M, G."""

    def fmt(tag: str, kib: int) -> str:
        if style == "none":
            return el(tag, kib)
        if style == "MB":  # decimal megabytes, as people write who mean MiB
            return el(tag, round(kib * 1024 / 1_000_000), unit=style)
        if style in ("MiB", "M"):
            return el(tag, kib // 1024, unit=style)
        if style in ("GiB", "G"):
            if kib % (1024 * 1024) == 0:
                return el(tag, kib // (1024 * 1024), unit=style)
            return el(tag, kib // 1024, unit="MiB")
        return el(tag, kib, unit=style)

    out = [fmt("memory", amount_kib)]
    if current_kib is not None:
        out.append(fmt("currentMemory", current_kib))
    return out


def vcpu(count: int, placement: str | None = None, current: int | None = None, cpuset: str | None = None) -> str:
    return el("vcpu", count, placement=placement, cpuset=cpuset, current=current)


def os_block(dom: Dom, *, firmware: str | None = None, arch: str | None = "x86_64", machine: bool = True, extra: Iterable[str] = ()) -> str:
    type_el = el("type", "hvm", arch=arch, machine=dom.machine if machine else None)
    return block("os", [type_el, *extra], firmware=firmware)


def boot_devs(*devs: str) -> list[str]:
    return [el("boot", dev=d) for d in devs]


def features(*items: str, hyperv: bool = False, smm: bool = False, vmport_off: bool = False) -> str:
    """items: plain feature names (acpi, apic, pae) or ready-made elements; empty strings are skipped."""
    children = [item if item.startswith("<") else el(item) for item in items if item]
    if hyperv:
        children.append(
            block(
                "hyperv",
                [el("relaxed", state="on"), el("vapic", state="on"), el("spinlocks", state="on", retries="8191")],
                mode="custom",
            )
        )
    if vmport_off:
        children.append(el("vmport", state="off"))
    if smm:
        children.append(el("smm", state="on"))
    return block("features", children)


def cpu_custom(
    model: str,
    *,
    topology: tuple[int, int, int] | None = None,
    dies: bool = False,
    feats: Iterable[tuple[str, str]] = (),
    match: str | None = "exact",
    check: str | None = "partial",
    fallback: str | None = "allow",
    numa: str | None = None,
) -> str:
    children = [el("model", model, fallback=fallback)]
    if topology:
        s, c, t = topology
        children.append(el("topology", sockets=s, dies=1 if dies else None, cores=c, threads=t))
    children.extend(el("feature", policy=p, name=n) for p, n in feats)
    if numa:
        children.append(numa)
    return block("cpu", children, mode="custom", match=match, check=check)


def numa_cells(cells: list[tuple[str, int, str | None]], distances: bool = False) -> str:
    """cells: (cpus, amount, unit) with amount in the given unit (None = KiB, no attribute)."""
    out = []
    for i, (cpus, amount, unit) in enumerate(cells):
        dist = []
        if distances:
            dist = [block("distances", [el("sibling", id=j, value=10 if i == j else 21) for j in range(len(cells))])]
        out.append(block("cell", dist, id=i, cpus=cpus, memory=amount, unit=unit))
    return block("numa", out)


def clock_linux() -> str:
    return block(
        "clock",
        [el("timer", name="rtc", tickpolicy="catchup"), el("timer", name="pit", tickpolicy="delay"), el("timer", name="hpet", present="no")],
        offset="utc",
    )


def clock_windows() -> str:
    return block(
        "clock",
        [
            el("timer", name="rtc", tickpolicy="catchup"),
            el("timer", name="pit", tickpolicy="delay"),
            el("timer", name="hpet", present="no"),
            el("timer", name="hypervclock", present="yes"),
        ],
        offset="localtime",
    )


def lifecycle(poweroff: str = "destroy", reboot: str = "restart", crash: str = "destroy") -> list[str]:
    return [el("on_poweroff", poweroff), el("on_reboot", reboot), el("on_crash", crash)]


def pm_off() -> str:
    return block("pm", [el("suspend-to-mem", enabled="no"), el("suspend-to-disk", enabled="no")])


def disk(
    dom: Dom,
    *,
    bus: str,
    source: str | None,
    fmt: str | None = "qcow2",
    device: str = "disk",
    dev: str | None = None,
    driver: dict[str, object] | None = None,
    readonly: bool = False,
    shareable: bool = False,
    boot: int | None = None,
    serial: str | None = None,
    extra: Iterable[str] = (),
    dtype: str = "file",
) -> str:
    target = dom.names.take(dev) if dev else dom.names.next(bus)
    children = []
    if fmt is not None or driver:
        children.append(el("driver", name="qemu", type=fmt, **(driver or {})))
    if source is not None:
        children.append(el("source", file=source) if dtype == "file" else el("source", dev=source))
    children.append(el("target", dev=target, bus=bus))
    if readonly:
        children.append(el("readonly"))
    if shareable:
        children.append(el("shareable"))
    if serial:
        children.append(el("serial", serial))
    if boot is not None:
        children.append(el("boot", order=boot))
    children.extend(extra)
    return block("disk", children, type=dtype, device=device)


def cdrom(dom: Dom, bus: str, media: str | None, *, dev: str | None = None, boot: int | None = None) -> str:
    return disk(dom, bus=bus, source=iso(media) if media else None, fmt="raw", device="cdrom", dev=dev, readonly=True, boot=boot)


def nic(
    kind: str,
    *,
    source: str | None = None,
    model: str | None = "virtio",
    mac: str | None = None,
    mode: str = "bridge",
    target: str | None = None,
    extra: Iterable[str] = (),
    boot: int | None = None,
    portgroup: str | None = None,
) -> str:
    children = []
    if mac:
        children.append(el("mac", address=mac))
    if kind == "network":
        children.append(el("source", network=source or "default", portgroup=portgroup))
    elif kind == "bridge":
        children.append(el("source", bridge=source or "br0"))
    elif kind == "direct":
        children.append(el("source", dev=source or "eth0", mode=mode))
    if target:
        children.append(el("target", dev=target, managed="no" if kind == "ethernet" else None))
    if model:
        children.append(el("model", type=model))
    children.extend(extra)
    if boot is not None:
        children.append(el("boot", order=boot))
    return block("interface", children, type=kind)


def serial_pty(isa_model: bool = False) -> list[str]:
    target = block("target", [el("model", name="isa-serial")], type="isa-serial", port=0) if isa_model else el("target", port=0)
    return [block("serial", [target], type="pty"), block("console", [el("target", type="serial", port=0)], type="pty")]


def serial_file(dom: Dom) -> list[str]:
    path = f"/var/log/libvirt/qemu/{dom.name}-serial.log"
    return [
        block("serial", [el("source", path=path), el("target", port=0)], type="file"),
        block("console", [el("source", path=path), el("target", type="serial", port=0)], type="file"),
    ]


def guest_agent(bind_source: bool = True, path: str | None = None) -> str:
    source = el("source", mode="bind", path=path) if bind_source or path else ""
    return block("channel", [source, el("target", type="virtio", name="org.qemu.guest_agent.0")], type="unix")


def spice_channel() -> str:
    return block("channel", [el("target", type="virtio", name="com.redhat.spice.0")], type="spicevmc")


def spice(autoport: bool = True, listen: str | None = None, passwd: str | None = None, compression_off: bool = False) -> str:
    children = []
    if listen == "none":
        children.append(el("listen", type="none"))
    elif listen:
        children.append(el("listen", type="address", address=listen))
    if compression_off:
        children.append(el("image", compression="off"))
    return block("graphics", children, type="spice", autoport="yes" if autoport else None, passwd=passwd)


def vnc(listen: str | None = "127.0.0.1", passwd: str | None = None, port: int = -1, keymap: str | None = None, listen_child: bool = False) -> str:
    autoport = "yes" if port == -1 else "no"
    if listen_child:
        return block("graphics", [el("listen", type="address", address=listen)], type="vnc", port=port, autoport=autoport, passwd=passwd, keymap=keymap)
    return el("graphics", type="vnc", port=port, autoport=autoport, listen=listen, passwd=passwd, keymap=keymap)


def video(model: str, **kw: object) -> str:
    return block("video", [el("model", type=model, **kw)])


def tablet() -> str:
    return el("input", type="tablet", bus="usb")


def rng_urandom(rate: bool = False) -> str:
    children = [el("rate", bytes=1024, period=1000)] if rate else []
    children.append(el("backend", "/dev/urandom", model="random"))
    return block("rng", children, model="virtio")


def balloon(stats: int | None = None) -> str:
    return block("memballoon", [el("stats", period=stats)] if stats else [], model="virtio")


def usb_controller(dom: Dom) -> str:
    if dom.q35:
        return el("controller", type="usb", index=0, model="qemu-xhci", ports=15)
    return el("controller", type="usb", index=0, model="piix3-uhci")


def tpm(model: str = "tpm-crb", version: str = "2.0") -> str:
    return block("tpm", [el("backend", type="emulator", version=version)], model=model)


def spice_extras(dom: Dom) -> list[str]:
    """What virt-manager adds with SPICE: agent channel, USB redirection, spice audio."""
    out = [spice_channel()]
    out.append(el("audio", id=1, type="spice"))
    out.extend([el("redirdev", bus="usb", type="spicevmc")] * 2)
    return out


def pick(rng: random.Random, seq: Sequence[T]) -> T:
    return seq[rng.randrange(len(seq))]


def hostname(role: str, num: int) -> str:
    return f"{role}-{num % 17 + 1:02d}"


def machine_for(k: int, choices: list[str]) -> str:
    return choices[k % len(choices)]


GiB = 1024 * 1024
MiB = 1024
OVMF = "/usr/share/OVMF"


def pflash(code: str, variables: str, *, secure: bool = False, nvram_path: str | None = None) -> list[str]:
    loader = el("loader", f"{OVMF}/{code}", readonly="yes", secure="yes" if secure else None, type="pflash")
    return [loader, el("nvram", nvram_path, template=f"{OVMF}/{variables}")]


def efi_features(*features: tuple[str, bool]) -> list[str]:
    return [block("firmware", [el("feature", enabled="yes" if on else "no", name=name) for name, on in features])]


def firmware_form(dom: Dom, form: str) -> tuple[str | None, list[str], bool]:
    """(os firmware attribute, <os> children, whether SMM is needed) for each UEFI form libvirt 9.0 accepts."""
    if form == "efi-auto":
        return "efi", [], False
    if form == "efi-secure-auto":
        return "efi", efi_features(("secure-boot", True), ("enrolled-keys", True)), True
    if form == "efi-keys-secure-auto":
        return "efi", efi_features(("enrolled-keys", True), ("secure-boot", True)), True
    if form == "efi-secure-off":
        return "efi", efi_features(("secure-boot", False)), False
    if form == "loader-4m":
        return None, pflash("OVMF_CODE_4M.fd", "OVMF_VARS_4M.fd"), False
    if form == "loader-secure-ms":
        return None, pflash("OVMF_CODE_4M.ms.fd", "OVMF_VARS_4M.ms.fd", secure=True), True
    if form == "loader-secure-snakeoil":
        return None, pflash("OVMF_CODE_4M.snakeoil.fd", "OVMF_VARS_4M.snakeoil.fd", secure=True), True
    if form == "loader-nvram-path":
        return None, pflash("OVMF_CODE_4M.fd", "OVMF_VARS_4M.fd", nvram_path=f"{image('nvram', 'dir', '-')}/{dom.name}_VARS.fd"), False
    if form == "loader-nvram-default-path":
        return None, pflash("OVMF_CODE_4M.fd", "OVMF_VARS_4M.fd", nvram_path=f"/var/lib/libvirt/qemu/nvram/{dom.name}_VARS.fd"), False
    if form == "loader-2m-legacy":
        return None, pflash("OVMF_CODE.fd", "OVMF_VARS.fd"), False
    raise ValueError(f"unknown firmware form {form}")


# ---------------------------------------------------------------------------
# Profiles.  Each takes the domain and the profile-local index k (0, 1, ...):
# k cycles through the options that must be covered, rng varies the rest.
# ---------------------------------------------------------------------------


def virtinstall_linux(dom: Dom, k: int) -> None:
    """virt-install/virt-manager output for Linux guests (as users keep it in git)."""
    rng = dom.rng
    short, os_id, media = UNIX_OSES[k % len(UNIX_OSES)]
    dom.machine = machine_for(k, ["q35", "pc-q35-7.2", "pc-i440fx-7.2", "q35", "pc"])
    graphics = ["spice", "vnc", "spice", "none"][k % 4]
    dom.words += [short, dom.machine, graphics]
    if k % 3 == 0:
        title_and_description(dom, hostname(pick(rng, TAGS), dom.num), short)
    dom.head.append(metadata(libosinfo(os_id)))
    mem = pick(rng, [1, 2, 4, 8]) * GiB
    dom.resources += memory(mem, "KiB", mem)
    cpus = pick(rng, [1, 2, 2, 4])
    dom.resources.append(vcpu(cpus, placement="static"))
    uefi = dom.q35 and k % 5 == 1
    if uefi:
        dom.words.append("uefi")
    dom.os = os_block(dom, firmware="efi" if uefi else None, extra=boot_devs("hd"))
    dom.middle.append(features("acpi", "apic", vmport_off=True))
    if k % 2 == 0:
        dom.middle.append(el("cpu", mode="host-model", check="partial"))
    else:
        dom.middle.append(cpu_custom(pick(rng, TCG_CPU_MODELS[:4]), topology=(1, cpus, 1), dies=True))
    dom.middle.append(clock_linux())
    dom.middle += lifecycle()
    dom.middle.append(pm_off())
    dev = dom.devices
    dev.append(el("emulator", "/usr/bin/qemu-system-x86_64"))
    root = dom.img("root", "qcow2", pick(rng, ["10G", "20G", "40G"]))
    dev.append(disk(dom, bus="virtio", source=root, driver={"discard": "unmap"} if k % 2 else None))
    cd_bus = "sata" if dom.q35 else "ide"
    dev.append(cdrom(dom, cd_bus, media if k % 3 != 2 else None))
    dev.append(usb_controller(dom))
    dev.append(el("controller", type="virtio-serial", index=0))
    if dom.q35 and k % 4 == 0:
        dev += [el("controller", type="pci", index=0, model="pcie-root")] + [el("controller", type="pci", model="pcie-root-port")] * 4
    dev.append(nic("network", source="default"))
    dev += serial_pty()
    dev.append(guest_agent(bind_source=k % 2 == 0))
    dev.append(tablet())
    dev.append(el("input", type="keyboard", bus="virtio") if k % 4 == 3 else "")
    if graphics == "spice":
        dev.append(spice(passwd="changeme" if k % 8 == 0 else None, compression_off=True))
        dev.append(el("sound", model="ich9" if dom.q35 else "ich6"))
        dev += spice_extras(dom)
        dev.append(video("qxl", ram=65536, vram=65536, vgamem=16384, heads=1, primary="yes") if k % 3 else video("virtio", heads=1, primary="yes"))
    elif graphics == "vnc":
        dev.append(vnc(listen="127.0.0.1", passwd="vncpass1" if k % 3 == 1 else None))
        dev.append(video(pick(rng, ["virtio", "vga"])))
    dev.append(balloon())
    dev.append(rng_urandom())


def virtinstall_windows(dom: Dom, k: int) -> None:
    """Windows desktops/servers: q35, UEFI (secure boot), TPM, Hyper-V enlightenments, SPICE."""
    rng = dom.rng
    short, os_id, media = WINDOWS_OSES[k % len(WINDOWS_OSES)]
    dom.machine = machine_for(k, ["q35", "pc-q35-7.2"])
    fw_form = ["efi-keys-secure-auto", "loader-secure-ms", "efi-auto", "efi-secure-off", "loader-nvram-default-path"][k % 5]
    dom.words += [short, fw_form]
    dom.head.append(metadata(libosinfo(os_id)))
    mem_gib = pick(rng, [4, 8, 6])
    style = pick(rng, ["KiB", "MiB", "GiB"])
    dom.resources += memory(mem_gib * GiB, style, mem_gib * GiB if style != "GiB" else None)
    cpus = pick(rng, [2, 4])
    dom.resources.append(vcpu(cpus, placement="static"))
    firmware, extra, smm = firmware_form(dom, fw_form)
    dom.os = os_block(dom, firmware=firmware, extra=[*extra, *boot_devs("hd", "cdrom")])
    dom.middle.append(features("acpi", "apic", hyperv=True, smm=smm, vmport_off=True))
    threads = 2 if cpus == 4 else 1
    dom.middle.append(cpu_custom(pick(rng, ["Nehalem", "Westmere", "Penryn"]), topology=(1, cpus // threads, threads), dies=k % 2 == 0))
    dom.middle.append(clock_windows())
    dom.middle += lifecycle()
    dom.middle.append(pm_off())
    dev = dom.devices
    bus = "sata" if k % 2 == 0 else "virtio"
    dev.append(disk(dom, bus=bus, source=dom.img("c", "qcow2", "64G"), driver={"cache": "none", "discard": "unmap"} if k % 3 else None))
    dev.append(cdrom(dom, "sata", media))
    dev.append(cdrom(dom, "sata", VIRTIO_WIN_ISO if bus == "virtio" else None))
    dev.append(usb_controller(dom))
    dev.append(nic("network", source="default", model=pick(rng, ["e1000e", "virtio", "e1000e"])) if k % 3 else nic("bridge", source="br0", model="e1000e"))
    dev.append(tablet())
    dev.append(spice(passwd="Win-Desk-42" if k % 2 else None))
    dev += spice_extras(dom)
    dev.append(el("sound", model="ich9"))
    dev.append(video("qxl", ram=65536, vram=65536, vgamem=16384, heads=1, primary="yes"))
    dev.append(tpm("tpm-crb" if k % 4 != 3 else "tpm-tis"))
    dev.append(balloon())


def nova_instance(dom: Dom, k: int, flavor: str, mem_mib: int, cpus: int, disk_gb: int) -> str:
    sizes = [el("nova:memory", mem_mib), el("nova:disk", disk_gb), el("nova:swap", 0), el("nova:ephemeral", 0), el("nova:vcpus", cpus)]
    owner = [el("nova:user", "admin", uuid="8e1b2a9c3d4f4e5a9b6c7d8e9f0a1b2c"), el("nova:project", "demo", uuid="1f2e3d4c5b6a47989a0b1c2d3e4f5a6b")]
    children = [
        el("nova:package", version="27.1.0"),
        el("nova:name", f"{pick(dom.rng, TAGS)}-{k:02d}"),
        el("nova:creationTime", f"2024-0{k % 9 + 1}-1{k % 10} 10:{k:02d}:00"),
        block("nova:flavor", sizes, name=flavor),
        block("nova:owner", owner),
        el("nova:root", type="image", uuid="0c9a6d4e-2b5f-4f0e-9a8d-6b7c5d4e3f2a"),
    ]
    return block("nova:instance", children, **{"xmlns:nova": NOVA_NS})


def nova_sysinfo(uuid: str, with_uuid: bool) -> str:
    entries = [
        el("entry", "OpenStack Foundation", name="manufacturer"),
        el("entry", "OpenStack Nova", name="product"),
        el("entry", "27.1.0", name="version"),
        el("entry", uuid, name="serial"),
        el("entry", uuid, name="uuid") if with_uuid else "",
        el("entry", "Virtual Machine", name="family"),
    ]
    return block("sysinfo", [block("system", entries)], type="smbios")


def nova_interface(dom: Dom, k: int, net_form: str) -> str:
    """Neutron ports: linuxbridge brq*/tap*, OVS br-int with an explicit interfaceid (libvirt makes up a random one otherwise)."""
    rng = dom.rng
    tap = f"tap{rng.getrandbits(32):08x}-{rng.getrandbits(8):02x}"
    if net_form == "linuxbridge":
        mac = f"fa:16:3e:{dom.num:02x}:4e:{k:02x}" if k % 3 == 0 else None
        return nic("bridge", source=f"brq{rng.getrandbits(32):08x}-a1", target=tap, mac=mac, extra=[el("mtu", size=1450)])
    if net_form.startswith("ovs"):
        vport = block("virtualport", [el("parameters", interfaceid=uuid_for(dom.num + 1000))], type="openvswitch")
        queues = [el("driver", name="vhost", queues=2)] if net_form == "ovs-mq" else []
        return nic("bridge", source="br-int", target=tap, extra=[*queues, vport, el("mtu", size=1442)])
    return nic("network", source="default", extra=[el("mtu", size=1500)])


def nova_like(dom: Dom, k: int) -> None:
    """OpenStack Nova style: explicit uuid on some, sysinfo, nova metadata, cache=none, tap devices."""
    rng = dom.rng
    dom.machine = machine_for(k, ["pc-i440fx-7.2", "pc-q35-7.2", "pc-i440fx-6.2", "pc-q35-6.2", "pc-i440fx-5.2"])
    flavor, mem_mib, cpus, disk_gb = [("m1.small", 2048, 1, 20), ("m1.medium", 4096, 2, 40), ("c1.large", 4096, 4, 40), ("m1.tiny", 512, 1, 1)][k % 4]
    net_form = ["linuxbridge", "ovs", "linuxbridge", "network", "ovs-mq"][k % 5]
    dom.words += [flavor, dom.machine, net_form]
    uuid = uuid_for(dom.num)
    if k % 3 == 0:
        dom.head.append(el("uuid", uuid))
    dom.head.append(metadata(nova_instance(dom, k, flavor, mem_mib, cpus, disk_gb)))
    dom.resources += memory(mem_mib * MiB, "none", mem_mib * MiB)
    dom.resources.append(vcpu(cpus, cpuset="0-1" if k % 4 == 1 else None))
    dom.resources.append(block("cputune", [el("shares", 1024 * cpus)]))
    dom.resources.append(nova_sysinfo(uuid, with_uuid=k % 3 == 0))
    dom.os = os_block(dom, extra=[*boot_devs("hd"), el("smbios", mode="sysinfo")])
    dom.middle.append(features("acpi", "apic"))
    model = pick(rng, ["Westmere", "Nehalem", "qemu64", "Opteron_G2", "Penryn"])
    feats = [("require", "hypervisor")] if k % 2 else []
    dom.middle.append(cpu_custom(model, topology=(cpus, 1, 1), feats=feats, fallback=None if k % 2 else "allow", check=None if k % 2 else "partial"))
    dom.middle.append(clock_linux())
    dom.middle += lifecycle()
    dev = dom.devices
    base = image(f"nova-base/{['cirros-0.6.2', 'ubuntu-22.04-cloudimg', 'debian-12-genericcloud'][k % 3]}.img", "raw", "2G")
    driver: dict[str, object] = {"cache": "none"}
    if k % 2 == 0:
        driver["io"] = "native"
    if k % 3 == 1:
        driver["discard"] = "unmap"
    dev.append(disk(dom, bus="virtio", source=dom.img("disk", "qcow2", f"{disk_gb}G", backing=base), driver=driver))
    if k % 2 == 1:
        dev.append(
            disk(
                dom,
                bus="sata" if dom.q35 else "ide",
                source=dom.img("disk.config", "raw", "1M"),
                fmt="raw",
                device="cdrom",
                readonly=True,
                driver={"cache": "none"},
            )
        )
    dev.append(nova_interface(dom, k, net_form))
    dev += serial_pty() if k % 2 == 0 else serial_file(dom)
    dev.append(tablet())
    dev.append(vnc(listen="0.0.0.0"))
    dev.append(video(["virtio", "cirrus", "vga"][k % 3]))
    dev.append(balloon(stats=10))
    dev.append(rng_urandom(rate=k % 2 == 0))
    if dom.q35:
        dev.append(usb_controller(dom))


def proxmox_like(dom: Dom, k: int) -> None:
    """Hand-tuned i440fx servers in the style of Proxmox: virtio-scsi, boot order, vmbr bridges, VNC."""
    rng = dom.rng
    dom.machine = machine_for(k, ["pc-i440fx-7.2", "pc", "pc-i440fx-7.1", "pc-i440fx-6.2", "pc-i440fx-7.0"])
    sockets, cores = [(1, 2), (1, 4), (2, 2), (1, 1)][k % 4]
    dom.words += [dom.machine, f"{sockets}s{cores}c", "scsi"]
    if k % 2:
        dom.head.append(el("description", f"vmid {100 + k}\ncreated from template debian-12-tpl"))
    dom.head.append(metadata(virtops_tags(["proxmox-import", pick(rng, TAGS)])))
    dom.resources += memory(pick(rng, [2048, 4096, 8192]) * MiB, "MiB")
    iothreads = k % 2 == 0
    dom.resources.append(el("vcpu", sockets * cores))
    dom.resources.append(el("iothreads", 1) if iothreads else "")
    dom.os = os_block(dom)
    dom.middle.append(features("acpi", "apic"))
    dom.middle.append(
        cpu_custom("kvm64", topology=(sockets, cores, 1), feats=[("require", "lahf_lm"), ("require", "sep")], fallback="forbid" if k % 2 else None)
    )
    dom.middle.append(el("clock", offset="utc"))
    dom.middle += lifecycle(crash="restart" if k % 3 == 0 else "destroy")
    dev = dom.devices
    scsi_model = ["virtio-scsi", "virtio-scsi", "lsilogic"][k % 3]
    ctrl_driver = [el("driver", iothread=1)] if iothreads and scsi_model == "virtio-scsi" else []
    dev.append(block("controller", ctrl_driver, type="scsi", index=0, model=scsi_model))
    cache = pick(rng, ["writeback", "none", "directsync", None])
    driver: dict[str, object] = {"cache": cache, "discard": "unmap"}
    if cache in ("none", "directsync"):
        driver["io"] = "native"
    dev.append(disk(dom, bus="scsi", source=dom.img("disk-0", "qcow2", "32G"), driver=driver, boot=1))
    if k % 3 == 1:
        dev.append(disk(dom, bus="scsi", source=dom.img("disk-1", "raw", "64M"), fmt="raw", driver={"cache": "none", "io": "threads"}))
    dev.append(cdrom(dom, "ide", UNIX_OSES[k % 3][2] if k % 2 else None, dev="hdc", boot=2))
    bridges = ["vmbr0", "vmbr1"] if k % 4 == 2 else ["vmbr0"]
    for i, br in enumerate(bridges):
        dev.append(
            nic(
                "bridge",
                source=br,
                model="e1000" if k % 5 == 3 else "virtio",
                boot=3 if i == 0 else None,
                mac=mac_for(dom.num, i, "bc:24:11") if k % 4 == 0 else None,
            )
        )
    dev.append(el("controller", type="usb", index=0, model="piix3-uhci"))
    dev.append(tablet())
    dev.append(vnc(listen="127.0.0.1", passwd=f"pve{k:03d}pw" if k % 2 == 0 else None, keymap="de" if k % 5 == 1 else None))
    dev.append(video("vga", vram=16384, heads=1))
    dev.append(guest_agent())
    dev.append(balloon())
    if k % 3 == 2:
        dev.append(el("watchdog", model="i6300esb", action="reset"))


def minimal(dom: Dom, k: int) -> None:
    """Minimal hand-written templates: few elements, defaults left to libvirt."""
    rng = dom.rng
    form = k % 6
    dom.machine = machine_for(k, ["pc", "q35", "pc-i440fx-7.2", "pc", "pc-q35-7.2", "q35"])
    dom.words += [["bare", "user-net", "no-unit", "vnc", "serial", "nic-only"][form], dom.machine if form else "no-machine"]
    mem_style = ["MiB", "GiB", "none", "M", "MB", "G", "MiB"][k % 7]
    mem = pick(rng, [512, 1024, 2048]) * MiB
    dom.resources += memory(mem, mem_style)
    dom.resources.append(el("vcpu", pick(rng, [1, 2])))
    if form == 0:
        dom.os = block("os", [el("type", "hvm")])
    else:
        dom.os = os_block(dom, arch="x86_64", extra=boot_devs("hd") if form % 2 else [])
    if form in (1, 3, 5):
        dom.middle.append(features("acpi", "apic"))
    dev = dom.devices
    if form != 5:
        fmt = "raw" if form in (0, 2) else "qcow2"
        src = dom.img("disk", fmt, "1G" if fmt == "raw" else "8G")
        if form == 0:
            dev.append(disk(dom, bus="virtio", source=src, fmt=None))
        else:
            dev.append(disk(dom, bus="virtio" if form != 4 else "sata", source=src, fmt=fmt))
    if form == 1:
        dev.append(nic("user", model=pick(rng, ["virtio", "e1000", "rtl8139"])))
    elif form == 2:
        dev.append(nic("network", source="default", model=None))
    elif form == 3:
        dev.append(nic("network", source="default"))
        dev.append(el("graphics", type="vnc", autoport="yes"))
    elif form == 4:
        dev += serial_pty()
    else:
        dev.append(nic("bridge", source="br0"))
        dev.append(nic("user", model="e1000"))


def kernel_boot(dom: Dom, k: int) -> None:
    """Direct kernel boot of the test bed's tiny guest (no disk), serial log to a file."""
    rng = dom.rng
    dom.machine = machine_for(k, ["pc", "q35", "pc-i440fx-7.2", "pc-q35-7.2"])
    initrd = ["initrd-normal.img", "initrd-net.img", "initrd-stubborn.img", "initrd-normal.img"][k % 4]
    dom.words += [initrd.split("-")[1].split(".")[0], dom.machine]
    if k % 2:
        dom.head.append(el("title", f"tiny test guest ({initrd})"))
    dom.head.append(metadata(virtops_tags(["test", "kernel-boot"])))
    dom.resources += memory(pick(rng, [128, 192, 256]) * MiB, ["MiB", "KiB", "none", "MiB"][k % 4])
    dom.resources.append(el("vcpu", 1 + k % 2, placement="static" if k % 3 == 0 else None))
    cmdline = ["console=ttyS0", "console=ttyS0 quiet panic=-1", "console=ttyS0,115200n8 loglevel=4", "console=ttyS0 ip=dhcp"][k % 4]
    dom.os = os_block(
        dom,
        extra=[el("kernel", f"{GUEST_DIR}/vmlinuz"), el("initrd", f"{GUEST_DIR}/{initrd}"), el("cmdline", cmdline)],
    )
    dom.middle.append(features("acpi") if k % 2 == 0 else features("acpi", "apic"))
    if k % 3 == 1:
        dom.middle.append(cpu_custom("qemu64", check="none", fallback="forbid"))
    dom.middle += lifecycle(poweroff="destroy", reboot="destroy" if k % 4 == 3 else "restart", crash="destroy")
    dev = dom.devices
    dev += serial_file(dom)
    if initrd == "initrd-net.img" or k % 5 == 4:
        dev.append(nic(["network", "user"][k % 2], source="default", model="virtio"))
    if k % 3 == 2:
        dev.append(disk(dom, bus="virtio", source=dom.img("scratch", "raw", "16M"), fmt="raw", driver={"cache": "unsafe"}))
    if k % 4 == 1:
        share = block(
            "filesystem", [el("source", dir=image("share", "dir", "-")), el("target", dir="hostshare"), el("readonly")], type="mount", accessmode="mapped"
        )
        dev.append(share)
    dev.append(el("memballoon", model="none") if k % 2 == 0 else balloon())
    if k % 4 == 2:
        dev.append(rng_urandom())
    dev.append(video("none") if k % 3 == 0 else "")


def numa_server(dom: Dom, k: int) -> None:
    """Database/compute servers with NUMA cells (mixed units), iothreads and memory hotplug slots."""
    rng = dom.rng
    dom.machine = machine_for(k, ["q35", "pc-i440fx-7.2", "pc-q35-7.2", "pc"])
    ncells = [2, 2, 4, 3][k % 4]
    threads = 2 if k % 3 == 0 else 1
    cores = 2
    cpus = ncells * cores * threads
    cell_gib = pick(rng, [1, 2, 4])
    total_kib = ncells * cell_gib * GiB
    dom.words += [f"{ncells}cells", f"{cpus}cpu", dom.machine]
    title_and_description(dom, hostname(["db", "pg", "mysql", "compute"][k % 4], dom.num), "database server")
    dom.head.append(metadata(virtops_tags(["db", pick(rng, ENVIRONMENTS)]), virtops_owner("dba", f"OPS-{1200 + k}")))
    hotplug = k % 3 == 1
    if hotplug:
        dom.resources.append(el("maxMemory", 64, slots=16, unit="GiB"))
        dom.words.append("hotplug")
    dom.resources += memory(total_kib, ["GiB", "KiB", "MiB", "none"][k % 4], total_kib if k % 2 else None)
    if k % 4 == 2:
        dom.resources.append(block("memoryBacking", [el("source", type="memfd"), el("access", mode="shared")]))
    dom.resources.append(vcpu(cpus, placement="static", current=cpus // 2 if k % 4 == 3 else None))
    dom.resources.append(el("iothreads", 2))
    dom.resources.append(block("cputune", [el("shares", 4096), el("period", 100000), el("quota", -1)]) if k % 2 == 0 else "")
    dom.os = os_block(dom, extra=boot_devs("hd"))
    dom.middle.append(features("acpi", "apic", "pae" if not dom.q35 else ""))
    units = [["GiB", "MiB", "KiB", None][(k + i) % 4] for i in range(ncells)]
    cells = []
    for i, unit in enumerate(units):
        lo, hi = i * cores * threads, (i + 1) * cores * threads - 1
        amount = {"GiB": cell_gib, "MiB": cell_gib * 1024, "KiB": cell_gib * GiB, None: cell_gib * GiB}[unit]
        cells.append((f"{lo}-{hi}", amount, unit))
    numa = numa_cells(cells, distances=k % 2 == 0)
    model = pick(rng, ["Westmere", "Nehalem", "qemu64", "Opteron_G2"])
    feats = [("disable", "vmx"), ("require", "x2apic")] if k % 3 == 2 else []
    dom.middle.append(cpu_custom(model, topology=(ncells, cores, threads), feats=feats, numa=numa))
    dom.middle.append(clock_linux())
    dom.middle += lifecycle(crash="coredump-restart" if k % 2 else "restart")
    dev = dom.devices
    dev.append(disk(dom, bus="virtio", source=dom.img("root", "qcow2", "40G"), driver={"cache": "none", "io": "native", "iothread": 1}))
    dev.append(
        disk(dom, bus="virtio", source=dom.img("data", "raw", "256M"), fmt="raw", driver={"cache": "none", "io": "native", "iothread": 2, "discard": "unmap"})
    )
    dev.append(nic("bridge", source="br0"))
    dev.append(nic("network", source="backend" if k % 2 else "default", model="virtio"))
    dev += serial_pty()
    dev.append(guest_agent())
    if k % 4 == 2:
        dev.append(
            block(
                "filesystem",
                [el("driver", type="virtiofs"), el("source", dir=image("share", "dir", "-")), el("target", dir="backups")],
                type="mount",
                accessmode="passthrough",
            )
        )
    dev.append(block("vsock", [el("cid", auto="no", address=100 + dom.num)], model="virtio") if k % 2 else "")
    dev.append(balloon(stats=5))
    dev.append(rng_urandom())


def legacy_appliance(dom: Dom, k: int) -> None:
    """Old appliances and 32-bit guests: old machine types, IDE, floppy, rtl8139/e1000, cirrus, localtime."""
    rng = dom.rng
    dom.machine = machine_for(k, ["pc-i440fx-2.12", "pc-i440fx-4.2", "pc-i440fx-3.1", "pc-i440fx-5.2", "pc-i440fx-2.9", "pc"])
    arch = "i686" if k % 4 == 1 else "x86_64"
    dom.words += [dom.machine, arch, ["firewall", "nas", "winxp-lab", "dos-tools", "voip"][k % 5]]
    if k % 2 == 0:
        dom.head.append(el("title", ["pfSense firewall", "FreeNAS 9", "Windows XP lab", "FreeDOS tools", "Asterisk PBX"][k % 5]))
    dom.resources += memory(pick(rng, [256, 512, 768, 1024]) * MiB, ["KiB", "M", "MiB", "none"][k % 4])
    dom.resources.append(el("vcpu", 1 if k % 3 else 2))
    dom.os = os_block(
        dom, arch=arch, extra=boot_devs(*(["cdrom", "hd"] if k % 2 else ["hd"])) + ([el("bootmenu", enable="yes", timeout=3000)] if k % 3 == 0 else [])
    )
    dom.middle.append(features("acpi", "apic", "pae") if k % 2 == 0 else features("acpi"))
    cpu_model = ["pentium3", "qemu32", "athlon", "n270", "coreduo", "core2duo"][k % 6] if arch == "i686" or k % 2 == 0 else None
    if cpu_model:
        dom.middle.append(cpu_custom(cpu_model, match=None, check=None, fallback=None))
    if k % 5 == 4:
        dom.middle.append(el("clock", offset="variable", adjustment=-3600, basis="localtime"))
    elif k % 2 == 0:
        dom.middle.append(el("clock", offset="localtime"))
    else:
        dom.middle.append(block("clock", [el("timer", name="rtc", tickpolicy="catchup")], offset="utc"))
    dom.middle += lifecycle(crash="restart")
    dev = dom.devices
    dev.append(el("emulator", "/usr/bin/qemu-system-i386" if arch == "i686" else "/usr/bin/qemu-system-x86_64"))
    fmt = "raw" if k % 2 else "qcow2"
    dev.append(
        disk(dom, bus="ide", source=dom.img("hda", fmt, "128M" if fmt == "raw" else "4G"), fmt=fmt, driver={"cache": "writethrough"} if k % 3 == 0 else None)
    )
    dev.append(cdrom(dom, "ide", "FreeDOS-1.3-LiveCD.iso" if k % 2 else None, dev="hdc"))
    if k % 2 == 0:
        dev.append(disk(dom, bus="fdc", source=None, fmt=None, device="floppy"))
    dev.append(el("controller", type="ide", index=0))
    dev.append(
        nic(["user", "network", "bridge"][k % 3], source="br0" if k % 3 == 2 else "default", model=["rtl8139", "e1000", "rtl8139", "e1000", "vmxnet3"][k % 5])
    )
    if k % 3 == 1:
        dev.append(nic("network", source="isolated", model="rtl8139"))
    dev.append(el("input", type="mouse", bus="ps2"))
    dev.append(el("input", type="keyboard", bus="ps2"))
    dev.append(vnc(listen="127.0.0.1", passwd="legacy" if k % 3 == 2 else None, keymap="en-us" if k % 2 else None, port=5900 + k if k % 4 == 3 else -1))
    dev.append(video(["cirrus", "vga", "cirrus", "vmvga", "vga"][k % 5], vram=16384 if k % 5 != 3 else None))
    sound = ["ac97", "es1370", "ich6", "ac97", "sb16"][k % 5]
    dev.append(el("sound", model=sound) if k % 2 == 0 or sound == "ac97" else "")
    dev.append(el("memballoon", model="none") if k % 2 else balloon())


def storage_server(dom: Dom, k: int) -> None:
    """Storage-heavy guests: many disks on virtio/SCSI/SATA/USB, shareable/readonly, cache/io/discard, iotune."""
    rng = dom.rng
    dom.machine = machine_for(k, ["q35", "pc-i440fx-7.2", "pc-q35-7.2", "pc"])
    dom.words += [dom.machine, ["ceph-osd", "nfs", "cluster-node", "backup", "minio"][k % 5]]
    dom.head.append(metadata(virtops_tags(["storage", pick(rng, ["nfs", "ceph", "backup"])])))
    dom.resources += memory(pick(rng, [2, 4]) * GiB, "GiB" if k % 2 else "MiB")
    dom.resources.append(vcpu(2, placement="static"))
    if k % 2 == 0:
        dom.resources.append(el("iothreads", 2))
    dom.resources.append(block("blkiotune", [el("weight", [500, 800, 250, 1000][k // 3 % 4])]) if k % 3 == 0 else "")
    dom.os = os_block(dom)
    dom.middle.append(features("acpi", "apic"))
    dom.middle.append(cpu_custom(pick(rng, TCG_CPU_MODELS), topology=(1, 2, 1)))
    dom.middle.append(el("clock", offset="utc"))
    dom.middle += lifecycle()
    dev = dom.devices
    root_driver: dict[str, object] = {"cache": "none", "io": ["native", "io_uring", "threads"][k % 3], "discard": "unmap"}
    if k % 2 == 0:
        root_driver["iothread"] = 1
    dev.append(disk(dom, bus="virtio", source=dom.img("root", "qcow2", "20G"), driver=root_driver, boot=1, serial=f"ROOT{dom.num:04d}"))
    dev.append(block("controller", [el("driver", queues=2)] if k % 2 else [], type="scsi", index=0, model="virtio-scsi"))
    for i in range(2 + k % 2):
        drv: dict[str, object] = {"cache": pick(rng, ["none", "writeback", "directsync"]), "discard": pick(rng, ["unmap", "ignore"])}
        if k % 4 == i:
            drv["detect_zeroes"] = "unmap" if drv["discard"] == "unmap" else "on"
        drv["error_policy"] = "stop" if i == 0 else None
        drv["rerror_policy"] = "report" if i == 0 else None
        extra = [el("blockio", logical_block_size=512, physical_block_size=4096)] if i == 1 else []
        dev.append(disk(dom, bus="scsi", source=dom.img(f"osd{i}", "qcow2", "100G"), driver=drv, serial=f"OSD{dom.num:03d}{i}", extra=extra))
    if k % 2 == 0:
        dev.append(
            disk(
                dom,
                bus="virtio",
                source=image(f"shared/cluster-{k // 2}.img", "raw", "128M"),
                fmt="raw",
                driver={"cache": "none", "io": "native"},
                shareable=True,
            )
        )
    if k % 3 == 1:
        dev.append(disk(dom, bus="virtio", source=image("shared/golden-config.img", "raw", "8M"), fmt="raw", readonly=True))
    if k % 2 == 1:
        dev.append(disk(dom, bus="sata", source=dom.img("sata-scratch", "raw", "64M"), fmt="raw", driver={"cache": "unsafe"}))
    if k % 4 == 3:
        iotune = block("iotune", [el("total_iops_sec", 2000), el("total_bytes_sec", 104857600)])
        dev.append(disk(dom, bus="virtio", source=dom.img("throttled", "qcow2", "10G"), driver={"cache": "none"}, extra=[iotune]))
    if k % 5 == 2:
        dev.append(disk(dom, bus="usb", source=dom.img("usbstick", "raw", "32M"), fmt="raw"))
        dev.append(usb_controller(dom))
    dev.append(nic("bridge", source="br-storage", model="virtio", extra=[el("mtu", size=9000)] if k % 2 == 0 else [], boot=2))
    dev.append(nic("network", source="default"))
    dev += serial_pty(isa_model=k % 2 == 0)
    dev.append(guest_agent())
    dev.append(el("memballoon", model="none") if k % 3 == 2 else balloon())


def uefi_variants(dom: Dom, k: int) -> None:
    """Linux guests with every UEFI form libvirt 9.0 accepts: autoselection, explicit pflash loader, secure boot."""
    rng = dom.rng
    forms = [
        ("q35", "efi-auto"),
        ("pc-q35-7.2", "efi-secure-auto"),
        ("q35", "efi-secure-off"),
        ("q35", "loader-4m"),
        ("pc-q35-7.2", "loader-secure-ms"),
        ("q35", "loader-nvram-path"),
        ("pc-i440fx-7.2", "loader-4m"),
        ("pc-q35-7.2", "loader-2m-legacy"),
        ("pc", "efi-auto"),
        ("q35", "loader-secure-snakeoil"),
        ("pc-q35-7.1", "efi-auto"),
    ]
    dom.machine, form = forms[k % len(forms)]
    short, os_id, media = UNIX_OSES[(k + 3) % len(UNIX_OSES)]
    dom.words += [form, short, dom.machine]
    dom.head.append(metadata(libosinfo(os_id), virtops_tags(["uefi"])))
    dom.resources += memory(pick(rng, [1, 2, 4]) * GiB, pick(rng, ["KiB", "MiB", "GiB"]))
    dom.resources.append(vcpu(2, placement="static"))
    firmware, extra, secure = firmware_form(dom, form)
    boot = boot_devs("hd", "network") if k % 2 else boot_devs("hd")
    if dom.machine == "pc-q35-7.1":
        dom.words.append("bootmenu")
        boot += [el("bootmenu", enable="yes", timeout=5000), el("smbios", mode="emulate")]
    dom.os = os_block(dom, firmware=firmware, extra=[*extra, *boot])
    dom.middle.append(features("acpi", "apic", smm=secure))
    dom.middle.append(cpu_custom(pick(rng, TCG_CPU_MODELS[:6]), topology=(1, 2, 1)) if k % 2 else el("cpu", mode="host-model", check="partial"))
    dom.middle.append(clock_linux())
    dom.middle += lifecycle()
    dom.middle.append(pm_off())
    dev = dom.devices
    dev.append(disk(dom, bus="virtio" if k % 3 else "scsi", source=dom.img("root", "qcow2", "20G"), driver={"discard": "unmap"}))
    if k % 3 == 0:
        dev.append(el("controller", type="scsi", index=0, model="virtio-scsi"))
    dev.append(cdrom(dom, "sata" if k % 3 else "scsi", media if k % 2 == 0 else None))
    dev.append(nic("network", source="default"))
    dev += serial_pty()
    dev.append(guest_agent())
    if k % 3 != 1:
        dev.append(tpm("tpm-crb" if dom.q35 else "tpm-tis", version="1.2" if dom.machine == "pc-i440fx-7.2" else "2.0"))
    if k % 2:
        dev.append(vnc(listen_child=True, listen="0.0.0.0", passwd="uefi-vnc" if k % 4 == 1 else None))
        dev.append(video("virtio"))
    else:
        dev.append(spice(listen="127.0.0.1"))
        dev.append(spice_channel())
        dev.append(video("bochs" if k % 4 == 0 else "qxl"))
    dev.append(usb_controller(dom))
    dev.append(tablet())
    dev.append(balloon())
    dev.append(rng_urandom())


def headless_server(dom: Dom, k: int) -> None:
    """Serial-console servers with several NICs (direct/macvtap, bridge, network), watchdog and panic devices."""
    rng = dom.rng
    dom.machine = machine_for(k, ["q35", "pc", "pc-q35-7.2", "pc-i440fx-7.2"])
    modes = ["bridge", "vepa", "private", "passthrough"]
    dom.words += [dom.machine, f"direct-{modes[k % 4]}" if k % 3 != 2 else "bridges", "headless"]
    if k % 2:
        title_and_description(dom, hostname(pick(rng, ["router", "dns", "vpn", "proxy"]), dom.num), "network appliance")
    dom.head.append(metadata(virtops_tags(["headless", pick(rng, TAGS), pick(rng, ENVIRONMENTS)])))
    dom.resources += memory(pick(rng, [1, 2]) * GiB, "GiB", None)
    cpus = 2 if k % 2 else 4
    dom.resources.append(vcpu(cpus, placement="static", current=2 if cpus == 4 and k % 4 == 0 else None))
    dom.os = os_block(dom, extra=boot_devs("hd"))
    dom.middle.append(features("acpi", "apic", el("pmu", state="off") if k % 3 == 0 else "", el("vmcoreinfo", state="on") if dom.q35 else ""))
    dom.middle.append(cpu_custom(pick(rng, TCG_CPU_MODELS), topology=(1, cpus, 1), feats=[("disable", "svm"), ("optional", "aes")] if k % 2 else []))
    if k % 4 == 2:
        dom.middle.append(el("clock", offset="timezone", timezone="Europe/Berlin"))
    elif k % 2:
        dom.middle.append(block("clock", [el("timer", name="rtc", tickpolicy="catchup"), el("timer", name="pit", tickpolicy="delay")], offset="utc"))
    else:
        dom.middle.append(el("clock", offset="utc"))
    dom.middle += lifecycle(crash=["coredump-destroy", "restart", "destroy", "coredump-restart"][k % 4])
    dom.middle.append(pm_off())
    dev = dom.devices
    dev.append(disk(dom, bus="virtio", source=dom.img("root", "qcow2", "16G"), driver={"cache": "none", "io": "native"}))
    explicit_mac = k % 3 == 0
    if k % 3 != 2:
        dev.append(nic("direct", source=pick(rng, ["eth0", "enp1s0", "eno1"]), mode=modes[k % 4], mac=mac_for(dom.num, 0) if explicit_mac else None))
        dev.append(nic("network", source="default", mac=mac_for(dom.num, 1) if explicit_mac else None))
    else:
        dev.append(nic("bridge", source="br-wan", extra=[el("link", state="up")]))
        dev.append(nic("bridge", source="br-lan", model="e1000e" if dom.q35 else "e1000"))
        dev.append(nic("bridge", source="br-dmz", extra=[el("link", state="down")]))
    if k % 4 == 1:
        dev.append(nic("ethernet", target=f"tap-mgmt{k}", model="virtio"))
    dev.append(el("controller", type="usb", model="none"))
    dev += serial_pty(isa_model=k % 2 == 1)
    dev.append(guest_agent(path=f"/var/lib/libvirt/qemu/channel/target/{dom.name}.org.qemu.guest_agent.0" if k % 4 == 1 else None))
    dev.append(video("none") if k % 2 == 0 else "")
    dev.append(el("graphics", type="vnc", port=-1, autoport="yes", listen="127.0.0.1") if k % 4 == 3 else "")
    dev.append(el("watchdog", model=["i6300esb", "ib700"][k % 2], action=["reset", "poweroff", "pause", "none"][k % 4]))
    dev.append(el("panic", model="isa") if k % 2 == 0 else "")
    dev.append(balloon(stats=30) if k % 2 else el("memballoon", model="none"))
    dev.append(block("rng", [el("backend", model="builtin")], model="virtio") if k % 3 == 1 else rng_urandom())


def dumped(dom: Dom, k: int) -> None:
    """`virsh dumpxml --inactive` style: explicit uuid, MACs, PCI addresses, controller indexes."""
    rng = dom.rng
    dom.machine = ["pc-i440fx-7.2", "pc-q35-7.2"][k % 2]
    dom.words += ["uuid-mac-addresses", dom.machine]
    dom.head.append(el("uuid", uuid_for(dom.num)))
    if k % 2 == 0:
        dom.head.append(el("title", f"restored from backup {2023 + k % 2}-1{k % 3}-0{k % 9 + 1}"))
    dom.head.append(metadata(libosinfo(UNIX_OSES[k % 4][1])))
    mem = pick(rng, [1, 2]) * GiB
    dom.resources += memory(mem, "KiB", mem)
    dom.resources.append(vcpu(2, placement="static"))
    dom.os = os_block(dom, extra=boot_devs("hd"))
    dom.middle.append(features("acpi", "apic", vmport_off=True))
    dom.middle.append(
        cpu_custom("qemu64", match="exact", check="partial", fallback="allow") if k % 2 else el("cpu", mode="custom", match="exact", check="none")
    )
    dom.middle.append(clock_linux())
    dom.middle += lifecycle()
    dom.middle.append(pm_off())
    if dom.q35:
        dumped_q35_devices(dom, k)
    else:
        dumped_i440fx_devices(dom, k)


def pci(bus: int, slot: int, function: int = 0, multifunction: bool = False) -> str:
    return el(
        "address",
        type="pci",
        domain="0x0000",
        bus=f"0x{bus:02x}",
        slot=f"0x{slot:02x}",
        function=f"0x{function:x}",
        multifunction="on" if multifunction else None,
    )


def with_address(xml: str, address: str) -> str:
    """Insert an <address> before the closing tag of a block element."""
    head, _newline, closing = xml.rpartition("\n")
    return f"{head}\n  {address}\n{closing}"


def dumped_i440fx_devices(dom: Dom, k: int) -> None:
    dev = dom.devices
    dev.append(el("emulator", "/usr/bin/qemu-system-x86_64"))
    dev.append(with_address(disk(dom, bus="virtio", source=dom.img("root", "qcow2", "20G")), pci(0, 7)))
    dev.append(with_address(cdrom(dom, "ide", None, dev="hda"), el("address", type="drive", controller=0, bus=0, target=0, unit=0)))
    dev.append(block("controller", [pci(0, 1, 2)], type="usb", index=0, model="piix3-uhci"))
    dev.append(el("controller", type="pci", index=0, model="pci-root"))
    dev.append(block("controller", [pci(0, 1, 1)], type="ide", index=0))
    dev.append(block("controller", [pci(0, 6)], type="virtio-serial", index=0))
    for i, slot in enumerate([0x03, 0x0A, 0x0B][: 1 + k % 3]):
        dev.append(with_address(nic("network" if i == 0 else "bridge", source="default" if i == 0 else f"br{i}", mac=mac_for(dom.num, i)), pci(0, slot)))
    dev += serial_pty(isa_model=True)
    dev.append(with_address(guest_agent(), el("address", type="virtio-serial", controller=0, bus=0, port=1)))
    dev.append(block("input", [el("address", type="usb", bus=0, port=1)], type="tablet", bus="usb"))
    dev.append(el("input", type="mouse", bus="ps2"))
    dev.append(el("input", type="keyboard", bus="ps2"))
    dev.append(block("graphics", [el("listen", type="address", address="127.0.0.1")], type="vnc", port=-1, autoport="yes", listen="127.0.0.1"))
    dev.append(el("audio", id=1, type="none"))
    dev.append(block("video", [el("model", type="vga", vram=16384, heads=1, primary="yes"), pci(0, 2)]))
    dev.append(block("memballoon", [pci(0, 8)], model="virtio"))
    dev.append(block("rng", [el("backend", "/dev/urandom", model="random"), pci(0, 9)], model="virtio"))


def dumped_q35_devices(dom: Dom, k: int) -> None:
    dev = dom.devices
    dev.append(el("emulator", "/usr/bin/qemu-system-x86_64"))
    dev.append(with_address(disk(dom, bus="virtio", source=dom.img("root", "qcow2", "20G"), driver={"discard": "unmap"}), pci(4, 0)))
    dev.append(with_address(cdrom(dom, "sata", None), el("address", type="drive", controller=0, bus=0, target=0, unit=0)))
    dev.append(block("controller", [pci(2, 0)], type="usb", index=0, model="qemu-xhci", ports=15))
    dev.append(block("controller", [pci(0, 0x1F, 2)], type="sata", index=0))
    dev.append(el("controller", type="pci", index=0, model="pcie-root"))
    for idx in range(1, 8):
        first = idx == 1
        dev.append(
            block(
                "controller",
                [el("model", name="pcie-root-port"), el("target", chassis=idx, port=f"0x{0x0F + idx:x}"), pci(0, 2, idx - 1, multifunction=first)],
                type="pci",
                index=idx,
                model="pcie-root-port",
            )
        )
    dev.append(block("controller", [pci(3, 0)], type="virtio-serial", index=0))
    for i in range(1 + k % 2):
        dev.append(with_address(nic("network", source="default" if i == 0 else "lab", mac=mac_for(dom.num, i)), pci(1 if i == 0 else 7, 0)))
    dev += serial_pty(isa_model=True)
    dev.append(with_address(guest_agent(), el("address", type="virtio-serial", controller=0, bus=0, port=1)))
    dev.append(block("input", [el("address", type="usb", bus=0, port=1)], type="tablet", bus="usb"))
    dev.append(el("input", type="mouse", bus="ps2"))
    dev.append(el("input", type="keyboard", bus="ps2"))
    dev.append(block("graphics", [el("listen", type="address", address="127.0.0.1")], type="spice", autoport="yes", listen="127.0.0.1"))
    dev.append(el("audio", id=1, type="spice"))
    dev.append(block("video", [el("model", type="virtio", heads=1, primary="yes"), pci(0, 1)]))
    dev.append(block("memballoon", [pci(5, 0)], model="virtio"))
    dev.append(block("rng", [el("backend", "/dev/urandom", model="random"), pci(6, 0)], model="virtio"))


PROFILES: list[tuple[str, Callable[[Dom, int], None], int]] = [
    ("virtinstall", virtinstall_linux, 16),
    ("windows", virtinstall_windows, 9),
    ("nova", nova_like, 13),
    ("pve", proxmox_like, 10),
    ("minimal", minimal, 12),
    ("kernelboot", kernel_boot, 8),
    ("numa", numa_server, 9),
    ("legacy", legacy_appliance, 10),
    ("storage", storage_server, 10),
    ("uefi", uefi_variants, 11),
    ("headless", headless_server, 8),
    ("dumped", dumped, 6),
]


def schedule() -> list[tuple[str, Callable[[Dom, int], None], int]]:
    """Interleave the profiles round-robin so every slice of the corpus is varied."""
    remaining = {name: count for name, _func, count in PROFILES}
    made = dict.fromkeys(remaining, 0)
    order = []
    while any(remaining.values()):
        for name, func, _count in PROFILES:
            if remaining[name]:
                order.append((name, func, made[name]))
                made[name] += 1
                remaining[name] -= 1
    return order


def build_all() -> list[tuple[str, str]]:
    out = []
    for index, (name, func, k) in enumerate(schedule(), start=1):
        dom = Dom(num=index, rng=random.Random(f"{SEED}-{index}"), profile=name)
        func(dom, k)
        out.append((f"{index:03d}-{dom.slug()}.xml", dom.render()))
    return out


def write_images_list() -> None:
    lines = [
        "# Disk images the corpus references; written by generate.py, created by make_images.sh.",
        f"# Paths are relative to {IMAGE_DIR}.  Columns: format virtual-size path [backing-file]; format 'dir' is a directory.",
    ]
    # Directories first, then images without a backing file, then the overlays on top of them.
    items = sorted(IMAGES.values(), key=lambda im: (im.fmt != "dir", im.backing != "", im.path))
    for im in items:
        rel = im.path.removeprefix(IMAGE_DIR + "/")
        backing = im.backing.removeprefix(IMAGE_DIR + "/")
        lines.append(" ".join(x for x in (im.fmt, im.size, rel, backing) if x))
    lines.extend(handwritten_images())
    IMAGES_LIST.write_text("\n".join(lines) + "\n")


def handwritten_images() -> list[str]:
    """The hand-written tail of the current images.txt (from the marker line on), kept as it is."""
    if not IMAGES_LIST.exists():
        return []
    old = IMAGES_LIST.read_text().splitlines()
    starts = [i for i, line in enumerate(old) if line.startswith(HANDWRITTEN_IMAGES_MARKER)]
    return old[starts[0] :] if starts else []


def is_generated(path: Path) -> bool:
    """A domains/*.xml file this script writes (numbered below HANDWRITTEN_FIRST), as opposed to a hand-written one."""
    number = path.name[:3]
    return not (number.isdigit() and int(number) >= HANDWRITTEN_FIRST)


def main() -> int:
    files = build_all()
    if len(files) >= HANDWRITTEN_FIRST:
        raise SystemExit(f"generate.py: {len(files)} files would reach the hand-written ones from {HANDWRITTEN_FIRST:03d}; renumber those first")
    DOMAINS_DIR.mkdir(exist_ok=True)
    for old in DOMAINS_DIR.glob("*.xml"):
        if is_generated(old):
            old.unlink()
    for filename, xml in files:
        (DOMAINS_DIR / filename).write_text(xml)
    write_images_list()
    print(f"wrote {len(files)} domain files to {DOMAINS_DIR} and {len(IMAGES)} images/directories to {IMAGES_LIST}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
