# Copyright: (c) 2026, virtops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Names in the libvirt inventory: which hypervisors to read (the ``uris`` option),
the label of each, and the inventory host name of each domain.

The host name rule: a domain name found on one hypervisor only is the host name
as is; a domain name found on several hypervisors, or one that is reserved (it
names the controller, as ``localhost`` does, or an inventory group), becomes
``<name>@<label>`` on every hypervisor that has it. It depends only on the set of
(label, name) pairs and on the reserved names, never on the order of the URIs.
A qualified name holds an ``@``, which no sanitised group name holds.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from dataclasses import dataclass
from typing import Any, Iterable, Mapping
from urllib.parse import urlsplit

from ansible import constants as C

from ansible_collections.virtops.libvirt.plugins.module_utils._core.errors import VirtOpsError, redact_uri

LOCAL_LABEL = "localhost"
# Ansible's implicit localhost (C.LOCALHOST) and the names /etc/hosts usually gives the
# loopback addresses: a host named so, with ansible_host pointing at a guest, would take
# every task delegated to the controller to that guest.
CONTROLLER_NAMES = frozenset(
    {
        "localhost",
        "localhost.localdomain",
        "localhost4",
        "localhost4.localdomain4",
        "localhost6",
        "localhost6.localdomain6",
        "ip6-localhost",
        "ip6-loopback",
    }
)
# Groups every inventory has.
IMPLICIT_GROUPS = frozenset({"all", "ungrouped"})


@dataclass(frozen=True)
class Hypervisor:
    """One libvirt connection to read, and the label naming it in the inventory."""

    uri: str
    label: str

    @property
    def shown_uri(self) -> str:
        """The URI as messages show it: without a password."""
        return redact_uri(self.uri)

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
                f"The URIs '{clash.shown_uri}' and '{hypervisor.shown_uri}' both have the hypervisor label "
                f"'{hypervisor.label}'. Give each its own label in option uris, for example: uris: [{{uri: "
                f"'{hypervisor.shown_uri}', name: <label>}}]."
            )
        found.append(hypervisor)
    if not found:
        raise VirtOpsError("Option uris lists no URI: list at least one, or leave uris out to read option uri.")
    return found


def _hypervisor(entry: Any) -> Hypervisor:
    uri: Any
    label: Any
    if isinstance(entry, str):
        uri, label = entry, None
    elif isinstance(entry, Mapping):
        unknown = sorted(str(key) for key in entry if key not in ("uri", "name"))
        if unknown:
            raise VirtOpsError(f"An entry of option uris has unknown keys {unknown}; it may have 'uri' and 'name'.")
        uri, label = entry.get("uri"), entry.get("name")
    else:
        raise VirtOpsError(f"An entry of option uris must be a URI or a dict with 'uri' and 'name', not a {type(entry).__name__}.")
    if not isinstance(uri, str) or not uri.strip():
        raise VirtOpsError("An entry of option uris has no URI (its 'uri' is missing, empty or not a string).")
    uri = uri.strip()
    if label is None:
        return Hypervisor(uri, default_label(uri))
    if not isinstance(label, str) or not label.strip() or "@" in label:
        raise VirtOpsError(f"The name of URI '{redact_uri(uri)}' in option uris must be a non-empty string without '@', not {label!r}.")
    return Hypervisor(uri, label.strip())


def names_the_controller(name: str) -> bool:
    """Whether a host of this name would stand for the controller: Ansible's implicit
    localhost, one of the loopback addresses' usual names (in any case), or a loopback
    or unspecified address."""
    if name in C.LOCALHOST or name.lower().rstrip(".") in CONTROLLER_NAMES:
        return True
    if not (name[:1].isdigit() or ":" in name):  # no address: spare the parse
        return False
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


@dataclass(frozen=True)
class ReservedNames:
    """Names no domain keeps as its host name: the controller's, and those of inventory
    groups, given as exact names and as the start of sanitised group names made from
    data (``tag_`` for ``tag_<tag>``). ``all`` and ``ungrouped`` are always reserved."""

    groups: frozenset[str] = frozenset()
    group_prefixes: tuple[str, ...] = ()

    def why(self, name: str) -> str | None:
        """Why ``name`` is reserved, or None when it is not."""
        if names_the_controller(name):
            return "it would stand for the controller (localhost)"
        if name in IMPLICIT_GROUPS or name in self.groups or self._made_from_data(name):
            return "it is the name of an inventory group, or of a group this configuration makes"
        return None

    def _made_from_data(self, name: str) -> bool:
        # A sanitised name holds word characters only (so never the '@' of a qualified name).
        return bool(self.group_prefixes) and name.startswith(self.group_prefixes) and not C.INVALID_VARIABLE_NAMES.search(name)


def host_names(names_by_label: Mapping[str, Iterable[str]], reserved: ReservedNames = ReservedNames()) -> dict[tuple[str, str], str]:
    """The inventory host name of every (label, domain name).

    ``names_by_label`` holds every domain name of every hypervisor read, before
    any filter, so that a name does not change with a filter or a domain's state.
    """
    pairs = {(label, name) for label, names in names_by_label.items() for name in names}
    seen = Counter(name for _label, name in pairs)
    qualified = {name for name, count in seen.items() if count > 1 or reserved.why(name)}
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
