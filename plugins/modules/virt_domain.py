#!/usr/bin/python
# Copyright: (c) 2026, virtops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: virt_domain
short_description: Make a libvirt domain's definition match an XML definition, idempotently
version_added: 0.1.0
description:
  - Compares the desired domain definition O(xml) with libvirt's persistent definition and defines it
    (with libvirt's validation) only when they differ. One comparison decides C(changed), check mode and C(--diff).
  - A re-define keeps the domain's identity. Its UUID, and the MAC address of every NIC the XML leaves
    without one, are carried over, so nothing churns.
  - Changes to a running domain take effect when it next boots; RV(pending_restart) says so and
    O(restart=if_pending) power-cycles it gracefully (the same code as M(virtops.libvirt.virt_power)).
  - O(state=absent) undefines the domain. Nothing that holds data goes with it unless asked for exactly that -
    disk images (O(remove_storage)), NVRAM (O(remove_nvram)), TPM state (O(remove_tpm)), a managed-save image
    (O(remove_managed_save)), snapshot and checkpoint metadata (O(remove_snapshots_metadata)).
  - Secrets of a definition (graphics passwords, the cookies and query string of a network disk, an SEV session)
    never appear in what the module returns or says, diff and error messages included.
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
    details: The same comparison as a real run predicts C(changed) exactly; nothing is defined.
  diff_mode:
    support: full
    details:
      - A unified diff of the persistent definition before and after, with its secrets masked.
      - In check mode, "after" is the XML that would be defined; libvirt adds its defaults when it is.
  idempotent:
    support: full
    details: An unchanged definition is never re-defined, so a no-op run makes no write to libvirt.
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
  match:
    description:
      - How the desired definition is compared with libvirt's.
      - V(subset) (default) - everything O(xml) says must hold; what libvirt adds by itself (UUID, MAC and
        device addresses, aliases, controllers it adds, canonical machine names such as V(pc) for
        C(pc-i440fx-7.2), memory units normalised to KiB, default attribute values) is not a difference.
      - V(exact) - the definition must be exactly what libvirt makes of O(xml), nothing changed or added since.
        The fingerprints of what was applied are kept in the domain's C(<metadata>) (namespace
        C(https://virtops.dev/xmlns/libvirt/1)), so the first run with V(exact) defines the domain once.
    type: str
    choices: [subset, exact]
    default: subset
  restart:
    description:
      - V(never) leaves a running domain whose definition changed running on the old one (see RV(pending_restart)).
      - V(if_pending) shuts it down gracefully and starts it again when a change is pending.
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
  description: Why the definition is (or would be) defined, one line per difference found (secrets masked).
  returned: with O(state=present)
  type: list
  elements: str
  sample: ["/domain/memory: want '2097152', have '1048576'"]
pending_restart:
  description: Whether the domain runs on an older definition than its persistent one.
  returned: with O(state=present)
  type: bool
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
