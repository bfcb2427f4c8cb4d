# Copyright: (c) 2026, virtops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The shape of what the inventory cache holds: one snapshot per hypervisor read,
as the reader makes it (``uri``, ``label``, ``names``: every domain name before
the filters, ``domains``: the facts of each domain kept).

A cache plugin hands back whatever its store holds: a file edited by hand, left by
another version or for another configuration may hold anything JSON can. ``cache_problem`` says
what makes such data unusable, naming places and types, never values (the store
may hold anything, secrets included).
"""

from __future__ import annotations

from typing import Any, Callable

from ansible_collections.virtops.libvirt.plugins.module_utils._core.states import OBSERVED_STATES


def _text(value: Any) -> bool:
    return isinstance(value, str)


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _flag(value: Any) -> bool:
    return isinstance(value, bool)


def _texts(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


_ADDRESS_KEYS = {"interface", "mac", "network", "bridge", "family", "address", "prefix", "source"}


def _addresses(value: Any) -> bool:
    """A list of addresses as the reader makes them (Address.as_dict())."""
    return isinstance(value, list) and all(
        isinstance(item, dict)
        and set(item) == _ADDRESS_KEYS
        and _text(item["address"])
        and _text(item["interface"])
        and _text(item["source"])
        and all(item[key] is None or _text(item[key]) for key in ("mac", "network", "bridge", "family"))
        and (item["prefix"] is None or _integer(item["prefix"]))
        for item in value
    )


# Each fact of a cached domain, and what its value must be.
_DOMAIN_FACTS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "name": (_text, "a string"),
    "uuid": (_text, "a string"),
    "id": (lambda value: value is None or _integer(value), "an integer or null"),
    "state": (lambda value: value in OBSERVED_STATES, f"one of {', '.join(OBSERVED_STATES)}"),
    "state_reason": (_text, "a string"),
    "persistent": (_flag, "a boolean"),
    "autostart": (_flag, "a boolean"),
    "vcpus": (_integer, "an integer"),
    "memory_mib": (_integer, "an integer"),
    "ips": (_texts, "a list of strings"),
    "addresses": (_addresses, "a list of addresses"),
}
_OPTIONAL_FACTS = {"tags": (_texts, "a list of strings")}


def cache_problem(data: Any, uris: list[str]) -> str | None:
    """Why ``data`` is not what the plugin can use for the hypervisors at ``uris`` (one
    snapshot each, in that order, as a complete read caches them), or None when it is."""
    if not isinstance(data, list):
        return f"it holds a {type(data).__name__}, not a list of hypervisors"
    labels: set[str] = set()
    for index, snapshot in enumerate(data, 1):
        problem = _snapshot_problem(snapshot, labels)
        if problem:
            return f"hypervisor {index} {problem}"
    if [snapshot["uri"] for snapshot in data] != uris:
        return "it was written for other uris"
    return None


def _snapshot_problem(snapshot: Any, labels: set[str]) -> str | None:
    if not isinstance(snapshot, dict):
        return f"is a {type(snapshot).__name__}, not a mapping"
    for key in ("uri", "label"):
        if not (_text(snapshot.get(key)) and snapshot[key]):
            return f"has no {key} (a non-empty string)"
    label = snapshot["label"]
    if "@" in label or label in labels:
        return "has a label with '@' or that of another hypervisor"
    labels.add(label)
    if not _texts(snapshot.get("names")):
        return "has no names (a list of strings)"
    if not isinstance(snapshot.get("domains"), list):
        return "has no domains (a list)"
    names = set(snapshot["names"])
    for index, domain in enumerate(snapshot["domains"], 1):
        problem = _domain_problem(domain, names)
        if problem:
            return f"domain {index} {problem}"
    return None


def _domain_problem(domain: Any, names: set[str]) -> str | None:
    if not isinstance(domain, dict):
        return f"is a {type(domain).__name__}, not a mapping"
    for fact, (valid, wanted) in _DOMAIN_FACTS.items():
        if fact not in domain:
            return f"has no {fact}"
        if not valid(domain[fact]):
            return f"has an unusable {fact} (not {wanted})"
    for fact, (valid, wanted) in _OPTIONAL_FACTS.items():
        if fact in domain and not valid(domain[fact]):
            return f"has an unusable {fact} (not {wanted})"
    if domain["name"] not in names:
        return "is not among the names of its hypervisor"
    return None
