#!/usr/bin/python
# Copyright: (c) 2026, virtops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: virt_snapshot
short_description: Take, revert to and delete snapshots of a libvirt domain, and keep only the newest
version_added: 0.1.0
description:
  - Takes a snapshot of a domain unless one of that name exists (O(state=present)), deletes one (O(state=absent)) or
    reverts the domain to one (O(state=reverted)); with O(retain), keeps only the newest snapshots of the domain.
  - One plan decides every run from what libvirt reports; a real run carries it out, check mode returns it without
    writing anything, and C(--diff) shows it (the domain's snapshots and the current one, before and after).
  - A snapshot is only ever deleted by O(state=absent) naming it (with its children when O(children=delete)) or by
    O(retain). No disk image is ever deleted. Deleting an external snapshot makes libvirt merge each overlay into the
    image below it, then remove the overlay (the data stays); O(retain) never deletes external snapshots.
  - O(state=reverted) always reverts and always reports a change (like M(virtops.libvirt.virt_power) V(restarted)),
    since nothing can prove that the disks did not change since the snapshot was taken. Reverting a running domain
    B(discards) its memory and the disk writes made since the snapshot; C(--diff) says so.
  - "libvirt 9.0 limits on external snapshots: it cannot revert to one (refused before anything is done, with what to
    do instead), and deletes one only when it is the newest of its chain and not below an internal snapshot."
  - See C(docs/virt_snapshot.md) for the upgrade-then-revert pattern (block, rescue, always).
author:
  - virtops maintainers (@virtops)
extends_documentation_fragment:
  - virtops.libvirt.connection
  - virtops.libvirt.attributes
attributes:
  check_mode:
    support: full
    details:
      - The same plan as a real run, without any write; RV(snapshot) is the snapshot as it would be taken (without a
        creation time), RV(pruned) lists what O(retain) would delete, RV(snapshots) are the snapshots as they are now.
      - With O(quiesce), the guest agent is asked for a C(guest-ping) (a read) so that check mode fails where the run would.
  diff_mode:
    support: full
    details: The domain's snapshots (oldest first), its current snapshot, a changed description, and for a revert the domain's state.
  idempotent:
    support: partial
    details: Idempotent for V(present) and V(absent); V(reverted) reverts on every run.
options:
  name:
    description: Name of the domain.
    type: str
    required: true
    aliases: [domain]
  snapshot:
    description:
      - Name of the snapshot. Any text but a C(/) (libvirt refuses it), a NUL or characters XML cannot carry.
    type: str
    required: true
  state:
    description:
      - V(present) takes the snapshot unless the domain has one of that name. An existing snapshot is never taken again,
        whatever its kind; only its description (O(description)) and whether it is current (O(current)) are brought in line,
        by redefining its metadata.
      - V(absent) deletes the snapshot (see O(children)); a snapshot that is not there is no change.
      - V(reverted) reverts the domain to the snapshot. The domain ends in the state the snapshot captured - running at
        the same point when it held the memory of a running domain, shut off when it was taken shut off. Always a change.
    type: str
    choices: [present, absent, reverted]
    default: present
  description:
    description:
      - The snapshot's description. For an existing snapshot, a different description is written to its metadata
        (a change); when not set, the description is left as it is.
    type: str
  kind:
    description:
      - V(internal) keeps the snapshot inside the domain's qcow2 images (every writable disk must be qcow2; a domain with a
        raw disk is refused, naming it). Of a running or paused domain it holds the memory too (see O(memory)).
      - V(external) is disk-only. Each writable disk gets a new qcow2 overlay file the domain writes to from then on, and
        the image it had becomes the overlay's read-only backing file. Any disk format can take one. libvirt 9.0 cannot
        revert to an external snapshot.
      - Read-only disks and cdroms are never part of a snapshot.
      - For O(state=absent) and O(state=reverted) the kind of the existing snapshot counts, not this option.
    type: str
    choices: [internal, external]
    default: internal
  memory:
    description:
      - Whether an internal snapshot of a running (or paused) domain holds its memory, so that a revert brings it back
        running at the same point. Unset means V(true) for O(kind=internal) and V(false) for O(kind=external).
      - V(false) with O(kind=internal) on a running domain is refused (QEMU takes internal snapshots of a running domain only
        with its memory); use O(kind=external) for a disk-only snapshot of a running domain. V(true) with O(kind=external)
        is refused. A shut-off domain has no memory to hold.
    type: bool
  quiesce:
    description:
      - With O(kind=external), whether the QEMU guest agent freezes the guest's file systems while the overlays are made,
        so that each file system on them is clean (without it the snapshot is crash-consistent, like after a power cut).
      - V(never) does not ask. V(required) asks the agent first (a C(guest-ping), at most 5 seconds) and fails, before
        anything is written, when it does not answer, saying what to do. V(if_possible) freezes when the agent answers and
        otherwise takes the snapshot without, with a warning. RV(quiesced) says what happened.
      - A shut-off domain has nothing to freeze; its snapshot is taken without asking.
      - Any value but V(never) with O(kind=internal) is refused (an internal snapshot holds the memory instead).
    type: str
    choices: [never, required, if_possible]
    default: never
  disks:
    description:
      - With O(kind=external), where the overlay file of a disk goes; a writable disk not listed gets the file libvirt
        chooses (its image's path with the snapshot's name as suffix, next to it).
    type: list
    elements: dict
    suboptions:
      name:
        description: The disk's target device, for example V(vda).
        type: str
        required: true
      file:
        description: Absolute path of the overlay file to create; it must not exist.
        type: path
        required: true
  retain:
    description:
      - With O(state=present), keep only this many of the domain's snapshots (the newest, by creation time), deleting the
        older ones oldest first after taking the snapshot; from V(1) to V(10000).
      - The current snapshot and O(snapshot) are never deleted (more than O(retain) may then remain). External snapshots
        are never deleted by O(retain) (deleting one merges overlay files); they are kept and named in a warning.
      - Applies on every run, also when the snapshot already exists. RV(pruned) names the snapshots deleted (in check
        mode, those that would be).
    type: int
  current:
    description:
      - With O(state=present), make O(snapshot) the domain's current snapshot (the parent of the next one) when it is not.
        A snapshot just taken is always current. V(false) changes nothing.
    type: bool
    default: false
  children:
    description:
      - With O(state=absent), what happens to the snapshots below the one deleted. V(keep) keeps them (libvirt re-parents
        them to its parent); V(delete) deletes them too, listed in RV(removed).
    type: str
    choices: [keep, delete]
    default: keep
