"""virt_clone as Ansible runs it, on libvirt's test driver: parameters in, one JSON
result out; check mode, diff and idempotency; hostile options refused before
anything is connected."""

from __future__ import annotations

import json

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.virtops.libvirt.plugins.modules import virt_clone

SOURCE = (
    "<domain type='test'><name>src</name><memory unit='MiB'>64</memory><os><type>hvm</type></os><devices>"
    "<disk type='volume' device='disk'><driver name='qemu' type='qcow2'/><source pool='default-pool' volume='src.qcow2'/><target dev='vda'/></disk>"
    "</devices></domain>"
)


def run_module(capsys, **args):
    with patch_module_args({"uri": "test:///default", "source": "src", "name": "web2", **args}), pytest.raises(SystemExit) as exited:
        virt_clone.main()
    result = json.loads(capsys.readouterr().out)
    result["rc"] = exited.value.code
    return result


@pytest.fixture
def source(conn):
    pool = conn.storagePoolLookupByName("default-pool")
    pool.createXML("<volume><name>src.qcow2</name><capacity>1048576</capacity><target><format type='qcow2'/></target></volume>", 0)
    yield conn.defineXML(SOURCE)
    for domain in conn.listAllDomains(0):
        if domain.name() != "test":
            domain.undefine()
    for volume in pool.listAllVolumes(0):
        volume.delete(0)


def test_check_mode_then_clone_then_nothing_to_do(source, conn, capsys):
    predicted = run_module(capsys, _ansible_check_mode=True, _ansible_diff=True)
    assert (predicted["rc"], predicted["changed"], predicted["domain"]["uuid"]) == (0, True, None)
    assert [diff["before"] for diff in predicted["diff"]] == ["", ""]
    made = run_module(capsys, _ansible_diff=True)
    assert made["changed"] and made["actions"] == predicted["actions"] and made["domain"]["uuid"] == conn.lookupByName("web2").UUIDString()
    disk = made["disks"][0]
    assert (disk["how"], disk["pool"], disk["volume"], disk["clone"]) == ("copy", "default-pool", "web2-vda.qcow2", "/default-pool/web2-vda.qcow2")
    assert 'volume="web2-vda.qcow2"' in predicted["diff"][0]["after"] or "volume='web2-vda.qcow2'" in predicted["diff"][0]["after"]
    again = run_module(capsys)
    assert (again["changed"], again["actions"], again["disks"]) == (False, [], made["disks"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"name": "we\x00b"}, "Option name holds a NUL character"),
        ({"source": " src"}, "Option source ' src' begins or ends with blanks"),
        ({"pool": "a/b"}, "Option pool: 'a/b' is refused as the name of a storage pool"),
        ({"volume_names": {"vda": "../x.qcow2"}}, "Option volume_names.vda: '../x.qcow2' is refused as the name of a volume"),
        ({"volume_names": {"vda": ["x"]}}, "Option volume_names.vda must be a volume name"),
    ],
)
def test_hostile_options_are_refused_before_connecting(capsys, args, message):
    result = run_module(capsys, uri="qemu+tcp://192.0.2.1/system", connect_timeout=0.5, **args)
    assert result["rc"] == 1 and message in result["msg"] and not result["changed"]
