#!/usr/bin/python
# Copyright: (c) 2026, virtops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: virt_drain
short_description: Empty a libvirt hypervisor onto others for maintenance, and bring its domains back
version_added: 0.1.0
description:
  - "O(state=drained) moves every running or paused domain of the hypervisor of O(uri) to the O(targets), live, and
    with O(include_shutoff) the shut-off ones as definitions. Each move is a M(virtops.libvirt.virt_migrate) migration,
    with its pre-flight checks, options and guarantees (the domain becomes persistent on the target and leaves the
    source; disks and NVRAM are never deleted)."
  - "Placement: the biggest domains (by memory) first, each to the target with the most free memory left - the host's
    available memory (free, buffers and page cache) at the start of the run minus what this run placed there - that fits
    it plus O(memory_headroom_mib); without V(memory) in O(preflight), any target, in the same order. A target whose
    pre-flight check refuses the domain (a missing network, storage, an incompatible CPU) is passed over for the next."
  - "O(parallel) migrations run at once. At the first failure no new migration starts, those under way finish, and the
    task fails with the summary: what moved where (RV(moved)), what failed (RV(failure)), and what is left (RV(remaining))."
  - "O(state=undrained) brings back the domains of O(record) - the RV(moved) list of a drain - from the target each
    went to to O(uri). A domain already back is no change; one found nowhere is listed in RV(untouched), with why."
  - The playbooks C(virtops.libvirt.drain) and C(virtops.libvirt.undrain) wrap this module, keep the record in a state
    file, and mark the hypervisor as drained for the inventory plugin; see C(docs/migration.md).
author:
  - virtops maintainers (@virtops)
extends_documentation_fragment:
  - virtops.libvirt.connection
  - virtops.libvirt.attributes
attributes:
  check_mode:
    support: full
    details:
      - Plans the placement and runs every pre-flight check (reads only); RV(moved) is the plan.
  diff_mode:
    support: none
  idempotent:
    support: full
    details: A drained hypervisor has nothing left to move; a domain already back is no change.
options:
  uri:
    description:
      - The hypervisor to drain, or to bring the domains back to.
  state:
    description: V(drained) empties O(uri) onto O(targets); V(undrained) brings the domains of O(record) back.
    type: str
    choices: [drained, undrained]
    default: drained
  targets:
    description:
      - The hypervisors the domains may go to (or, when undraining, come back from). Each is a URI, or a dict with
        C(uri) (as this controller reaches it), C(peer_uri) (as the drained hypervisor's daemon reaches it, for
        peer-to-peer, when that differs) and C(migrate_uri) (the data path into it).
    type: list
    elements: raw
    required: true
  peer_uri:
    description: When undraining, O(uri) as the targets' daemons reach it, when that differs from O(uri).
    type: str
  migrate_uri:
    description: When undraining, the data path into O(uri).
    type: str
  include_shutoff:
    description: Also move shut-off domains, as definitions. Without it they stay, listed in RV(untouched).
    type: bool
    default: false
  include_names:
    description:
      - Move only the domains whose name matches one of these shell-style patterns (C(fnmatch), case-sensitive). An empty
        list includes every domain. The others stay, listed in RV(untouched).
    type: list
    elements: str
    default: []
  exclude_names:
    description: Leave the domains whose name matches one of these shell-style patterns where they are. Applied after O(include_names).
    type: list
    elements: str
    default: []
  parallel:
    description: How many migrations run at once, 1 to 16.
    type: int
    default: 2
  record:
    description:
      - With O(state=undrained), the domains to bring back - each a dict with C(name), C(uuid) and C(to), as the RV(moved)
        list of a drain gives them. Required then.
    type: list
    elements: dict
  peer_to_peer:
    description: As M(virtops.libvirt.virt_migrate)'s O(virtops.libvirt.virt_migrate#module:peer_to_peer).
    type: bool
    default: true
  live:
    description: As M(virtops.libvirt.virt_migrate)'s O(virtops.libvirt.virt_migrate#module:live).
    type: bool
    default: true
  bandwidth:
    description: As M(virtops.libvirt.virt_migrate)'s O(virtops.libvirt.virt_migrate#module:bandwidth), for each migration.
    type: int
  auto_converge:
    description: As M(virtops.libvirt.virt_migrate)'s O(virtops.libvirt.virt_migrate#module:auto_converge).
    type: bool
    default: false
  compression:
    description: As M(virtops.libvirt.virt_migrate)'s O(virtops.libvirt.virt_migrate#module:compression).
    type: list
    elements: str
    choices: [xbzrle, mt]
  parallel_connections:
    description: As M(virtops.libvirt.virt_migrate)'s O(virtops.libvirt.virt_migrate#module:parallel_connections).
    type: int
  tls:
    description: As M(virtops.libvirt.virt_migrate)'s O(virtops.libvirt.virt_migrate#module:tls).
    type: bool
    default: false
  timeout:
    description: As M(virtops.libvirt.virt_migrate)'s O(virtops.libvirt.virt_migrate#module:timeout), for each migration.
    type: float
    default: 600
  timeout_action:
    description: As M(virtops.libvirt.virt_migrate)'s O(virtops.libvirt.virt_migrate#module:timeout_action).
    type: str
    choices: [abort, postcopy, suspend]
    default: abort
  preflight:
    description: As M(virtops.libvirt.virt_migrate)'s O(virtops.libvirt.virt_migrate#module:preflight).
    type: list
    elements: str
    choices: [memory, networks, storage, cpu]
    default: [memory, networks, storage, cpu]
  memory_headroom_mib:
    description: MiB each target must keep free beyond the domains placed on it.
    type: int
    default: 0