notes:
  - libvirt records a snapshot's creation time in whole seconds; snapshots taken within the same second are ordered
    parents first.
  - libvirt cannot tell since when a domain runs, so the diff of a revert names the domain's state and reason, not its
    start time.
seealso:
  - module: virtops.libvirt.virt_domain
    description: Its O(virtops.libvirt.virt_domain#module:remove_snapshots_metadata) removes a domain that has snapshots.
  - module: virtops.libvirt.virt_domain_info
    description: Its O(virtops.libvirt.virt_domain_info#module:snapshots) lists the snapshots of each domain.
  - name: libvirt snapshot XML
    description: What a snapshot holds.
    link: https://libvirt.org/formatsnapshot.html
"""

EXAMPLES = r"""
- name: Take a snapshot before an upgrade, keeping the five newest
  virtops.libvirt.virt_snapshot:
    name: web1
    snapshot: before-upgrade-2026-12-01
    description: Before the kernel upgrade
    retain: 5

- name: Take a disk-only external snapshot of a running database, its file systems frozen by the guest agent
  virtops.libvirt.virt_snapshot:
    name: db1
    snapshot: nightly
    kind: external
    quiesce: required
    disks:
      - name: vda
        file: /var/lib/libvirt/images/db1-nightly.qcow2

- name: Go back to the snapshot (the changes made since are lost)
  virtops.libvirt.virt_snapshot:
    name: web1
    snapshot: before-upgrade-2026-12-01
    state: reverted

- name: Delete a snapshot and every snapshot taken from it
  virtops.libvirt.virt_snapshot:
    name: web1
    snapshot: experiments
    state: absent
    children: delete
"""

RETURN = r"""
snapshot:
  description:
    - The snapshot O(snapshot) after the run (in check mode, as it would be taken); V(null) after O(state=absent).
  returned: always
  type: dict
  contains:
    name:
      description: Its name.
      type: str
    parent:
      description: The name of its parent snapshot, V(null) for a root.
      type: str
    creation_time:
      description: When it was taken, ISO 8601 in UTC; V(null) in check mode for a snapshot not taken yet.
      type: str
    creation_epoch:
      description: When it was taken, in seconds since the epoch.
      type: int
    state:
      description: The domain state it captured, as libvirt records it (V(running), V(paused), V(shutoff), V(disk-snapshot), ...).
      type: str
    kind:
      description: V(external) when its memory or any disk went to a file of its own, else V(internal).
      type: str
    memory:
      description: Whether it holds the domain's memory.
      type: bool
    disks:
      description: Each disk of the domain, as C(name) (target device) and C(snapshot) (V(internal), V(external) or V(no)).
      type: list
      elements: dict
    description:
      description: Its description, V(null) when it has none.
      type: str
    current:
      description: Whether it is the domain's current snapshot.
      type: bool
  sample:
    name: before-upgrade
    parent: null
    creation_time: "2026-12-01T03:32:18+00:00"
    creation_epoch: 1796095938
    state: running
    kind: internal
    memory: true
    disks: [{name: vda, snapshot: internal}]
    description: Before the kernel upgrade
    current: true
snapshots:
  description:
    - Every snapshot of the domain after the run, oldest first, each with the fields of RV(snapshot); in check mode, as they are now.
  returned: always
  type: list
  elements: dict
pruned:
  description: The names of the snapshots O(retain) deleted, oldest first (in check mode, would delete).
  returned: always
  type: list
  elements: str
  sample: [nightly-1, nightly-2]
removed:
  description: With O(state=absent), the names of the snapshots deleted (O(snapshot), then those below it with O(children=delete)).
  returned: always
  type: list
  elements: str
quiesced:
  description: With O(state=present), whether the guest's file systems were frozen while the snapshot was taken.
  returned: with O(state=present)
  type: bool
domain_state:
  description: The domain's state after the run (in check mode, before), as M(virtops.libvirt.virt_power) names it.
  returned: always
  type: str
  sample: running
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.virtops.libvirt.plugins.module_utils._snapshot.module import (
    ARGUMENT_RULES,
    ARGUMENT_SPEC,
    run,
)


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True, **ARGUMENT_RULES)
    run(module)


if __name__ == "__main__":
    main()
