"""Single-field mutations of a corpus definition, shared by the property tests
(tests/integration/test_virt_domain_corpus.py) and the benchmark
(tests/perf/bench_domain.py): memory, vcpu, a disk source, a NIC model, the
description, each where it applies to the definition."""

from __future__ import annotations

import re


def mutations(xml: str) -> dict[str, str]:
    """Each single-field change that applies to this definition."""
    found = {}
    memory = re.search(r"(<memory(?: unit='(\w+)')?>)(\d+)(</memory>)", xml)
    if memory and "<numa>" not in xml:  # with NUMA cells libvirt sums their memory instead
        found["memory"] = xml.replace(memory.group(0), f"{memory.group(1)}{int(memory.group(3)) * 2}{memory.group(4)}", 1)
    vcpu = re.search(r"(<vcpu[^>]*>)(\d+)(</vcpu>)", xml)
    if vcpu and "current=" not in vcpu.group(1) and "<topology" not in xml and "<numa>" not in xml:
        found["vcpu"] = xml.replace(vcpu.group(0), f"{vcpu.group(1)}{int(vcpu.group(2)) + 1}{vcpu.group(3)}", 1)
    source = re.search(r"<source file='([^']+)'", xml)
    if source:
        found["disk source"] = xml.replace(source.group(0), f"<source file='{source.group(1)}.mutated'", 1)
    # (an interface with a <driver> keeps virtio-only settings, so leave its model alone)
    for nic in re.finditer(r"<interface.*?</interface>", xml, re.DOTALL):
        model = re.search(r"<model type='(\w+)'", nic.group(0))
        if model and "<driver" not in nic.group(0):
            other = "e1000" if model.group(1) != "e1000" else "virtio"
            changed_nic = nic.group(0).replace(model.group(0), f"<model type='{other}'", 1)
            found["nic model"] = xml.replace(nic.group(0), changed_nic, 1)
            break
    description = re.search(r"<description>[^<]*</description>", xml)
    found["description"] = (
        xml.replace(description.group(0), "<description>mutated by the corpus test</description>", 1)
        if description
        else xml.replace("</name>", "</name><description>added</description>", 1)
    )
    return found
