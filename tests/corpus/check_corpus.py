"""Check the domain XML corpus against a real libvirt (QEMU driver).

For every file in tests/corpus/domains/ (or the subset given on the command line):

1. static checks: file name ``NNN-slug.xml``, ``<name>corpus-NNN</name>``, ``type='qemu'``,
   no ``<hostdev>``, every disk image under the corpus image directory exists;
2. define it with ``VIR_DOMAIN_DEFINE_VALIDATE`` and read back the inactive XML;
3. re-define the same original text with only the UUID and the interface MACs that
   libvirt assigned carried over (what an idempotent module must do), and check the
   inactive XML is unchanged (compared as strings, with and without secrets);
4. check graphics passwords are hidden unless VIR_DOMAIN_XML_SECURE is asked for;
5. undefine it (with NVRAM, managed save and snapshot metadata).

It prints one line per file, the category counts of the selection, and a closing
``corpus: N passed, M failed`` line; the exit code is 1 if any file failed.

    .venv/bin/python tests/corpus/check_corpus.py                 # all files, qemu:///system
    .venv/bin/python tests/corpus/check_corpus.py 7 012 domains/020-*.xml
    .venv/bin/python tests/corpus/check_corpus.py --stats-only --markdown

Only domains named ``corpus-*`` are ever defined or undefined; none is started.
"""

from __future__ import annotations

import argparse
import difflib
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DOMAINS_DIR = HERE / "domains"
MAKE_IMAGES = HERE / "make_images.sh"
IMAGE_DIR = "/var/lib/virtops/corpus-images"
FILE_RE = re.compile(r"^(\d{3})-[a-z0-9][a-z0-9.-]*\.xml$")
NAME_PREFIX = "corpus-"
NAMESPACES = {
    "http://libosinfo.org/xmlns/libvirt/domain/1.0": "libosinfo",
    "https://virtops.dev/xmlns/libvirt/1": "virtops",
    "http://openstack.org/xmlns/libvirt/nova/1.1": "nova",
}


@dataclass
class Result:
    path: Path
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems


# ---------------------------------------------------------------------------
# Selecting files
# ---------------------------------------------------------------------------


def select_files(args: Iterable[str]) -> list[Path]:
    """Arguments may be paths, globs relative to tests/corpus, or file numbers (7, 007)."""
    every = sorted(DOMAINS_DIR.glob("*.xml"))
    chosen: list[Path] = []
    for arg in args:
        chosen.extend(resolve_arg(arg, every))
    if not list(args):
        chosen = every
    return sorted(dict.fromkeys(p.resolve() for p in chosen))


def resolve_arg(arg: str, every: list[Path]) -> list[Path]:
    if arg.isdigit():
        found = [p for p in every if p.name.startswith(f"{int(arg):03d}-")]
    elif any(c in arg for c in "*?["):
        found = sorted(HERE.glob(arg)) or sorted(Path().glob(arg))
    else:
        path = Path(arg)
        found = [path] if path.exists() else [HERE / arg] if (HERE / arg).exists() else []
    if not found:
        raise SystemExit(f"check_corpus.py: no corpus file matches {arg!r}")
    return found


# ---------------------------------------------------------------------------
# Static checks
# ---------------------------------------------------------------------------


def static_problems(path: Path, root: ET.Element) -> list[str]:
    problems = []
    match = FILE_RE.match(path.name)
    if not match:
        problems.append("file name is not NNN-short-description.xml")
    elif root.findtext("name") != f"{NAME_PREFIX}{match.group(1)}":
        problems.append(f"<name> is {root.findtext('name')!r}, expected {NAME_PREFIX}{match.group(1)}")
    if root.tag != "domain" or root.get("type") != "qemu":
        problems.append("root element must be <domain type='qemu'>")
    if root.find("devices/hostdev") is not None:
        problems.append("<hostdev> is not allowed in the corpus")
    for source in root.iterfind("devices/disk/source"):
        file = source.get("file")
        if file is None:
            continue
        if not file.startswith(IMAGE_DIR + "/"):
            problems.append(f"disk image outside {IMAGE_DIR}: {file}")
        elif not Path(file).exists():
            problems.append(f"missing disk image {file} (run make_images.sh)")
    return problems


