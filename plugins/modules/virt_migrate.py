#!/usr/bin/python
# Copyright: (c) 2026, virtops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: virt_migrate
short_description: Move a libvirt domain to another hypervisor, live when it runs
version_added: 0.1.0
description:
  - Moves a domain from the hypervisor of O(uri) to the one of O(dest_uri). A running or paused domain moves live (the
    guest keeps running while its memory is copied, then pauses for a fraction of a second); a shut-off domain moves as a
    definition (an offline migration). By default the domain becomes persistent on the destination and its definition is
    removed from the source (O(persistent), O(undefine_source)). Disks and NVRAM are never deleted.
  - "Idempotent: a domain already on the destination and not on the source is left alone. One that runs on the
    destination while an inactive definition of it stayed on the source (a migration with O(undefine_source=false)
    before) only has that definition removed. A domain running on both, two different domains of the same name, or a
    domain defined and shut off on both is an error that says what to look at; nothing is done then."
  - "Before anything moves, and in check mode too, the destination is checked (O(preflight)): room for the
    domain's memory (its C(<memory>) against the host's available memory - free, buffers and page cache), its libvirt
    networks (present and active), its disks (visible there, through the destination's storage pools), and its CPU
    model (libvirt's C(compareHypervisorCPU)). Every problem is reported at once and nothing moves. What libvirt gives
    no way to check (a disk in a folder no pool of the destination holds, a host bridge) is named in a warning and in
    C(unchecked) of RV(preflight)."
  - "Two ways to migrate (O(peer_to_peer)): peer-to-peer (the default) hands the whole migration to the source's libvirt
    daemon, which connects to the destination itself (as O(peer_uri), or O(dest_uri)); the migration then completes or
    rolls back even if this controller goes away. Without it, this controller holds both connections and drives each
    step; no libvirt connection between the hypervisors is needed, but a controller lost mid-way can leave the domain
    paused."
  - "While it runs, the migration's progress is read from libvirt's job statistics and the lifecycle events of both
    hypervisors; O(timeout) bounds it, and O(timeout_action) says what happens then: V(abort) (the domain keeps running
    on the source), V(postcopy) (switch to post-copy, which always completes) or V(suspend) (pause the guest so the last
    memory is copied, then resume it on the destination)."
  - See C(docs/migration.md) for host maintenance with the drain and undrain playbooks.
author:
  - virtops maintainers (@virtops)
extends_documentation_fragment:
  - virtops.libvirt.connection
  - virtops.libvirt.attributes
attributes:
  check_mode:
    support: full
    details:
      - Locates the domain and runs every pre-flight check (reads only); reports whether it would move, and how.
  diff_mode:
    support: full
    details: The domain's hypervisor and state, before and after.
  idempotent:
    support: full
options:
  name:
    description: Name of the domain.
    type: str
    aliases: [domain]
  uuid:
    description: UUID of the domain, instead of O(name).
    type: str
  uri:
    description:
      - The source hypervisor, where the domain is now.
  dest_uri:
    description:
      - The destination hypervisor, as this controller reaches it. Credentials in it are hidden from every output.
    type: str
    required: true
  peer_to_peer:
    description:
      - V(true) lets the source's libvirt daemon run the whole migration (C(VIR_MIGRATE_PEER2PEER)); the safer way, since
        the migration does not depend on this controller staying up. It needs a libvirt path from the source's daemon to
        the destination's (see O(peer_uri)).
      - V(false) drives the migration from this controller with both connections open; the hypervisors need no libvirt
        path between them (the migration data still goes directly, see O(migrate_uri)).
    type: bool
    default: true
  peer_uri:
    description:
      - With O(peer_to_peer), the destination as the source's libvirt daemon reaches it, when that differs from how this
        controller reaches it (another host name, network, transport or socket). Defaults to O(dest_uri).
    type: str
  live:
    description:
      - For a running domain, V(true) keeps the guest running while its memory is copied; V(false) pauses it for the
        whole copy (longer downtime, bounded time). A shut-off domain always moves offline.
    type: bool
    default: true
  persistent:
    description: Make the domain persistent on the destination (C(VIR_MIGRATE_PERSIST_DEST)). An offline move always is.
    type: bool
    default: true
  undefine_source:
    description: Remove the domain's definition from the source once it moved (disks and NVRAM stay).
    type: bool
    default: true
  bandwidth:
    description: Limit the migration to this many MiB/s (a whole number, at least 1). Default is libvirt's (no limit).
    type: int
  migrate_uri:
    description:
      - The data path, when it differs from what the destination's host name resolves to, for example
        V(tcp://10.0.0.2) for a storage network or V(tcp://127.0.0.1) between two daemons of one machine.
    type: str
  auto_converge:
    description: Slow the guest's vCPUs down when its memory changes faster than it can be copied (C(VIR_MIGRATE_AUTO_CONVERGE)).
    type: bool
    default: false
  compression:
    description: Compress the memory copy with these methods (C(VIR_MIGRATE_COMPRESSED)).
    type: list
    elements: str
    choices: [xbzrle, mt]
  parallel_connections:
    description: Copy memory over this many connections at once (C(VIR_MIGRATE_PARALLEL)), 1 to 255.
    type: int
  tls:
    description: Encrypt the migration data with TLS (C(VIR_MIGRATE_TLS)); both hosts need libvirt's TLS set-up for QEMU.
    type: bool
    default: false
  copy_storage:
    description:
      - For storage the destination does not share, copy the disks named in O(copy_disks) while the domain runs
        (V(all) copies them whole, V(incremental) copies only what their backing image does not hold). The destination
        must have a storage pool for each disk's folder, where libvirt creates it.
    type: str
    choices: [none, all, incremental]
    default: none
  copy_disks:
    description:
      - The disks to copy with O(copy_storage), by target name (V(vda)). Required with it and never empty, since an empty list
        would let libvirt copy every disk, attached shared volumes included.
    type: list
    elements: str
    default: []
  timeout:
    description:
      - Seconds the migration may take before O(timeout_action) (from 0, no limit, to a week). A number such as V(0.5) works.
    type: float
    default: 600
  timeout_action:
    description:
      - What to do at O(timeout). V(abort) stops the migration; the domain keeps running on the source and the task fails
        saying so. V(postcopy) switches to post-copy (the guest runs on the destination at once, its remaining memory is
        fetched on demand; a network failure then loses the guest). V(suspend) pauses the guest until the copy completes,
        then resumes it on the destination.
    type: str
    choices: [abort, postcopy, suspend]
    default: abort
  preflight:
    description:
      - The checks to make before moving (and in check mode). An empty list makes none.
    type: list
    elements: str
    choices: [memory, networks, storage, cpu]
    default: [memory, networks, storage, cpu]
  memory_headroom_mib:
    description: With the V(memory) check, MiB the destination must keep free beyond the domain's memory.
    type: int
    default: 0
notes:
  - Kernels, initrds, NVRAM and disks that are not copied must be at the same paths on the destination.
  - The domain's snapshots do not move with it (libvirt refuses to migrate a domain with snapshots unless asked).
seealso:
  - module: virtops.libvirt.virt_drain
"""

EXAMPLES = r"""
- name: Move web1 live to kvm2
  virtops.libvirt.virt_migrate:
    name: web1
    uri: qemu+ssh://root@kvm1/system
    dest_uri: qemu+ssh://root@kvm2/system
    migrate_uri: tcp://kvm2-storage
  register: moved

- name: Show how long the guest was paused
  ansible.builtin.debug:
    msg: "{{ moved.name }} moved in {{ moved.duration }} s, paused {{ moved.downtime_ms }} ms, now on {{ moved.host }}"

- name: Check only (pre-flight), change nothing
  virtops.libvirt.virt_migrate:
    name: db1
    uri: qemu+ssh://root@kvm1/system
    dest_uri: qemu+ssh://root@kvm3/system
  check_mode: true

- name: Move a busy guest, switching to post-copy after 60 s
  virtops.libvirt.virt_migrate:
    name: cache1
    uri: qemu+ssh://root@kvm1/system
    dest_uri: qemu+ssh://root@kvm2/system
    auto_converge: true
    timeout: 60
    timeout_action: postcopy

- name: Move a guest with local disks, copying its system disk
  virtops.libvirt.virt_migrate:
    name: build1
    uri: qemu+ssh://root@kvm1/system
    dest_uri: qemu+ssh://root@kvm2/system
    copy_storage: all
    copy_disks: [vda]
"""

RETURN = r"""
name:
  description: The domain's name.
  returned: always
  type: str
uuid:
  description: The domain's UUID.
  returned: when the domain was found
  type: str
action:
  description: V(migrate), V(undefine_source) (only an old definition left on the source was removed) or V(none).
  returned: always
  type: str
mode:
  description: How it moved (or would move in check mode) - V(live), V(paused), V(offline) - or V(null) when it did not.
  returned: always
  type: str
source_uri:
  description: The source URI, credentials hidden.
  returned: always
  type: str
dest_uri:
  description: The destination URI, credentials hidden.
  returned: always
  type: str
host:
  description: The host name of the hypervisor the domain is on after the run (V(null) in check mode before a move).
  returned: always
  type: str
host_uuid:
  description: The host UUID of that hypervisor (two daemons of one machine share a host name, not a host UUID).
  returned: always
  type: str
state:
  description: The domain's state after the run (in check mode, now), as M(virtops.libvirt.virt_power) names it.
  returned: always
  type: str
  sample: running
duration:
  description: Seconds the migration took, as this controller measured it; 0 when nothing moved.
  returned: always
  type: float
downtime_ms:
  description: Milliseconds the guest was paused at the switch-over, as libvirt measured it; V(null) when unknown or offline.
  returned: always
  type: int
data_transferred:
  description: Bytes the migration sent, as libvirt measured it; V(null) when unknown.
  returned: always
  type: int
iterations:
  description: Memory copy passes libvirt made; V(null) when unknown.
  returned: always
  type: int
timeout_action:
  description: The O(timeout_action) taken when O(timeout) was reached, else V(null).
  returned: always
  type: str
preflight:
  description:
    - What the pre-flight checks found; V(null) when no check ran (nothing to move).
    - C(memory) (C(needed_mib), C(free_mib), C(headroom_mib)), C(networks) and C(storage) (what was found on the
      destination), C(cpu) (V(identical), V(superset), V(incompatible) or V(unchecked) with why), C(unchecked) (what
      libvirt gives no way to check), C(problems) (what stopped the migration).
  returned: always
  type: dict
progress:
  description: Samples of libvirt's job statistics while it ran (C(elapsed) s, C(data_processed), C(data_remaining), C(iteration)).
  returned: always
  type: list
  elements: dict
events:
  description: The lifecycle events both hypervisors sent about the domain while it moved, in order.
  returned: always
  type: list
  elements: str
  sample: ["source: suspended (migrated)", "destination: resumed (migrated)", "source: stopped (migrated)"]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.virtops.libvirt.plugins.module_utils._migrate.module import ARGUMENT_RULES, ARGUMENT_SPEC, run


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True, **ARGUMENT_RULES)
    run(module)


if __name__ == "__main__":
    main()
