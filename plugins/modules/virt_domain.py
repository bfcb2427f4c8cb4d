#!/usr/bin/python
# Copyright: (c) 2026, virtops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: virt_domain
short_description: Make a libvirt domain's definition match an XML definition, idempotently
version_added: 0.1.0
description:
  - Applies the desired domain definition O(xml) the way C(kubectl apply) does. The module keeps a record of what it
    applied in the domain's C(<metadata>) and merges three definitions. These are the last applied template, the
    desired one, and libvirt's persistent definition.
  - B(What the template sets wins.) libvirt keeps its own spelling of a value. For example C(512 MiB) is stored as
    C(524288 KiB) and C(0,1) as C(0-1).
  - B(What the template removed since the last apply is removed.) Devices are matched by identity (MAC address,
    target dev, controller index, alias, address), not by position. So removing one of two NICs moves no MAC.
  - B(What the template never set is kept.) This covers what libvirt added and what was added out of band, for example
    with C(virsh attach-device --config). Devices added out of band are listed in RV(differences) as not owned.
    O(unowned=remove) removes them.
  - B(A run with nothing to do writes nothing.) It makes no comparison either. The template is the one last applied,
    and libvirt's definition still has the fingerprint recorded then, so nothing is defined.
  - A domain without a record was defined outside this collection (virt-install, virsh) or before the collection kept
    records. Its first apply compares the template as a subset, then writes the record, and RV(adopted) says so. The
    second apply settles.
  - One merge decides C(changed), check mode (the predicted definition), C(--diff) and RV(differences).
  - Check mode makes every check the real run can make without writing. It checks the UUID against the domain's and
    every other domain's. It also validates against libvirt's RelaxNG schema when the local libvirt is the daemon's
    version.
  - A re-define keeps the domain's identity. Its UUID, the MAC addresses and the device addresses libvirt assigned are
    kept.
  - Changes to a running domain take effect when it next starts. RV(pending_restart) lists what waits, and a warning
    says so. O(restart=if_pending) power-cycles the domain gracefully, using the same code as
    M(virtops.libvirt.virt_power).
  - O(state=absent) undefines the domain. Nothing that holds data goes with it unless asked for exactly that. This
    covers disk images (O(remove_storage)), NVRAM (O(remove_nvram)), TPM state (O(remove_tpm)), a managed-save image
    (O(remove_managed_save)), and snapshot and checkpoint metadata (O(remove_snapshots_metadata)).
  - Secrets of a definition never appear in what the module returns or says, diff and error messages included. These
    are graphics passwords, the cookies and query string of a network disk, and an SEV session. The record keeps them
    masked.
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
    details: The same merge as a real run predicts C(changed), RV(differences) and the definition; nothing is defined.
  diff_mode:
    support: full
    details:
      - A unified diff of the persistent definition before and after, with its secrets masked.
      - In check mode, "after" is the merged definition that would be defined, so a one-line change of the template
        shows as a one-line change.
      - The applied record is left out of both sides.
  idempotent:
    support: full
    details:
      - An unchanged template applied to an unchanged definition is recognised from the record and never re-defined,
        so a no-op run makes no write to libvirt, whatever libvirt rewrote.