# ---------------------------------------------------------------------------
# Carrying libvirt's generated identifiers over to the original text
# ---------------------------------------------------------------------------

INTERFACE_OPEN = re.compile(r"<interface\b[^>]*>")


def assigned_ids(xml: str) -> tuple[str, list[str]]:
    root = ET.fromstring(xml)
    macs = [iface.find("mac").get("address", "") for iface in root.iterfind("devices/interface")]  # type: ignore[union-attr]
    return root.findtext("uuid") or "", macs


def carry_over(text: str, uuid: str, macs: list[str] | None) -> str:
    """The original text with <uuid> and every interface's <mac> added where they are missing (macs=None: uuid only)."""
    if "<uuid>" not in text:
        text = re.sub(r"^([ \t]*)(<name>[^<]*</name>)", lambda m: f"{m.group(1)}{m.group(2)}\n{m.group(1)}<uuid>{uuid}</uuid>", text, count=1, flags=re.M)
    if macs is None:
        return text
    pieces = []
    pos = 0
    opens = list(INTERFACE_OPEN.finditer(text))
    if len(opens) != len(macs):
        raise ValueError(f"{len(opens)} <interface> elements in the file but {len(macs)} in libvirt's XML")
    for match, mac in zip(opens, macs, strict=True):
        pieces.append(text[pos : match.start()])
        pieces.append(with_mac(text, match, mac))
        pos = match.end()
    pieces.append(text[pos:])
    return "".join(pieces)


def with_mac(text: str, match: re.Match[str], mac: str) -> str:
    """The interface opening tag, followed by a <mac> element unless the interface already has one."""
    tag = match.group(0)
    line_start = text.rfind("\n", 0, match.start()) + 1
    indent = text[line_start : match.start()]
    mac_el = f"<mac address='{mac}'/>"
    if tag.endswith("/>"):
        return f"{tag[:-2].rstrip()}>\n{indent}  {mac_el}\n{indent}</interface>"
    end = text.find("</interface>", match.end())
    if "<mac " in text[match.end() : end]:
        return tag
    return f"{tag}\n{indent}  {mac_el}"


# ---------------------------------------------------------------------------
# The libvirt round trip
# ---------------------------------------------------------------------------


def libvirt_module() -> Any:
    import libvirt  # only needed when talking to libvirt, not for --stats-only

    libvirt.registerErrorHandler(lambda *_: None, None)
    return libvirt


def undefine_flags(lv: Any) -> int:
    return lv.VIR_DOMAIN_UNDEFINE_NVRAM | lv.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | lv.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA


def undefine_if_present(lv: Any, conn: Any, name: str) -> None:
    if not name.startswith(NAME_PREFIX):
        raise ValueError(f"refusing to touch domain {name!r}: not a corpus domain")
    try:
        dom = conn.lookupByName(name)
    except lv.libvirtError:
        return
    if dom.isActive():
        raise RuntimeError(f"domain {name} is running; corpus domains are never started, leaving it alone")
    dom.undefineFlags(undefine_flags(lv))


def diff(a: str, b: str) -> str:
    lines = difflib.unified_diff(a.splitlines(), b.splitlines(), "first define", "re-define", lineterm="", n=1)
    return "\n".join(list(lines)[:40])


def round_trip(lv: Any, conn: Any, name: str, text: str) -> list[str]:
    inactive = lv.VIR_DOMAIN_XML_INACTIVE
    secure = inactive | lv.VIR_DOMAIN_XML_SECURE
    problems = []
    undefine_if_present(lv, conn, name)
    try:
        dom = conn.defineXMLFlags(text, lv.VIR_DOMAIN_DEFINE_VALIDATE)
        first, first_secure = dom.XMLDesc(inactive), dom.XMLDesc(secure)
        uuid, macs = assigned_ids(first_secure)
        again = carry_over(text, uuid, macs)
        dom = conn.defineXMLFlags(again, lv.VIR_DOMAIN_DEFINE_VALIDATE)
        second, second_secure = dom.XMLDesc(inactive), dom.XMLDesc(secure)
        if first_secure != second_secure:
            problems.append("re-define with uuid/MACs carried over changed the XML:\n" + diff(first_secure, second_secure))
        elif first != second:
            problems.append("re-define changed the XML (without secrets):\n" + diff(first, second))
        problems.extend(secret_problems(text, first, first_secure))
        problems.extend(control_problems(lv, conn, text, uuid, second_secure))
    except lv.libvirtError as exc:
        problems.append(f"libvirt refused it: {exc.get_error_message()}")
    finally:
        undefine_if_present(lv, conn, name)
    return problems