notes:
  - Disks, kernels and NVRAM must be on storage the targets share (there is no O(virtops.libvirt.virt_migrate#module:copy_storage) here).
seealso:
  - module: virtops.libvirt.virt_migrate
"""

EXAMPLES = r"""
- name: Empty kvm1 onto kvm2 and kvm3, two at a time
  virtops.libvirt.virt_drain:
    uri: qemu+ssh://root@kvm1/system
    targets:
      - qemu+ssh://root@kvm2/system
      - qemu+ssh://root@kvm3/system
    include_shutoff: true
    parallel: 2
  register: drained

- name: Bring them back after the maintenance
  virtops.libvirt.virt_drain:
    uri: qemu+ssh://root@kvm1/system
    state: undrained
    targets:
      - qemu+ssh://root@kvm2/system
      - qemu+ssh://root@kvm3/system
    record: "{{ drained.moved }}"
"""

RETURN = r"""
uri:
  description: O(uri), credentials hidden (as the state file of the drain playbooks keys it).
  returned: always
  type: str
moved:
  description:
    - The domains moved (in check mode, the plan), in the order they finished, each with C(name), C(uuid), C(from) and
      C(to) (URIs, credentials hidden), C(mode) (V(live), V(paused) or V(offline)), C(duration) (s) and C(downtime_ms).
  returned: always
  type: list
  elements: dict
failure:
  description: The first migration that failed (or the first domain that could go nowhere), as C(name), C(to) and C(msg); V(null) when none did.
  returned: always
  type: dict
untouched:
  description:
    - The domains left alone, each with C(name) and C(reason) (excluded, shut off without O(include_shutoff), a state that
      cannot move, not found when undraining).
  returned: always
  type: list
  elements: dict
remaining:
  description:
    - After a drain, the domains still on O(uri) that it should have moved (a failure, or a state that cannot move);
      after an undrain, the domains of O(record) not back on O(uri).
  returned: always
  type: list
  elements: str
summary:
  description: One line saying what was done.
  returned: always
  type: str
  sample: moved 4 domain(s) off 'qemu+ssh://root@kvm1/system' (4 live, 0 offline) in 12.3 s; 0 left alone; 0 remaining
duration:
  description: Seconds the run took.
  returned: always
  type: float
targets:
  description: Each target as C(uri), C(free_mib) (at the start) and C(placed_mib) (memory this run placed there).
  returned: always
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.virtops.libvirt.plugins.module_utils._migrate.module import DRAIN_ARGUMENT_RULES, DRAIN_ARGUMENT_SPEC, run_drain


def main() -> None:
    module = AnsibleModule(argument_spec=DRAIN_ARGUMENT_SPEC, supports_check_mode=True, **DRAIN_ARGUMENT_RULES)
    run_drain(module)


if __name__ == "__main__":
    main()
