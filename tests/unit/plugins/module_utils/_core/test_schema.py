"""A definition checked against libvirt's own schema (domain.rng): the verdict is
libvirt's (the test driver validates with the same schema when asked to), the
problems name the place, and where it cannot tell honestly it says None."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import libvirt
import pytest
from domain_samples import CANONICAL

from ansible_collections.virtops.libvirt.plugins.module_utils._core import schema
from ansible_collections.virtops.libvirt.plugins.module_utils._core import xml as dxml
from ansible_collections.virtops.libvirt.plugins.module_utils._core.errors import LibvirtCallError

CORPUS = Path(__file__).resolve().parents[5] / "tests" / "corpus" / "domains"
# Spread over the corpus's profiles: virt-install, Windows (EFI), Ceph storage, dumped
# with addresses, kernel boot, Nova, Proxmox-like NUMA, ...
CORPUS_NUMBERS = ("001", "002", "009", "012", "030", "038", "063", "075", "100", "122")

DOMAIN = """<domain type='test'>
  <name>schema-check</name>
  <memory unit='MiB'>64</memory>
  {top}
  <os><type>hvm</type></os>
  <devices>
    <disk type='file' device='disk'><source file='/a.img'/><target dev='vda' bus='virtio'/></disk>
    {devices}
  </devices>
