# Copyright: (c) 2026, virtops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# An Ansible plugin puts DOCUMENTATION and EXAMPLES before its imports:

from __future__ import annotations

DOCUMENTATION = r"""
name: libvirt
short_description: Inventory of the domains of one or more libvirt hypervisors
version_added: 0.1.0
description:
  - Makes every domain (virtual machine) of one or more libvirt hypervisors an inventory host, with its
    state, size, tags and IP addresses as C(libvirt_*) host variables, and groups by state, hypervisor and tag.
  - Reads from a configuration file whose name ends in C(.libvirt.yml) or C(.libvirt.yaml).
  - "The host name is the domain name. A domain name found on more than one hypervisor becomes
    C(<name>@<label>) on every one of them (for example C(web@kvm1) and C(web@kvm2)), whatever the order
    of O(uris); the label of a hypervisor is the host part of its URI (C(localhost) for a local URI) unless
    O(uris) names it. The rule counts every domain of every hypervisor that answered, before
    O(include_names), O(exclude_names) and O(states), so a host name does not change with a filter or a state."
  - "A domain whose name no host may have also becomes C(<name>@<label>), with a warning naming the domain
    and its host name: a name that stands for the controller (C(localhost), C(127.0.0.1), C(::1), the other
    names of the loopback addresses such as C(localhost.localdomain) or C(ip6-localhost), in any case, and
    any loopback address), so that C(delegate_to: localhost) never reaches a guest; and the name of a group
    (C(all), C(ungrouped), a group of an inventory source read before, a group the plugin can make -
    C(libvirt_<state>), C(libvirt_hypervisor_<label>), with O(drain_state_file) C(libvirt_drained), and with
    O(read_tags) any sanitised C(tag_...) name -
    a key of O(groups), and a sanitised name starting with the C(prefix) and C(separator) of an entry of
    O(keyed_groups)), since a host and a group cannot share a name. Like the rule above, this does not depend
    on the order of O(uris) or on the filters."
  - "Host variables: C(libvirt_uri), C(libvirt_hypervisor) (the label), C(libvirt_name), C(libvirt_uuid),
    C(libvirt_id) (null when shut off), C(libvirt_state) (V(running), V(paused), V(in_shutdown), V(shutoff),
    V(saved) - shut off with a managed-save image -, V(crashed), V(pmsuspended)), C(libvirt_state_reason)
    (as C(virsh domstate --reason) names it), C(libvirt_persistent), C(libvirt_autostart), C(libvirt_vcpus),
    C(libvirt_memory_mib), C(libvirt_ips) (IPv4 first, without loopback and link-local addresses),
    C(libvirt_addresses) (the same addresses, each a dict with C(interface), C(mac), C(network), C(bridge), C(family),
    C(address), C(prefix) and C(source); C(network) and C(bridge) are known when O(ansible_host_networks) names a
    network or bridge, else null), with O(read_tags), C(libvirt_tags), and with O(drain_state_file),
    C(libvirt_drained_from) for a domain moved off a drained hypervisor."
  - "Groups: C(libvirt_<state>) (for example C(libvirt_running), C(libvirt_shutoff)),
    C(libvirt_hypervisor_<label>), with O(read_tags) C(tag_<tag>), and with O(drain_state_file) C(libvirt_drained);
    group names are sanitised as Ansible does (C(kvm1.example.com) gives C(libvirt_hypervisor_kvm1_example_com))."
  - Every text that comes from a hypervisor (domain names, tags, reasons) is untrusted, so a
    C({{ }}) in a domain name or tag is never templated (ansible-core 2.19 and later leave such text
    untrusted as it is; on earlier versions it is marked unsafe).
  - "Reads in bulk: the state, size and flags of all the domains of a hypervisor cost a constant number of
    libvirt calls (one statistics call and three filtered listings), whatever the number of domains.
    Per-domain calls are made only for what is asked: O(read_tags) (one small metadata read per domain) and
    O(ip_sources) (one call per source tried, for active domains only), at most O(max_workers) at a time.
    Drivers whose statistics lack vCPUs and memory (libvirt's C(test) driver; QEMU has them) cost one more
    call per domain."
  - Several hypervisors are read at the same time, so the inventory takes as long as the slowest of them.
  - Nothing is ever changed on a hypervisor, and C(ansible_connection) is left alone.
author:
  - virtops maintainers (@virtops)
requirements:
  - libvirt-python
  - lxml (for O(read_tags), and for network or bridge names in O(ansible_host_networks))
extends_documentation_fragment:
  - constructed
  - inventory_cache
options:
  plugin:
    description: Marks the file as a configuration file of this plugin.
    type: str
    required: true
    choices: [virtops.libvirt.libvirt]
  uris:
    description:
      - The hypervisors to read, in the order their warnings are shown. An empty list is an error. Each entry is a libvirt URI, or a
        dict with the key C(uri) and an optional C(name), the label of that hypervisor in host names
        and group names (without C(@)).
      - Without a C(name), the label is the host part of the URI (V(kvm1.example.com) for
        V(qemu+ssh://root@kvm1.example.com/system)), or V(localhost) for a local URI such as
        V(qemu:///system). Two entries with the same label are an error; name one of them.
      - When not set, O(uri) is read. Setting both in the configuration file is an error.
    type: list
    elements: raw
  uri:
    description:
      - The only hypervisor to read, when O(uris) is not set.
    type: str
    default: qemu:///system
    env:
      - name: LIBVIRT_DEFAULT_URI
  include_names:
    description:
      - Only the domains whose name matches one of these shell-style patterns (C(fnmatch), case-sensitive,
        for example V(web-*)). An empty list includes every domain.
    type: list
    elements: str
    default: []
  exclude_names:
    description:
      - Leave out the domains whose name matches one of these shell-style patterns. Applied after
        O(include_names).
    type: list
    elements: str
    default: []
  states:
    description:
      - Only the domains in one of these states. An empty list includes every state.
      - V(saved) is a shut-off domain holding a managed-save image; V(shutoff) does not include it.
    type: list
    elements: str
    choices: [running, paused, in_shutdown, shutoff, saved, crashed, pmsuspended]
    default: []
  read_tags:
    description:
      - Read each domain's tags into C(libvirt_tags) and add it to one C(tag_<tag>) group per tag.
      - Tags are kept in the domain's persistent definition (the live one for a transient domain), in
        C(<metadata>), in the collection's namespace C(https://virtops.dev/xmlns/libvirt/1), as
        M(virtops.libvirt.virt_domain) writes them and M(virtops.libvirt.virt_domain_info) reports them.
      - Costs one small metadata read per domain kept by the filters; that is why it is off by default.
    type: bool
    default: false
  ip_sources:
    description:
      - Where to look for the IP addresses of an active domain, in order; the first source that knows
        any address gives C(libvirt_ips). Shut-off domains have none, and cost no call.
      - V(lease) asks libvirt for the DHCP leases of its own networks (no guest agent needed).
        V(agent) asks the QEMU guest agent (running domains only; it needs a read-write connection, so
        with it the plugin connects read-write, otherwise read-only). V(arp) reads the host's ARP table.
      - A source that fails for a domain is skipped without a warning (C(-vvv) shows a summary). An
        empty list reads no address.
    type: list
    elements: str
    choices: [lease, agent, arp]
    default: [lease]
  set_ansible_host:
    description:
      - Set C(ansible_host) to the first address of C(libvirt_ips) (or the one O(ansible_host_networks) chooses),
        when there is one.
      - A value already set for that host by an earlier inventory source is kept, and O(compose), as
        well as C(host_vars) files, override this one.
    type: bool
    default: true
  ansible_host_networks:
    description:
      - Which network's address becomes C(ansible_host), for guests with NICs on several networks. Each entry is a
        libvirt network name (V(default)), a host bridge name (V(br0)) or a CIDR (V(192.168.122.0/24), V(fd00::/64)).
      - C(ansible_host) is then the first address of C(libvirt_addresses) on the first entry that has one - in the
        order of this list, then IPv4 first and in the domain's NIC order. An address is on a network or bridge when
        the NIC with its MAC is attached to it in the domain's live definition; it is on a CIDR when the CIDR holds it.
      - A domain with no address on any entry gets no C(ansible_host) from this plugin; O(compose) can still set one
        (for example from C(libvirt_ips)).
      - A network or bridge name costs one more call per active domain that has an address (its live definition, to
        match each address's MAC to a NIC); CIDRs cost nothing more. An empty list (the default) takes the first
        address of C(libvirt_ips). An empty entry, an invalid CIDR (or one with host bits set) and a bare address
        are errors.
    type: list
    elements: str
    default: []
  max_workers:
    description:
      - How many per-domain calls (O(read_tags), O(ip_sources)) of a hypervisor are made at once. The
        plugin's own thread makes them; up to O(max_workers) - 1 helper threads join in once the calls left
        would take more than 2 ms at the pace so far, or at once for the C(agent) source.
    type: int
    default: 8
    env:
      - name: VIRTOPS_LIBVIRT_INVENTORY_MAX_WORKERS
    ini:
      - section: virtops_libvirt_inventory
        key: max_workers
  timeout:
    description:
      - Seconds to wait for the connections to remote hypervisors (URIs with a host name or a network
        transport), all opened at the same time. One not connected by then (a host that accepts the
        connection but never answers, a hung daemon, an ssh login that waits) is treated like one that cannot
        be reached, see O(strict_uris).
      - libvirt has no connection timeout of its own; without this, such a hypervisor would hold the
        inventory (and the playbook) for as long as the operating system keeps the connection.
      - A local URI (the daemon's own socket, as C(qemu:///system)) is connected directly; it answers or fails
        at once. Once connected, reading is not limited by this option; its bulk calls do not wait for busy
        domains.
    type: float
    default: 60
    env:
      - name: VIRTOPS_LIBVIRT_INVENTORY_TIMEOUT
    ini:
      - section: virtops_libvirt_inventory
        key: timeout
  drain_state_file:
    description:
      - "The state file of the playbooks C(virtops.libvirt.drain) and C(virtops.libvirt.undrain) (JSON), which records the
        hypervisors drained for maintenance and the domains moved off them. A relative path is relative to the folder of
        this configuration file; C(~) and environment variables (C($VAR), C(${VAR})) are expanded. Not set or empty: no
        file is read."
      - "Each hypervisor of O(uris) that the file records as drained - matched by its URI as written in O(uris),
        credentials hidden - has its group C(libvirt_hypervisor_<label>) even when it holds no domain or does not answer
        (it may be rebooting), with the group variable C(libvirt_hypervisor_drained=true), and that group is a child of
        the group C(libvirt_drained). A domain the file records as moved off a drained hypervisor (by UUID) gets the host
        variable C(libvirt_drained_from): the label of that hypervisor when it is in O(uris), else its URI (credentials
        hidden). The group C(libvirt_drained) is made whenever this option is set, so it may be empty."
      - A missing file means that no hypervisor is drained. A file that cannot be read, is not JSON or is not such a state
        file is an error naming the file. The file is read on every parse, with O(cache) too (the cache holds what the
        hypervisors answered, not the file).
    type: str
  strict_uris:
    description:
      - What to do when a hypervisor cannot be reached, does not answer within O(timeout), or refuses to
        list its domains. By default, one warning names it and the rest of the inventory loads. With
        V(true), the inventory source fails with an error naming the URI.
    type: bool
    default: false
notes:
  - "With O(cache), the data read from the hypervisors is kept under a key made from the path of the
    configuration file; while it is valid, the hypervisors are not contacted at all. After changing the
    configuration, refresh it (C(ansible-inventory --flush-cache) or C(meta: refresh_inventory)). Nothing
    is cached when a hypervisor could not be read."
  - "Cached data that cannot be used (a file the cache plugin cannot load, data of another shape, missing
    or mistyped facts, data written for other O(uris)) is ignored with a warning: the hypervisors are read
    instead, and a complete read replaces it."
  - "Messages (warnings, errors, C(-vvv) lines) show URIs without their passwords, and never a line of a
    file that libvirt could not parse. C(libvirt_uri) holds the URI as configured, password included, as
    playbooks connect with it: prefer ssh keys or libvirt's C(auth.conf) to a password in a URI."
  - "Tags whose metadata libvirt returns with a document type declaration are refused (C(-vvv) says so);
    the domain keeps no tags, and the rest of the inventory loads."
  - A domain that disappears while it is being read is left out.
seealso:
  - module: virtops.libvirt.virt_domain_info
  - module: virtops.libvirt.virt_drain
  - name: Connection URIs
    description: The libvirt URIs of each driver, local and remote.
    link: https://libvirt.org/uri.html
"""