options:
  name:
    description:
      - The domain's name. A C(<name>) in O(xml) must be exactly the same, blanks included; when O(xml) has none,
        this one is used.
      - With O(state=present), a name that begins or ends with blanks is refused.
    type: str
    required: true
  state:
    description:
      - V(present) defines the domain as O(xml) says; V(absent) undefines it.
    type: str
    choices: [present, absent]
    default: present
  xml:
    description:
      - The domain definition (libvirt domain XML), usually from C(lookup('ansible.builtin.template', 'web1.xml.j2')).
      - Required with O(state=present).
      - XML with a document type declaration (C(<!DOCTYPE ...>), which may declare entities) is refused; nothing is
        ever read or expanded through the XML. Comments and CDATA sections may say anything.
      - Always read as UTF-8 text, whatever encoding its XML declaration names.
      - It may hold secrets, so it is not echoed back in the module's invocation; RV(definition) shows the result,
        secrets masked.
    type: str
  autostart:
    description:
      - Whether the domain starts when the host boots. Not changed when not set.
    type: bool
  unowned:
    description:
      - What to do with devices and top-level elements that the template does not own and that were added out of band
        since the last apply (not by libvirt).
      - V(keep) leaves them and lists them in RV(differences) as not owned. To take one over, add it to the template
        with its identity, for example its target dev or MAC address.
      - V(remove) removes them. It acts from the second apply to a domain, because the first one has no record of what
        libvirt itself added.
    type: str
    choices: [keep, remove]
    default: keep
  match:
    description:
      - Deprecated and ignored, except V(exact). Every apply is now the three-way merge described above.
      - V(exact) means O(unowned=remove).
      - It cannot be set together with O(unowned).
    type: str
    choices: [subset, exact]
  restart:
    description:
      - V(never) leaves a running domain whose definition changed running on the old one (see RV(pending_restart)).
      - V(if_pending) shuts it down gracefully and starts it again when a change is pending.
      - A running domain may have devices that no definition holds, such as a disk hot-plugged with
        C(virsh attach-device --live). A restart would lose them, so V(if_pending) refuses to restart it and names them
        (see RV(live_only)). O(force=true) restarts it anyway. Such devices alone are not a pending change.
    type: str
    choices: [never, if_pending]
    default: never
  restart_timeout:
    description:
      - Seconds to wait for the graceful shutdown of O(restart=if_pending) before failing, from 0 to a week.
    type: float
    default: 120
  force:
    description:
      - With O(state=absent), power off a running domain before undefining it. Without it, a running domain is an error.
      - With O(restart=if_pending), restart even when the running domain has devices that no definition holds
        (RV(live_only)). The restart loses them.
    type: bool
    default: false
  remove_nvram:
    description: With O(state=absent), also delete the domain's UEFI NVRAM file. It is kept by default.
    type: bool
    default: false
  remove_tpm:
    description: With O(state=absent), also delete the domain's emulated TPM state. It is kept by default.
    type: bool
    default: false
  remove_storage:
    description:
      - With O(state=absent), also delete the domain's disks that are storage volumes libvirt manages (in a storage pool),
        unless something else uses them.
      - A volume stays, and is listed in RV(kept_volumes) with the reason, when another domain of the connection
        (active or not, in its persistent or its live definition) names it by path or by pool and volume, when it is the
        backing file of a volume of an active pool that stays, or when the disk is read-only or shareable (installation
        media, shared data).
      - Disk files outside any storage pool are never touched. Users on other hosts (shared storage) cannot be seen.
    type: bool
    default: false
  remove_managed_save:
    description:
      - With O(state=absent), also delete the domain's managed-save image (its saved memory).
      - Without it, a domain that has one is not removed (the task fails, saying so), as libvirt does.
    type: bool
    default: false
  remove_snapshots_metadata:
    description:
      - With O(state=absent), also delete the libvirt metadata of the domain's snapshots and checkpoints.
        The data of internal snapshots stays inside the disk images; external snapshot files are not deleted.
      - Without it, a domain that has snapshots or checkpoints is not removed (the task fails, saying so), as libvirt does.
    type: bool
    default: false
notes:
  - With O(state=absent), a domain that cannot be removed as asked (running without O(force), holding a managed-save
    image, snapshots or checkpoints without the option to remove them) is refused before anything is done, in check
    mode too.
  - When the task fails, the return values known by then are returned with the message, and C(changed) tells whether
    anything was written to libvirt before the failure (for example the definition, before O(restart=if_pending)
    timed out).
seealso:
  - module: virtops.libvirt.virt_power
  - name: libvirt domain XML format
    description: Every element of a domain definition.
    link: https://libvirt.org/formatdomain.html
"""

EXAMPLES = r"""
- name: Define web1 from a template kept in git
  virtops.libvirt.virt_domain:
    name: web1
    xml: "{{ lookup('ansible.builtin.template', 'domains/web1.xml.j2') }}"
    autostart: true

- name: Apply a change and power-cycle the domain if it is running
  virtops.libvirt.virt_domain:
    name: web1
    xml: "{{ lookup('ansible.builtin.template', 'domains/web1.xml.j2') }}"
    restart: if_pending

- name: Apply a template and remove devices attached out of band since the last apply
  virtops.libvirt.virt_domain:
    name: web1
    xml: "{{ lookup('ansible.builtin.template', 'domains/web1.xml.j2') }}"
    unowned: remove