def control_problems(lv: Any, conn: Any, text: str, uuid: str, reference: str) -> list[str]:
    """Negative controls, so that a pass means something: without the carried-over ids libvirt must refuse or change."""
    problems = []
    if "<uuid>" not in text:
        try:
            conn.defineXMLFlags(text, lv.VIR_DOMAIN_DEFINE_VALIDATE)
            problems.append("control: re-defining without <uuid> was accepted (expected 'already exists with uuid')")
        except lv.libvirtError:
            pass
    if len(INTERFACE_OPEN.findall(text)) > len(re.findall(r"<mac address=", text)):
        dom = conn.defineXMLFlags(carry_over(text, uuid, None), lv.VIR_DOMAIN_DEFINE_VALIDATE)
        if dom.XMLDesc(lv.VIR_DOMAIN_XML_INACTIVE | lv.VIR_DOMAIN_XML_SECURE) == reference:
            problems.append("control: re-defining without the MACs left the XML unchanged (expected fresh MACs)")
    return problems


def secret_problems(text: str, plain: str, secure: str) -> list[str]:
    """Graphics passwords must be visible with VIR_DOMAIN_XML_SECURE only."""
    wanted = re.findall(r"passwd='([^']*)'", text)
    problems = []
    for password in wanted:
        if f"passwd='{password}'" not in secure:
            problems.append(f"password {password!r} missing from the SECURE XML")
    if wanted and "passwd=" in plain:
        problems.append("password visible in the XML read without VIR_DOMAIN_XML_SECURE")
    return problems


def check_file(lv: Any, conn: Any, path: Path) -> Result:
    start = time.monotonic()
    result = Result(path)
    text = path.read_text()
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        result.problems.append(f"not well-formed XML: {exc}")
        return result
    result.problems.extend(static_problems(path, root))
    name = root.findtext("name") or ""
    if not result.problems:
        result.problems.extend(round_trip(lv, conn, name, text))
    result.seconds = time.monotonic() - start
    return result


# ---------------------------------------------------------------------------
# Category counts
# ---------------------------------------------------------------------------


def categories(root: ET.Element) -> Iterator[str]:
    """Category keys for one domain; a key may repeat (counted per device and per file)."""
    yield from general_categories(root)
    yield from firmware_categories(root)
    yield from cpu_categories(root)
    yield from disk_categories(root)
    yield from nic_categories(root)
    yield from other_device_categories(root)


def children(root: ET.Element, tag: str) -> list[ET.Element]:
    element = root.find(tag)
    return list(element) if element is not None else []


def general_categories(root: ET.Element) -> Iterator[str]:
    os_type = root.find("os/type")
    yield f"machine: {os_type.get('machine', '(default)') if os_type is not None else '(default)'}"
    if os_type is not None and os_type.get("arch") == "i686":
        yield "arch: i686"
    for tag in ("memory", "currentMemory", "maxMemory"):
        element = root.find(tag)
        if element is not None:
            yield f"{tag} unit: {element.get('unit', '(none = KiB)')}"
    vcpu = root.find("vcpu")
    if vcpu is not None:
        yield from (f"vcpu: {attr}" for attr in ("placement", "current", "cpuset") if vcpu.get(attr))
    optional = ("uuid", "title", "description", "sysinfo", "iothreads", "cputune", "blkiotune", "memoryBacking", "pm")
    yield from (f"has: {tag}" for tag in optional if root.find(tag) is not None)
    for child in children(root, "metadata"):
        uri = child.tag.partition("}")[0].lstrip("{")
        yield f"metadata: {NAMESPACES.get(uri, uri)}"
    for feature in children(root, "features"):
        yield f"features: {feature.tag}"
    clock = root.find("clock")
    if clock is not None:
        yield f"clock offset: {clock.get('offset')}"
        yield from (f"clock timer: {t.get('name')}" for t in clock.iterfind("timer"))
    for event in ("on_poweroff", "on_reboot", "on_crash"):
        if root.find(event) is not None:
            yield f"{event}: {root.findtext(event)}"


