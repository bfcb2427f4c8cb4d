#!/usr/bin/python
# Copyright: (c) 2026, virtops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: virt_domain_info
short_description: List libvirt domains with their state, settings, tags and definition
version_added: 0.1.0
description:
  - Lists the domains of a libvirt connection (all of them, the one named O(name), or those in one of the
    states O(state)) with what libvirt says about each - state and reason as C(virsh domstate --reason)
    shows them, whether it is persistent, starts with the host, holds a managed-save image or runs on an
    older definition than its persistent one, its vCPUs and memory, and its tags.
  - Reads in bulk - one statistics call and three filtered listings for all domains together, then one
    definition read per domain reported (three more for a running persistent domain, to tell whether a
    restart is pending).
  - Never changes anything.
  - "Tags are kept in the domain's C(<metadata>), in the namespace C(https://virtops.dev/xmlns/libvirt/1):
    C(<virtops:tags xmlns:virtops='https://virtops.dev/xmlns/libvirt/1'><virtops:tag>web</virtops:tag></virtops:tags>).
    Any namespace prefix works; only the namespace URI counts."
author:
  - virtops maintainers (@virtops)
requirements:
  - lxml (Debian and Ubuntu package C(python3-lxml), Fedora and RHEL C(python3-lxml))
extends_documentation_fragment:
  - virtops.libvirt.connection
  - virtops.libvirt.attributes
attributes:
  check_mode:
    support: full
    details: The module only reads, so check mode returns exactly what a normal run returns.
  diff_mode:
    support: none
  idempotent:
    support: full
    details: It never reports a change.
options:
  name:
    description:
      - Report only the domain with this name. The task fails, naming the URI, when there is none.
      - Combined with O(state), the domain is reported only when it is in one of those states.
    type: str
  state:
    description:
      - Report only the domains in one of these states (in the collection's vocabulary, as
        M(virtops.libvirt.virt_power) reports them). V(saved) is a shut-off domain with a managed-save image;
        V(shutoff) does not include it.
    type: list
    elements: str
    choices: [running, paused, in_shutdown, shutoff, saved, crashed, pmsuspended]
  definition:
    description:
      - Also return each domain's persistent definition (for a transient domain, its live one) as
        RV(domains[].definition), with its secrets masked (graphics passwords, the cookies and query string of a
        network disk, an SEV session).
    type: bool
    default: false
  snapshots:
    description:
      - Also return each domain's snapshots as RV(domains[].snapshots) (names, and which one is current), at two more
        libvirt calls per domain reported; off by default so that reading many domains stays fast.
    type: bool
    default: false
notes:
  - A domain that disappears while it is being read (a transient domain shutting down) is left out of
    RV(domains), unless it is the one asked for with O(name).
seealso:
  - module: virtops.libvirt.virt_domain
  - module: virtops.libvirt.virt_power
  - name: libvirt domain XML metadata
    description: Where applications keep their own data in a domain definition.
    link: https://libvirt.org/formatdomain.html#general-metadata
"""

EXAMPLES = r"""
- name: List every domain
  virtops.libvirt.virt_domain_info:
    uri: qemu:///system
  register: all_domains

- name: Show the names of the running domains tagged web
  ansible.builtin.debug:
    msg: "{{ all_domains.domains | selectattr('state', 'eq', 'running') | selectattr('tags', 'contains', 'web') | map(attribute='name') }}"

- name: Read one domain, with its definition
  virtops.libvirt.virt_domain_info:
    name: web1
    definition: true
  register: web1_info

- name: Find the domains that are shut off or crashed on a remote hypervisor
  virtops.libvirt.virt_domain_info:
    uri: qemu+ssh://root@hv1.example.com/system
    state: [shutoff, crashed]
  register: stopped_domains

- name: Find the domains that need a restart to run on their current definition
  virtops.libvirt.virt_domain_info:
    state: [running, paused]
  register: live_domains

- name: List them
  ansible.builtin.debug:
    msg: "{{ live_domains.domains | selectattr('pending_restart') | map(attribute='name') }}"
"""

RETURN = r"""
domains:
  description:
    - The domains, sorted by name. Empty when none matches O(state).
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The domain's name.
      type: str
      sample: web1
    uuid:
      description: The domain's UUID.
      type: str
      sample: 8c1e3b7e-2a4f-4a55-9a1c-3f0f6f1b2d11
    id:
      description: The domain's ID while it is active, else V(null).
      type: int
      sample: 7
    state:
      description:
        - The domain's state in the collection's vocabulary, one of V(running), V(paused), V(in_shutdown),
          V(shutoff), V(saved) (shut off with a managed-save image), V(crashed), V(pmsuspended).
      type: str
      sample: shutoff
    reason:
      description: libvirt's reason for the state, as C(virsh domstate --reason) names it.
      type: str
      sample: shutdown
    state_text:
      description:
        - State and reason in virsh's words, as C(virsh domstate --reason) prints them.
          V(saved) is V(shut off) to virsh, V(in_shutdown) is V(in shutdown).
      type: str
      sample: shut off (shutdown)
    persistent:
      description: Whether the domain has a persistent definition (V(false) for a transient domain).
      type: bool
      sample: true
    autostart:
      description: Whether the domain starts when the host boots.
      type: bool
      sample: false
    vcpus:
      description: The number of vCPUs the domain has (while it runs, the number currently online).
      type: int
      sample: 2
    memory_mib:
      description: The domain's memory size (its C(<memory>)), in MiB, rounded down.
      type: int
      sample: 2048
    managed_save:
      description: Whether the domain holds a managed-save image, restored on its next start.
      type: bool
      sample: false
    pending_restart:
      description: Whether the domain runs on an older definition than its persistent one (V(false) when it is not active).
      type: bool
      sample: false
    tags:
      description:
        - The texts of the C(<tag>) elements of the C(<tags>) element in the C(<metadata>) of the domain's
          persistent definition (a transient domain's live one), in the namespace
          C(https://virtops.dev/xmlns/libvirt/1), in order. Empty when there are none.
      type: list
      elements: str
      sample: [web, production]
    definition:
      description:
        - The domain's persistent definition (for a transient domain, its live one), with its secrets masked.
      returned: when O(definition=true)
      type: str
      sample: "<domain type=\"kvm\">\n  <name>web1</name>\n  ...\n</domain>\n"
    snapshots:
      description:
        - The domain's snapshots, parents before their children, each as C(name) and C(current) (whether it is the
          domain's current snapshot). Empty when it has none, or the driver has no snapshots.
        - See M(virtops.libvirt.virt_snapshot) for what each one holds.
      returned: when O(snapshots=true)
      type: list
      elements: dict
      sample: [{name: before-upgrade, current: true}]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.virtops.libvirt.plugins.module_utils._info.module import (
    ARGUMENT_SPEC,
    run,
)


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    run(module)


if __name__ == "__main__":
    main()