</domain>"""


def domain(top: str = "", devices: str = "") -> str:
    return DOMAIN.format(top=top, devices=devices)


def libvirt_refuses_schema(conn, xml: str) -> bool:
    """Whether libvirt itself (the test driver, VIR_DOMAIN_DEFINE_VALIDATE) refuses
    ``xml`` for not matching its schema."""
    try:
        conn.defineXMLFlags(xml, libvirt.VIR_DOMAIN_DEFINE_VALIDATE).undefine()
    except libvirt.libvirtError as err:
        return err.get_error_code() == libvirt.VIR_ERR_XML_INVALID_SCHEMA
    return False


class OtherDaemon:
    """A connection whose daemon runs another libvirt than the local library."""

    raw = SimpleNamespace(getLibVersion=lambda: libvirt.getVersion() + 1)

    def call(self, what, func, *args, domain=None):
        return func(*args)


class UnreadableVersion(OtherDaemon):
    def call(self, what, func, *args, domain=None):
        raise LibvirtCallError(f"libvirt: cannot {what}: this function is not supported by the connection driver", libvirt.VIR_ERR_NO_SUPPORT)


def test_a_valid_definition_has_no_problems(conn, client):
    xml = domain()
    assert schema.schema_problems(dxml.parse_domain(xml), client) == []
    assert not libvirt_refuses_schema(conn, xml)


def test_canonical_sample_is_valid(client):
    assert schema.schema_problems(dxml.parse_domain(CANONICAL), client) == []


@pytest.mark.parametrize(
    ("top", "devices", "expected"),
    [
        ("<on_poweroff>explode</on_poweroff>", "", "/domain/on_poweroff: Error validating value 'explode'"),
        ("", "<disk type='file' device='disk'><source file='/b.img'/></disk>", "/domain/devices/disk[2]: Expecting an element target, got nothing"),
        ("", "<frobnicate/>", "/domain/devices/frobnicate: Element devices has extra content: frobnicate"),
        (
            "",
            "<disk type='file' device='disk'><source file='/b.img'/><target dev='vdb' bus='nope'/></disk>",
            "/domain/devices/disk[2]/target: Invalid attribute bus for element target (bus='nope')",
        ),
        ("", "<interface type='network'><mac address='zz'/><source network='default'/></interface>", "/domain/devices/interface/mac: "),
        ("<vcpu placement='anywhere'>2</vcpu>", "", "/domain/vcpu: Invalid attribute placement for element vcpu (placement='anywhere')"),
        ("<currentMemory>lots</currentMemory>", "", "/domain/currentMemory: Type unsignedLong doesn't allow value 'lots'"),
        ("<frob/>", "", "/domain/frob: Element domain has extra content: frob"),
    ],
)
def test_an_invalid_definition_names_the_place(conn, client, top, devices, expected):
    xml = domain(top, devices)
    problems = schema.schema_problems(dxml.parse_domain(xml), client)
    assert problems and len(problems) <= schema.MAX_PROBLEMS
    assert problems[0].startswith(expected), problems
    assert libvirt_refuses_schema(conn, xml)  # the prediction is libvirt's own verdict


def test_a_missing_required_element_is_named(client):
    problems = schema.schema_problems(dxml.parse_domain("<domain type='test'><memory>1024</memory></domain>"), client)
    assert problems == ["/domain: Expecting an element name, got nothing"]


def test_secrets_are_masked_in_problems(client):
    # (libvirt's schema allows no password on an RDP display with this attribute)
    xml = domain(devices="<graphics type='rdp' passwd='RDPSECRET' multiUser='x'/>")
    problems = schema.schema_problems(dxml.parse_domain(xml), client)
    assert problems and "RDPSECRET" not in " ".join(problems) and dxml.MASK in problems[0]


@pytest.mark.parametrize("namespace", ["https://virtops.dev/xmlns/libvirt/applied/1", "https://example.com/app"])
def test_namespaced_metadata_is_valid(conn, client, namespace):
    top = f"<metadata><app:record xmlns:app='{namespace}' desired='abc'><app:item n='1'>text</app:item></app:record></metadata>"
    xml = domain(top)
    assert schema.schema_problems(dxml.parse_domain(xml), client) == []
    assert not libvirt_refuses_schema(conn, xml)


APPLIED_NS = "https://virtops.dev/xmlns/libvirt/applied/1"


def with_record(root):
    """``root`` with a record in <metadata> made with lxml's API (as virt_domain adds
    its applied record), not parsed from text."""
    metadata = dxml.etree.SubElement(root, "metadata")
    dxml.etree.SubElement(metadata, f"{{{APPLIED_NS}}}applied", nsmap={"virtops": APPLIED_NS}, desired="abc", canonical="def")
    return root


def test_what_is_validated_is_what_is_sent(client):
    """A tree changed with lxml's API is checked as the text libvirt would receive
    (here <metadata> ends up after <devices>: the schema takes any order)."""
    assert schema.schema_problems(with_record(dxml.parse_domain(domain())), client) == []
    broken = with_record(dxml.parse_domain(domain("<on_poweroff>explode</on_poweroff>")))
    assert schema.schema_problems(broken, client) == ["/domain/on_poweroff: Error validating value 'explode'"]


@pytest.mark.parametrize("number", CORPUS_NUMBERS)
def test_corpus_definitions_are_valid(client, number):
    (path,) = CORPUS.glob(f"{number}-*.xml")
    assert schema.schema_problems(dxml.parse_domain(path.read_text(encoding="utf-8"), path.name), client) == []


def test_no_schema_installed_cannot_tell(client, tmp_path):
    assert schema.schema_problems(dxml.parse_domain(domain()), client, schema_dir=str(tmp_path / "nowhere")) is None


@pytest.mark.parametrize(
    "text",
    [
        "<grammar xmlns='http://relaxng.org/ns/structure/1.0'><start>",  # not well-formed
        "<grammar xmlns='http://relaxng.org/ns/structure/1.0'><include href='gone.rng'/></grammar>",  # a missing part
        "<grammar xmlns='http://relaxng.org/ns/structure/1.0'><start><ref name='undefined'/></start></grammar>",
        "not XML at all",
    ],
)
def test_a_broken_schema_cannot_tell(client, tmp_path, text):
    (tmp_path / schema.DOMAIN_SCHEMA).write_text(text, encoding="utf-8")
    assert schema.schema_problems(dxml.parse_domain(domain()), client, schema_dir=str(tmp_path)) is None


def test_another_libvirt_on_the_daemon_cannot_tell():
    # The local schema describes the local libvirt, not the daemon's.
    assert schema.schema_problems(dxml.parse_domain(domain()), OtherDaemon()) is None
    assert schema.schema_problems(dxml.parse_domain(domain("<frob/>")), OtherDaemon()) is None


def test_an_unreadable_daemon_version_cannot_tell():
    assert schema.schema_problems(dxml.parse_domain(domain()), UnreadableVersion()) is None


def test_the_schema_dir_is_any_relaxng(client, tmp_path):
    """Another schema (here a tiny one) is used as it is; its problems are named too."""
    (tmp_path / schema.DOMAIN_SCHEMA).write_text(
        """<grammar xmlns='http://relaxng.org/ns/structure/1.0'>
          <start><element name='domain'><attribute name='type'/><element name='name'><text/></element>
            <optional><element name='memory'><text/></element></optional></element></start>
        </grammar>""",
        encoding="utf-8",
    )
    tiny = str(tmp_path)
    assert schema.schema_problems(dxml.parse_domain("<domain type='test'><name>x</name></domain>"), client, tiny) == []
    problems = schema.schema_problems(dxml.parse_domain(domain()), client, tiny)
    assert problems == ["/domain/os: Did not expect element os there"]


def test_the_compiled_schema_is_cached(client):
    path = str(Path(schema.SCHEMA_DIR) / schema.DOMAIN_SCHEMA)
    schema.schema_problems(dxml.parse_domain(domain()), client)
    assert schema.load_schema(path) is schema.load_schema(path) is schema._SCHEMAS[path]