def firmware_categories(root: ET.Element) -> Iterator[str]:
    os_el = root.find("os")
    if os_el is None:
        return
    loader = os_el.find("loader")
    if os_el.get("firmware") == "efi":
        yield "firmware: UEFI (all forms)"
        yield "firmware: UEFI autoselect (os firmware='efi')"
    elif loader is not None:
        yield "firmware: UEFI (all forms)"
        yield "firmware: UEFI explicit pflash loader"
    else:
        yield "firmware: BIOS"
    secure_feature = os_el.find("firmware/feature[@name='secure-boot']")
    if (loader is not None and loader.get("secure") == "yes") or (secure_feature is not None and secure_feature.get("enabled") == "yes"):
        yield "firmware: secure boot"
    if os_el.find("nvram") is not None and os_el.findtext("nvram"):
        yield "firmware: explicit nvram path"
    if os_el.find("kernel") is not None:
        yield "boot: direct kernel boot"
    if os_el.find("boot") is not None:
        yield "boot: <os><boot dev>"
    if root.find("devices/*/boot") is not None:
        yield "boot: per-device boot order"
    if os_el.find("bootmenu") is not None:
        yield "boot: bootmenu"


def cpu_categories(root: ET.Element) -> Iterator[str]:
    cpu = root.find("cpu")
    if cpu is None:
        yield "cpu: (no <cpu>)"
        return
    yield f"cpu mode: {cpu.get('mode', '(none)')}"
    model = cpu.findtext("model")
    if model:
        yield f"cpu model: {model}"
    if cpu.find("topology") is not None:
        yield "cpu: topology"
    if cpu.find("feature") is not None:
        yield "cpu: feature policies"
    cells = cpu.findall("numa/cell")
    if cells:
        yield "NUMA: any"
        yield f"NUMA: {len(cells)} cells"
        yield from (f"NUMA cell unit: {cell.get('unit', '(none = KiB)')}" for cell in cells)


def disk_categories(root: ET.Element) -> Iterator[str]:
    for disk in root.iterfind("devices/disk"):
        target, driver = disk.find("target"), disk.find("driver")
        device = disk.get("device", "disk")
        yield f"disk bus: {target.get('bus') if target is not None else '?'}"
        yield f"disk device: {device}"
        if device == "cdrom":
            yield "cdrom: with media" if disk.find("source") is not None else "cdrom: empty"
        yield from (f"disk: {flag}" for flag in ("readonly", "shareable", "serial", "boot", "iotune", "blockio") if disk.find(flag) is not None)
        if driver is not None:
            yield f"disk format: {driver.get('type', '(unset)')}"
            for attr in ("cache", "io", "discard", "detect_zeroes", "iothread", "error_policy"):
                if driver.get(attr):
                    yield f"disk {attr}: {driver.get(attr) if attr != 'iothread' else 'set'}"
    for ctrl in root.iterfind("devices/controller"):
        yield f"controller: {ctrl.get('type')} {ctrl.get('model', '')}".rstrip()


def nic_categories(root: ET.Element) -> Iterator[str]:
    for iface in root.iterfind("devices/interface"):
        yield f"NIC type: {iface.get('type')}"
        model = iface.find("model")
        yield f"NIC model: {model.get('type') if model is not None else '(default)'}"
        if iface.find("mac") is not None:
            yield "NIC: explicit mac"
        if iface.get("type") == "direct":
            yield f"NIC direct mode: {iface.find('source').get('mode')}"  # type: ignore[union-attr]
        yield from (f"NIC: {tag}" for tag in ("target", "mtu", "virtualport", "driver", "link", "boot") if iface.find(tag) is not None)


