"""The shared reader of domain facts on libvirt's test driver: a constant number
of bulk calls, the size from the statistics or from info()."""

from __future__ import annotations

from ansible_collections.virtops.libvirt.plugins.module_utils._info.facts import FactsReader, Record


def test_size_comes_from_the_statistics_when_the_driver_has_them(client):
    domain = client.find("test")
    reader = FactsReader(client)
    with_size = Record("test", domain, {"vcpu.current": 4, "balloon.maximum": 2 * 1024 * 1024})
    assert reader.size(with_size) == (4, 2 * 1024 * 1024)
    assert reader.size(Record("test", domain, {"state.state": 1})) == (2, 8 * 1024 * 1024)  # from info()


def test_core_facts_cost_a_constant_number_of_calls(client, make_domain):
    for index in range(20):
        make_domain(f"vm{index}")
    seen = []
    client.observe = lambda func: seen.append(func.__name__)
    reader = FactsReader(client)
    records = reader.records()
    assert len(records) == 21
    assert seen == ["getAllDomainStats", "listAllDomains", "listAllDomains", "listAllDomains"]
    facts = {record.name: reader.facts(record, reader.status(record)) for record in records}
    assert facts["vm3"]["state"] == "shutoff" and facts["vm3"]["persistent"] and facts["vm3"]["id"] is None
    assert facts["test"]["state"] == "running" and facts["test"]["id"] is not None
