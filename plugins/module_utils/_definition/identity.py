# Copyright: (c) 2026, virtops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Carrying a domain's identity into a new definition, so a re-define keeps its
UUID, MAC addresses and the IDs libvirt would otherwise generate anew."""

from __future__ import annotations

from ansible_collections.virtops.libvirt.plugins.module_utils._core.xml import copy as _copy
from ansible_collections.virtops.libvirt.plugins.module_utils._core.xml import etree


def with_identity(desired, current):
    """The desired definition carrying the current UUID and the MAC of every NIC
    the user left without one (matched in order), so a re-define keeps them."""
    result = _copy(desired)
    current_uuid = current.findtext("uuid")
    if result.find("uuid") is None and current_uuid:
        uuid = etree.Element("uuid")
        uuid.text = current_uuid
        name = result.find("name")
        (name.addnext(uuid) if name is not None else result.insert(0, uuid))
    written = {mac.get("address", "").lower() for mac in result.iterfind("devices/interface/mac")}
    spare = [mac.get("address") for mac in current.iterfind("devices/interface/mac") if mac.get("address", "").lower() not in written]
    for nic, mac in zip([nic for nic in result.iterfind("devices/interface") if nic.find("mac") is None], spare):
        nic.insert(0, etree.Element("mac", address=mac))
    _carry_generated(result, current)
    return result


def _carry_generated(result, current) -> None:
    """Values libvirt generates anew on every define when left empty: the VM
    generation ID and Open vSwitch port IDs (matched by NIC MAC address)."""
    genid, current_genid = result.find("genid"), current.findtext("genid")
    if genid is not None and not (genid.text or "").strip() and current_genid:
        genid.text = current_genid
    port_ids = {
        nic.find("mac").get("address", "").lower(): nic.find("virtualport/parameters").get("interfaceid")
        for nic in current.iterfind("devices/interface")
        if nic.find("mac") is not None and nic.find("virtualport/parameters[@interfaceid]") is not None
    }
    for nic in result.iterfind("devices/interface"):
        mac, port = nic.find("mac"), nic.find("virtualport[@type='openvswitch']")
        if mac is None or port is None or port.find("parameters[@interfaceid]") is not None:
            continue
        interface_id = port_ids.get(mac.get("address", "").lower())
        if interface_id:
            parameters = port.find("parameters")
            if parameters is None:
                parameters = etree.SubElement(port, "parameters")
            parameters.set("interfaceid", interface_id)