- name: Remove a domain, keeping its disks, NVRAM and TPM state
  virtops.libvirt.virt_domain:
    name: old1
    state: absent
    force: true

- name: Remove a scratch domain with everything it holds (volumes other domains use stay)
  virtops.libvirt.virt_domain:
    name: scratch1
    state: absent
    force: true
    remove_storage: true
    remove_nvram: true
    remove_tpm: true
    remove_managed_save: true
    remove_snapshots_metadata: true
  register: scratch1_removed

- name: Show the volumes that were kept, and why
  ansible.builtin.debug:
    msg: "{{ scratch1_removed.kept_volumes }}"
"""

RETURN = r"""
uuid:
  description: The domain's UUID (absent when the domain does not exist).
  returned: when the domain exists or was defined
  type: str
  sample: 8c1e3b7e-2a4f-4a55-9a1c-3f0f6f1b2d11
definition:
  description:
    - The persistent definition after the run, with its secrets masked.
    - In check mode, when a change is predicted, the XML that would be defined.
  returned: with O(state=present)
  type: str
differences:
  description:
    - "What the apply changes (in check mode, would change), one line each. Amounts keep the template's unit, for
      example C(memory: 256 MiB -> 512 MiB). Secrets are masked."
    - An adopted domain has a line saying so. A template that changed only in ways libvirt already holds has a line
      saying that only the record is written.
    - Devices and elements that the template does not own and that were added out of band have a line with
      C(not owned), whether or not anything changes.
  returned: with O(state=present)
  type: list
  elements: str
  sample:
    - "memory: 256 MiB -> 512 MiB"
    - "currentMemory: 256 MiB -> 512 MiB (follows memory)"
    - "devices/disk[dev=vdb]: not owned, kept (<disk type='file' device='disk'> was added outside the template)"
adopted:
  description:
    - Whether the domain had no applied record yet. It was defined outside this collection or before the collection
      kept records. The template was compared as a subset, and the record is written (in check mode, would be).
  returned: with O(state=present)
  type: bool
pending_restart:
  description:
    - What the persistent definition holds that the running domain does not, and that applies when the domain next
      starts. The list is empty when nothing waits and for a domain that is not running.
    - In check mode, it includes what the apply would change.
  returned: with O(state=present)
  type: list
  elements: str
  sample: ["/domain/memory: want '524288', have '262144'"]
live_only:
  description:
    - Devices of the running domain that no definition holds, such as a disk hot-plugged with
      C(virsh attach-device --live). A restart would lose them, so they are not a pending change.
  returned: with O(state=present)
  type: list
  elements: str
  sample: ["<disk type='file' device='disk'> (disk dev=vdc)"]
restarted:
  description: Whether the domain was (in check mode, would be) power-cycled by O(restart=if_pending).
  returned: with O(state=present)
  type: bool
undefine_flags:
  description:
    - The libvirt undefine flags used (in check mode, that would be used), by name; for example V(managed_save),
      V(snapshots_metadata), V(checkpoints_metadata) (each only when asked for), V(keep_nvram), V(keep_tpm), or V(nvram)
      / V(tpm) when asked to remove them.
  returned: when O(state=absent) removed a persistent domain
  type: list
  elements: str
  sample: [keep_nvram, managed_save]
removed_volumes:
  description:
    - Paths of the storage volumes deleted (in check mode, that would be deleted) with O(remove_storage=true).
    - When deleting one failed, those deleted before.
  returned: when O(state=absent) removed a domain
  type: list
  elements: str
kept_volumes:
  description: The storage volumes of the domain that O(remove_storage=true) did not (in check mode, would not) delete.
  returned: when O(state=absent) removed a domain
  type: list
  elements: dict
  contains:
    path:
      description: The volume's path.
      type: str
      sample: /var/lib/libvirt/images/shared.qcow2
    reason:
      description: Why it stays.
      type: str
      sample: used by domain 'web2'
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.virtops.libvirt.plugins.module_utils._definition.module import (
    ARGUMENT_RULES,
    ARGUMENT_SPEC,
    run,
)


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True, **ARGUMENT_RULES)
    run(module)


if __name__ == "__main__":
    main()