EXAMPLES = r"""
# file: local.libvirt.yml - every domain of this host
plugin: virtops.libvirt.libvirt
uri: qemu:///system
---
# file: fleet.libvirt.yml - three hypervisors, tags, and addresses from the guest agent when
# there is no DHCP lease; 'web' on kvm1 and kvm2 becomes web@kvm1 and web@kvm2.
plugin: virtops.libvirt.libvirt
uris:
  - qemu+ssh://root@kvm1.example.com/system
  - qemu+ssh://root@kvm2.example.com/system
  - uri: qemu:///system
    name: controller
read_tags: true
ip_sources: [lease, agent]
exclude_names: ['*-template']
keyed_groups:
  - key: libvirt_autostart
    prefix: autostart
compose:
  ansible_user: "'debian'"
groups:
  big: libvirt_memory_mib >= 8192
---
# file: running.libvirt.yml - running domains only, cached for 10 minutes
plugin: virtops.libvirt.libvirt
uri: qemu:///system
states: [running]
cache: true
cache_plugin: ansible.builtin.jsonfile
cache_connection: ~/.cache/virtops-inventory
cache_timeout: 600
---
# file: /srv/ansible/fleet.libvirt.yml - with the state file the drain playbooks keep beside it
# (/srv/ansible/virtops-drain.json, their default when this file is the first -i source): a drained
# hypervisor's group is in libvirt_drained, and the domains moved off it have libvirt_drained_from.
plugin: virtops.libvirt.libvirt
uris:
  - uri: qemu+ssh://root@kvm1.example.com/system
    name: kvm1
  - uri: qemu+ssh://root@kvm2.example.com/system
    name: kvm2
drain_state_file: virtops-drain.json
"""

