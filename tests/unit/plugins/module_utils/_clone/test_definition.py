"""The clone's definition: the source's, without its identity (no libvirt needed)."""

from __future__ import annotations

from lxml import etree

from ansible_collections.virtops.libvirt.plugins.module_utils._clone import definition

SOURCE = """<domain type='kvm' id='3'>
  <name>src</name>
  <uuid>6695eb01-f6a4-8304-79aa-97f2502e193f</uuid>
  <genid>43dc0cf8-809b-4adb-9bea-a9abb5f3d90d</genid>
  <metadata><keep:x xmlns:keep='https://example.com/keep'/></metadata>
  <sysinfo type='smbios'><system><entry name='uuid'>6695eb01-f6a4-8304-79aa-97f2502e193f</entry><entry name='serial'>s1</entry></system></sysinfo>
  <devices>
    <interface type='bridge'>
      <mac address='52:54:00:aa:bb:cc'/><source bridge='br0'/><target dev='src-tap'/>
      <virtualport type='openvswitch'><parameters interfaceid='09b11c53-8b5c-4eeb-8f00-d84eaa0aaa4f' profileid='p'/></virtualport>
    </interface>
    <graphics type='vnc' port='5901' autoport='no' passwd='secret'/>
    <serial type='file'><source path='/var/log/src.log'/><target port='0'/></serial>
  </devices>
</domain>"""


def test_the_clone_loses_the_source_identity_and_keeps_the_rest():
    made = definition.clone_of(etree.fromstring(SOURCE), "web2")
    assert made.findtext("name") == "web2" and made.get("id") is None
    assert made.find("uuid") is None and made.find("devices/interface/mac") is None and made.find("devices/interface/target") is None
    assert made.find("genid") is not None and not made.find("genid").text
    assert [entry.get("name") for entry in made.iterfind("sysinfo/system/entry")] == ["serial"]
    assert made.find("devices/interface/virtualport/parameters").attrib == {"profileid": "p"}
    assert made.find("metadata")[0].tag == "{https://example.com/keep}x"
    assert made.find("devices/graphics").attrib == {"type": "vnc", "port": "5901", "autoport": "no", "passwd": "secret"}


def test_identity_aside_a_clone_does_not_differ():
    source = etree.fromstring(SOURCE)
    clone = definition.clone_of(source, "web2")
    etree.SubElement(clone, "uuid").text = "11111111-2222-3333-4444-555555555555"
    assert definition.differences(definition.clone_of(source, "web2"), clone) == []


def test_files_the_clone_writes_too_are_named():
    assert definition.file_outputs(etree.fromstring(SOURCE)) == ["<serial> /var/log/src.log"]
