# Copyright: (c) 2026, virtops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Names in the libvirt inventory: which hypervisors to read (the ``uris`` option),
the label of each, and the inventory host name of each domain.

The host name rule: a domain name found on one hypervisor only is the host name
as is; a domain name found on several hypervisors becomes ``<name>@<label>`` on
every one of them. It depends only on the set of (label, name) pairs, never on
the order of the URIs.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, Iterable, Mapping
from urllib.parse import urlsplit

from ansible_collections.virtops.libvirt.plugins.module_utils._core.errors import VirtOpsError

LOCAL_LABEL = "localhost"


@dataclass(frozen=True)
class Hypervisor:
    """One libvirt connection to read, and the label naming it in the inventory."""

    uri: str
    label: str

    @property
    def remote(self) -> bool:
        """Whether the URI reaches the daemon over a network (a host name, or a
        transport other than the local socket): only such a connection can hang on
        an unanswered network round trip."""
        try:
            parts = urlsplit(self.uri)
        except ValueError:
            return True
        return bool(parts.netloc) or parts.scheme.partition("+")[2] not in ("", "unix")


def default_label(uri: str) -> str:
    """The host part of the URI (no user, no port), or ``localhost`` for a local URI."""
    try:
        host = urlsplit(uri).hostname
    except ValueError:  # e.g. an unbalanced IPv6 bracket: let libvirt say what is wrong
        host = None
    return host or LOCAL_LABEL


def hypervisors(entries: Iterable[Any]) -> list[Hypervisor]:
    """The ``uris`` option's entries (a URI, or a dict with ``uri`` and optional
    ``name``) as hypervisors with unique labels, in the order given."""
    found: list[Hypervisor] = []
    for entry in entries:
        hypervisor = _hypervisor(entry)
        clash = next((other for other in found if other.label == hypervisor.label), None)
        if clash is not None:
            raise VirtOpsError(
                f"The URIs '{clash.uri}' and '{hypervisor.uri}' both have the hypervisor label '{hypervisor.label}'. "
                "Give each its own label in option uris, for example: uris: [{uri: "
                f"'{hypervisor.uri}', name: <label>}}].")
        found.append(hypervisor)
    if not found:
        raise VirtOpsError("Option uris lists no URI.")
    return found


def _hypervisor(entry: Any) -> Hypervisor:
    if isinstance(entry, str):
        uri, label = entry, None
    elif isinstance(entry, Mapping):
        unknown = sorted(str(key) for key in entry if key not in ("uri", "name"))
        if unknown:
            raise VirtOpsError(f"An entry of option uris has unknown keys {unknown}; it may have 'uri' and 'name'.")
        uri, label = entry.get("uri"), entry.get("name")
    else:
        raise VirtOpsError(f"An entry of option uris must be a URI or a dict with 'uri' and 'name', not {entry!r}.")
    if not isinstance(uri, str) or not uri.strip():
        raise VirtOpsError(f"An entry of option uris has no URI: {entry!r}.")
    uri = uri.strip()
    if label is None:
        return Hypervisor(uri, default_label(uri))
    if not isinstance(label, str) or not label.strip() or "@" in label:
        raise VirtOpsError(f"The name of URI '{uri}' in option uris must be a non-empty string without '@', not {label!r}.")
    return Hypervisor(uri, label.strip())


def host_names(names_by_label: Mapping[str, Iterable[str]]) -> dict[tuple[str, str], str]:
    """The inventory host name of every (label, domain name).

    ``names_by_label`` holds every domain name of every hypervisor read, before
    any filter, so that a name does not change with a filter or a domain's state.
    """
    pairs = {(label, name) for label, names in names_by_label.items() for name in names}
    seen = Counter(name for _label, name in pairs)
    qualified = {name for name, count in seen.items() if count > 1}
    while True:
        result = {pair: _host_name(pair, qualified) for pair in pairs}
        owners = Counter(result.values())
        # A unique name that reads like another domain's qualified name (a domain
        # literally named 'web@kvm1'): qualify it too. Labels hold no '@', so
        # qualified names never clash with each other and this ends.
        clashing = {pair[1] for pair, host in result.items() if owners[host] > 1} - qualified
        if not clashing:
            return result
        qualified |= clashing


def _host_name(pair: tuple[str, str], qualified: set[str]) -> str:
    label, name = pair
    return f"{name}@{label}" if name in qualified else name