import json
import os
import time
from collections.abc import Mapping
from typing import Any

from ansible.errors import AnsibleParserError
from ansible.module_utils.basic import missing_required_lib
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable
from ansible.utils.unsafe_proxy import AnsibleUnsafeText, wrap_var

from ansible_collections.virtops.libvirt.plugins.module_utils._core.client import LIBVIRT_IMPORT_ERROR
from ansible_collections.virtops.libvirt.plugins.module_utils._core.errors import VirtOpsError, redact_uri
from ansible_collections.virtops.libvirt.plugins.module_utils._core.states import OBSERVED_STATES
from ansible_collections.virtops.libvirt.plugins.module_utils._info.addresses import Address, host_networks, pick
from ansible_collections.virtops.libvirt.plugins.plugin_utils._cache import cache_problem
from ansible_collections.virtops.libvirt.plugins.plugin_utils._names import (
    Hypervisor,
    ReservedNames,
    host_names,
    hypervisors,
)
from ansible_collections.virtops.libvirt.plugins.plugin_utils._reader import (
    CallCounter,
    ReadRequest,
    connect,
    read_connection,
)
from ansible_collections.virtops.libvirt.plugins.plugin_utils._threads import TimedOut, each_within, in_threads

# ansible-core 2.19 and later trust only text tagged as a template: text made here
# from libvirt's answers carries no tag, so it is never templated and needs no mark.
# Earlier versions template any plain str, so there it is marked unsafe.
_MARK_UNSAFE = isinstance(AnsibleUnsafeText(""), AnsibleUnsafeText)