def other_device_categories(root: ET.Element) -> Iterator[str]:
    devices = root.find("devices")
    if devices is None:
        return
    graphics = devices.findall("graphics")
    if not graphics:
        yield "graphics: none (headless)"
    for g in graphics:
        yield f"graphics: {g.get('type')}"
        if g.get("passwd"):
            yield "graphics: with passwd (secret)"
        if g.get("autoport") == "no":
            yield "graphics: fixed port"
    for v in devices.iterfind("video/model"):
        yield f"video: {v.get('type')}"
    for tag in ("sound", "watchdog", "memballoon", "tpm", "panic", "vsock", "audio", "redirdev"):
        for element in devices.iterfind(tag):
            yield f"{tag}: {element.get('model') or element.get('type') or 'yes'}"
    for tpm in devices.iterfind("tpm/backend"):
        yield f"tpm backend: {tpm.get('type')} {tpm.get('version', '')}".rstrip()
    for ch in devices.iterfind("channel"):
        yield f"channel: {ch.get('type')} {ch.find('target').get('name')}"  # type: ignore[union-attr]
    for tag in ("serial", "console"):
        for element in devices.iterfind(tag):
            yield f"{tag}: {element.get('type')}"
    for inp in devices.iterfind("input"):
        yield f"input: {inp.get('type')} on {inp.get('bus')}"
    for rng in devices.iterfind("rng/backend"):
        yield f"rng backend: {rng.get('model')} {rng.text or ''}".rstrip()
    for fs in devices.iterfind("filesystem"):
        driver = fs.find("driver")
        yield f"filesystem: {driver.get('type') if driver is not None else '9p'}"
    if devices.find(".//address") is not None:
        yield "devices: explicit <address>"


def count_categories(paths: list[Path]) -> tuple[Counter[str], Counter[str]]:
    """(files having each category, total occurrences of each category)."""
    files: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for path in paths:
        keys = list(categories(ET.fromstring(path.read_text())))
        total.update(keys)
        files.update(set(keys))
    return files, total


def print_categories(paths: list[Path], markdown: bool) -> None:
    files, total = count_categories(paths)
    print(f"\ncategories over {len(paths)} files ('files' = files having it; 'count' = occurrences, e.g. devices):")
    if markdown:
        print("\n| category | files | count |\n| --- | ---: | ---: |")
    for key in sorted(files, key=lambda k: (k.split(":")[0].lower(), k.lower())):
        if markdown:
            print(f"| {key} | {files[key]} | {total[key]} |")
        else:
            print(f"  {key:<55} {files[key]:>4} {total[key]:>5}")


# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("files", nargs="*", help="corpus files: paths, globs or numbers (default: all)")
    parser.add_argument("--uri", default="qemu:///system", help="libvirt URI (default: %(default)s)")
    parser.add_argument("--no-images", action="store_true", help="do not run make_images.sh first")
    parser.add_argument("--stats-only", action="store_true", help="only print the category counts, do not talk to libvirt")
    parser.add_argument("--no-stats", action="store_true", help="do not print the category counts")
    parser.add_argument("--markdown", action="store_true", help="print the category counts as a Markdown table")
    return parser.parse_args(argv)


def run_checks(uri: str, paths: list[Path]) -> list[Result]:
    lv = libvirt_module()
    conn = lv.open(uri)
    try:
        results = []
        for path in paths:
            result = check_file(lv, conn, path)
            status = "PASS" if result.ok else "FAIL"
            print(f"{status} {path.name} ({result.seconds:.2f}s)")
            for problem in result.problems:
                print("     " + problem.replace("\n", "\n     "))
            results.append(result)
        return results
    finally:
        conn.close()


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    paths = select_files(args.files)
    if args.stats_only:
        print_categories(paths, args.markdown)
        return 0
    if not args.no_images:
        subprocess.run(["bash", str(MAKE_IMAGES)], check=True)
    start = time.monotonic()
    results = run_checks(args.uri, paths)
    elapsed = time.monotonic() - start
    if not args.no_stats:
        print_categories(paths, args.markdown)
    failed = [r for r in results if not r.ok]
    print(f"\nchecked {len(results)} files against {args.uri} in {elapsed:.1f}s")
    if failed:
        print("failed: " + " ".join(r.path.name for r in failed))
    print(f"corpus: {len(results) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