def _untrusted(value):
    """Text from the hypervisor, marked so that it is never templated (numbers and
    flags need no mark)."""
    if not _MARK_UNSAFE:
        return value
    if isinstance(value, str):
        return AnsibleUnsafeText(value)
    return value if value is None or isinstance(value, (bool, int, float)) else wrap_var(value)


_REPEATING = {"libvirt_uri", "libvirt_hypervisor", "libvirt_state", "libvirt_state_reason", "libvirt_drained_from"}

_FACTS = ("name", "uuid", "id", "state", "state_reason", "persistent", "autostart", "vcpus", "memory_mib", "ips", "addresses", "tags")
# (host variable, fact of the reader), in the order hosts get them
_VARIABLES = tuple((f"libvirt_{fact}", fact) for fact in _FACTS)

# The state file of the drain playbooks (playbooks/drain.yml): the version this plugin reads.
DRAIN_STATE_VERSION = 1
DRAINED_GROUP = "libvirt_drained"


def drain_state_problem(data: Any) -> str | None:
    """What makes ``data`` (a parsed JSON document) no drain state file, or None."""
    if not isinstance(data, Mapping):
        return "its top level is not an object"
    if data.get("version") != DRAIN_STATE_VERSION:
        return f"its version is {data.get('version')!r}, not {DRAIN_STATE_VERSION}"
    hypervisors = data.get("hypervisors")
    if not isinstance(hypervisors, Mapping):
        return "it has no object 'hypervisors'"
    for uri, entry in hypervisors.items():
        where = f"hypervisors[{json.dumps(redact_uri(uri))}]"
        if not isinstance(entry, Mapping):
            return f"{where} is not an object"
        if not isinstance(entry.get("drained", False), bool):
            return f"{where}.drained is not true or false"
        if not isinstance(entry.get("label"), (str, type(None))):
            return f"{where}.label is not a string"
        moved = entry.get("moved", [])
        if not isinstance(moved, list):
            return f"{where}.moved is not a list"
        for index, item in enumerate(moved):
            if not (isinstance(item, Mapping) and isinstance(item.get("name"), str) and isinstance(item.get("to"), str)):
                return f"{where}.moved[{index}] is not an object with the strings 'name' and 'to'"
            if not isinstance(item.get("uuid"), (str, type(None))):
                return f"{where}.moved[{index}].uuid is not a string"
    return None


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):
    """The domains of libvirt hypervisors as inventory hosts."""

    NAME = "virtops.libvirt.libvirt"

    def verify_file(self, path) -> bool:
        return super().verify_file(path) and str(path).endswith((".libvirt.yml", ".libvirt.yaml"))

    def parse(self, inventory, loader, path, cache=True) -> None:
        super().parse(inventory, loader, path, cache)
        config = self._read_config_data(path)
        if LIBVIRT_IMPORT_ERROR is not None:
            raise AnsibleParserError(missing_required_lib("libvirt-python", url="https://pypi.org/project/libvirt-python/"))
        try:
            targets = hypervisors(self._uri_entries(config))
        except VirtOpsError as err:
            raise AnsibleParserError(f"{path}: {err.msg}") from err
        request = self._request()
        drained = self._drained(path)  # a broken state file fails before any hypervisor is contacted
        self._populate(self._snapshots(path, targets, request, cache), targets, drained)

    # -- options ------------------------------------------------------------------------
    def _uri_entries(self, config) -> list[Any]:
        if "uris" in config and "uri" in config:
            raise VirtOpsError("Set either option uri or option uris, not both.")
        if "uris" in config:  # an empty list is an error, never the default URI
            return list(self.get_option("uris") or [])
        return [self.get_option("uri")]

    def _request(self) -> ReadRequest:
        max_workers = self.get_option("max_workers")
        if max_workers < 1:
            raise AnsibleParserError(f"Option max_workers must be at least 1, not {max_workers}.")
        try:
            self._host_networks = host_networks(self.get_option("ansible_host_networks"), "ansible_host_networks")
        except VirtOpsError as err:
            raise AnsibleParserError(err.msg) from err
        return ReadRequest(
            include_names=tuple(self.get_option("include_names")),
            exclude_names=tuple(self.get_option("exclude_names")),
            states=tuple(self.get_option("states")),
            read_tags=self.get_option("read_tags"),
            ip_sources=tuple(self.get_option("ip_sources")),
            host_networks=self._host_networks if self.get_option("set_ansible_host") else (),
            max_workers=max_workers,
        )

    def _drained(self, config_path: str) -> dict[str, Mapping[str, Any]]:
        """The hypervisors the drain state file records as drained, by URI (credentials
        hidden); none when the option is not set or the file does not exist."""
        option = self.get_option("drain_state_file")
        if not option:
            return {}
        path = os.path.expanduser(os.path.expandvars(str(option)))
        if not os.path.isabs(path):
            path = os.path.join(os.path.dirname(os.path.abspath(config_path)), path)
        what = f"the drain state file '{path}' (option drain_state_file)"
        try:
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
        except FileNotFoundError:
            self._log(f"{what} does not exist: no hypervisor is drained")
            return {}
        except OSError as err:
            raise AnsibleParserError(f"Cannot read {what}: {err.strerror or err}.") from None
        except UnicodeDecodeError as err:
            raise AnsibleParserError(f"Cannot read {what}: it is not UTF-8 text ({err.reason} at byte {err.start}).") from None
        try:
            data = json.loads(text)
        except ValueError as err:  # the message gives a position, never the text (not chained: Ansible would repeat it)
            raise AnsibleParserError(f"Cannot read {what}: it is not JSON ({err}).") from None
        problem = drain_state_problem(data)
        if problem is not None:
            raise AnsibleParserError(f"Cannot read {what}: it is not a state file of the drain playbooks ({problem}).")
        drained = {str(uri): entry for uri, entry in data["hypervisors"].items() if entry.get("drained") is True}
        self._log(f"{what}: {len(drained)} drained hypervisor(s)")
        return drained

    # -- reading, or the cache ---------------------------------------------------------------
    def _snapshots(self, path: str, targets: list[Hypervisor], request: ReadRequest, cache: bool) -> list[dict[str, Any]]:
        """What each hypervisor holds: from the cache when it is on, usable and not
        being refreshed, else read (and then cached when every hypervisor answered)."""
        key = self.get_cache_key(path)
        cached = self._cached(key, [target.uri for target in targets]) if self.get_option("cache") and cache else None
        if cached is not None:
            return cached
        snapshots, complete = self._read(targets, request)
        if self.get_option("cache") and complete:
            self._cache[key] = snapshots
        return snapshots

    def _cached(self, key: str, uris: list[str]) -> list[dict[str, Any]] | None:
        """The snapshots in the cache, or None when there are none or they are unusable
        (then a warning says so; the next complete read replaces them)."""
        try:
            data = self._cache[key]
        except KeyError:
            return None
        except Exception:  # pylint: disable=broad-exception-caught  # whatever a cache plugin raises on a spoilt store
            problem: str | None = "the cache plugin could not load it"
        else:
            problem = cache_problem(data, uris)
            if problem is None:
                return data
        self.display.warning(f"{self.NAME}: ignored the inventory cache ({problem}); reading the hypervisors instead.")
        return None

    def _read(self, targets: list[Hypervisor], request: ReadRequest) -> tuple[list[dict[str, Any]], bool]:
        """Connect to every hypervisor at once, waiting at most the timeout, then read
        those connected: several at the same time, one thread each (libvirt calls
        release the GIL, so round trips to different hosts overlap), a single one in
        this thread. Errors and log lines are shown here, in the order of the URIs."""
        seconds = self.get_option("timeout")
        if not seconds > 0:
            raise AnsibleParserError(f"Option timeout must be a number of seconds above 0, not {seconds}.")
        calls = {target.uri: CallCounter() for target in targets}
        # A local daemon's socket answers or fails at once: connect here. Remote ones
        # can hang on the network: connect in threads, for at most the timeout.
        remote = [target for target in targets if target.remote]
        connections = {target.uri: self._connect(target, request, calls[target.uri]) for target in targets if not target.remote}
        connections.update(
            zip(
                (target.uri for target in remote),
                each_within(lambda target: self._connect(target, request, calls[target.uri]), remote, seconds, on_late=self._release),
            )
        )
        failures: dict[str, VirtOpsError] = {}
        connected: list[tuple[Hypervisor, Any]] = []
        for target in targets:
            conn = connections[target.uri]
            if isinstance(conn, TimedOut):
                failures[target.uri] = VirtOpsError(
                    f"The hypervisor at URI '{target.shown_uri}' did not answer within {seconds:g} s (option timeout). "
                    "Check that its host and libvirt daemon are up, or raise the timeout.",
                    uri=target.shown_uri,
                )
            elif isinstance(conn, VirtOpsError):
                failures[target.uri] = conn
            else:
                connected.append((target, conn))
        outcomes = dict(
            zip(
                (target.uri for target, _conn in connected),
                in_threads(lambda pair: self._read_one(pair[0], pair[1], request, calls[pair[0].uri]), connected, len(connected), eager=True),
            )
        )
        snapshots = []
        for target in targets:
            data, messages, error = outcomes.get(target.uri, (None, [], failures.get(target.uri)))
            for message in messages:
                self._log(message)
            if error is not None:
                if self.get_option("strict_uris"):
                    raise AnsibleParserError(error.msg) from error
                self.display.warning(f"{self.NAME}: skipped hypervisor '{target.label}': {error.msg}")
                continue
            snapshots.append({"uri": target.uri, "label": target.label, **data})
        return snapshots, len(snapshots) == len(targets)

    @staticmethod
    def _connect(target: Hypervisor, request: ReadRequest, calls: CallCounter):
        """A connection, or the VirtOpsError saying why there is none."""
        try:
            return connect(target.uri, request, calls)
        except VirtOpsError as err:
            return err

    @staticmethod
    def _release(late) -> None:
        """A connection made after the timeout, in its own thread: nobody reads it."""
        if not isinstance(late, VirtOpsError):
            late.close()

    @staticmethod
    def _read_one(target: Hypervisor, conn, request: ReadRequest, calls: CallCounter) -> tuple[Any, list[str], VirtOpsError | None]:
        """(data, log messages, error) of one connected hypervisor; nothing is shown from here."""
        messages: list[str] = []
        started = time.monotonic()
        try:
            data = read_connection(conn, request, messages.append)
        except VirtOpsError as err:
            return None, messages, err
        messages.append(
            f"{target.shown_uri}: {len(data['names'])} domains, {len(data['domains'])} kept, "
            f"{calls.total} libvirt calls {dict(sorted(calls.counts.items()))}, read in {time.monotonic() - started:.2f}s"
        )
        return data, messages, None

    def _log(self, message: str) -> None:
        self.display.vvv(f"{self.NAME}: {message}")

    # -- the inventory ---------------------------------------------------------------------
    def _populate(self, snapshots: list[dict[str, Any]], targets: list[Hypervisor], drained: dict[str, Mapping[str, Any]]) -> None:
        self._constructed = {key: self.get_option(key) for key in ("compose", "groups", "keyed_groups")}
        # the group of a drained hypervisor is made even when it did not answer
        labels = [snapshot["label"] for snapshot in snapshots]
        labels += [target.label for target in targets if target.label not in labels and target.shown_uri in drained]
        reserved = self._reserved_names(labels)
        names = host_names({snapshot["label"]: snapshot["names"] for snapshot in snapshots}, reserved)
        self._set_ansible_host = self.get_option("set_ansible_host")
        self._groups: dict[str, str] = {}
        self._wrapped: dict[tuple[str, Any], Any] = {}
        self._drained_from = self._mark_drained(targets, drained)
        for snapshot in snapshots:
            hypervisor_group = f"libvirt_hypervisor_{snapshot['label']}"
            if self._drained_from:
                snapshot = {**snapshot, "shown_uri": redact_uri(snapshot["uri"])}
            for domain in snapshot["domains"]:
                host = names[(snapshot["label"], domain["name"])]
                why = host != domain["name"] and reserved.why(domain["name"])  # renamed hosts only: rare
                if why:
                    self.display.warning(f"{self.NAME}: domain '{domain['name']}' of hypervisor '{snapshot['label']}' is the inventory host '{host}': {why}.")
                self._add_domain(host, snapshot, domain, hypervisor_group)

    def _mark_drained(self, targets: list[Hypervisor], drained: dict[str, Mapping[str, Any]]) -> dict[str, tuple[str, str]]:
        """Put the group of each drained hypervisor of ``targets`` (answering or not) in
        libvirt_drained, with libvirt_hypervisor_drained=true; return where each domain
        moved off a drained hypervisor came from, by UUID: (its label, or its URI when it
        is not read here; its URI)."""
        if self.get_option("drain_state_file"):  # there even when nothing is drained
            self._group(DRAINED_GROUP)
        labels = {target.shown_uri: target.label for target in targets}
        came_from: dict[str, tuple[str, str]] = {}
        for uri, entry in drained.items():
            label = labels.get(uri)
            if label is not None:
                group = self._group(f"libvirt_hypervisor_{label}")
                self.inventory.set_variable(group, "libvirt_hypervisor_drained", True)
                self.inventory.add_child(self._group(DRAINED_GROUP), group)
            for moved in entry.get("moved", ()):
                if moved.get("uuid"):
                    came_from[moved["uuid"].lower()] = (label if label is not None else uri, uri)
        return came_from

    def _reserved_names(self, labels: list[str]) -> ReservedNames:
        """The names a host of this source cannot have: the controller's (see ReservedNames),
        the groups already in the inventory, and every group this configuration can make,
        whatever the filters keep: the plugin's own, those of groups, and those of
        keyed_groups by their fixed start."""
        groups = set(self.inventory.groups)
        groups.update(f"libvirt_{state}" for state in OBSERVED_STATES)
        groups.update(self._sanitize_group_name(f"libvirt_hypervisor_{label}") for label in labels)
        if self.get_option("drain_state_file"):
            groups.add(DRAINED_GROUP)
        groups.update(self._sanitize_group_name(str(name)) for name in self._constructed["groups"] or {})
        prefixes = ["tag_"] if self.get_option("read_tags") else []
        for keyed in self._constructed["keyed_groups"] or []:
            if not isinstance(keyed, Mapping):
                continue
            prefix, separator = str(keyed.get("prefix", "")), str(keyed.get("separator", "_"))
            if not prefix and self.get_option("leading_separator") is False:
                separator = ""
            if prefix + separator:  # without a fixed start, its names are only known from the data
                prefixes.append(self._sanitize_group_name(prefix + separator))
            parent = keyed.get("parent_group")
            if isinstance(parent, str) and parent and "{" not in parent:
                groups.add(self._sanitize_group_name(parent))
        return ReservedNames(frozenset(groups), tuple(prefixes))

    def _add_domain(self, name: str, snapshot: dict[str, Any], domain: dict[str, Any], hypervisor_group: str) -> None:
        host = _untrusted(name)  # hypervisor text is never templated, host names included
        variables = {"libvirt_uri": snapshot["uri"], "libvirt_hypervisor": snapshot["label"]}
        for variable, fact in _VARIABLES:
            if fact in domain:
                variables[variable] = domain[fact]
        chosen = pick([Address(**address) for address in domain["addresses"]], self._host_networks) if self._set_ansible_host else None
        if chosen is not None:
            variables["ansible_host"] = chosen.address
        if self._drained_from:
            came_from = self._drained_from.get(str(domain.get("uuid")).lower())
            if came_from is not None and came_from[1] != snapshot["shown_uri"]:  # not back home yet
                variables["libvirt_drained_from"] = came_from[0]
        if _MARK_UNSAFE:
            variables = {variable: self._untrusted(variable, value) for variable, value in variables.items()}
        self._set_variables(host, variables)

        # add_host, not add_child: a group named like the host must never be taken for it
        self.inventory.add_host(host, self._group(hypervisor_group))
        self.inventory.add_host(host, self._group(f"libvirt_{domain['state']}"))
        for tag in domain.get("tags", ()):
            self.inventory.add_host(host, self._group(f"tag_{tag}"))

        if any(self._constructed.values()):
            strict = self.get_option("strict")
            hostvars = self.inventory.hosts[host].get_vars()
            self._set_composite_vars(self._constructed["compose"], hostvars, host, strict=strict)
            self._add_host_to_composed_groups(self._constructed["groups"], hostvars, host, strict=strict)
            self._add_host_to_keyed_groups(self._constructed["keyed_groups"], hostvars, host, strict=strict)

    def _set_variables(self, host: str, variables: dict[str, Any]) -> None:
        """Add the host with its variables. A new host takes them in one update: what
        Host.set_variable would store, as the names are fixed, valid and new to the host
        (checked by a unit test), at a third of the cost. A host another source added
        already gets each through set_variable, so that Ansible merges mappings as
        usual, and keeps an ansible_host set elsewhere."""
        known = self.inventory.hosts.get(host)
        if known is None:
            self.inventory.hosts[self.inventory.add_host(host)].vars.update(variables)
            return
        for variable, value in variables.items():
            if not (variable == "ansible_host" and variable in known.vars):
                known.set_variable(variable, value)

    def _untrusted(self, variable: str, value):
        """Text from the hypervisor, marked so that it is never templated. Values
        that repeat across hosts (URI, label, state, reason) are marked once."""
        if variable not in _REPEATING:
            return _untrusted(value)
        key = (variable, value)
        if key not in self._wrapped:
            self._wrapped[key] = _untrusted(value)
        return self._wrapped[key]

    def _group(self, group: str) -> str:
        """The inventory group for a name from libvirt, made (and sanitised) once."""
        if group not in self._groups:
            self._groups[group] = self.inventory.add_group(wrap_var(self._sanitize_group_name(group)))
        return self._groups[group]
