#!/usr/bin/python
# Copyright: (c) 2026, virtops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: virt_clone
short_description: Copy a shut-off libvirt domain to a new name, with disks and NVRAM of its own
version_added: 0.1.0
description:
  - Defines domain O(name) as a copy of domain O(source). The clone has the source's definition with a new UUID and
    new MAC addresses (libvirt makes both), disks of its own, and a copy of the source's UEFI NVRAM.
  - B(Disks.) Each writable disk that is a volume of a storage pool gets a volume of the clone's. With
    O(storage=copy) it is a full copy made by libvirt; with O(storage=linked) it is a qcow2 overlay whose backing
    file is the source's image. Read-only and shareable disks (cdroms, ISOs, data meant to be shared) are referenced
    as they are.
  - A writable disk that is not a volume of a storage pool (a plain file, a network disk) is refused, naming it; a
    clone never shares a writable disk with its source.
  - B(NVRAM.) When the source has C(<nvram>), the clone's is a copy of it named C(<name>_VARS.fd) in the same
    directory. libvirt makes the copy when the source's NVRAM is a volume of a storage pool. Otherwise the module
    copies the file itself with the source's mode and owner, which it can do only when O(uri) names no host (the
    module runs on the hypervisor).
  - B(The source must be shut off), and it is only ever read. A running, paused or saved source is refused, unless
    O(snapshot) names an external snapshot of it to clone from.
  - B(An existing clone is never changed.) When domain O(name) exists, nothing is done. If it differs from what a
    clone of the source would be now, ignoring identity (UUID, MACs, disk images, NVRAM path), RV(differences) says
    how and a warning says so.
  - A failure after something was made (a copy, the definition) removes what the run made and says so.
  - virt_domain's last-applied record is not copied. The clone's first M(virtops.libvirt.virt_domain) apply
    adopts it like any domain defined elsewhere.
  - There is no C(state) option. Remove a clone with M(virtops.libvirt.virt_domain) (O(virtops.libvirt.virt_domain#module:state=absent),
    O(virtops.libvirt.virt_domain#module:remove_storage=true), O(virtops.libvirt.virt_domain#module:remove_nvram=true)).
    That removes only the clone's own volumes, never the source image a linked clone's overlay is backed by.
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
    details:
      - The same plan as a real run, with every check, and RV(actions) saying what would be made; nothing is written.
      - The clone's UUID and MAC addresses are not known before libvirt makes them.
  diff_mode:
    support: full
    details:
      - Two diffs from an absent domain. One is the clone's definition, with secrets masked and without UUID or MACs,
        which libvirt adds. The other lists each disk (copy, linked or shared, from which image to which) and the NVRAM.
  idempotent:
    support: full
    details:
      - A clone that exists is left as it is, and a second run writes nothing.
options:
  name:
    description:
      - The clone's name. It must differ from O(source).
      - Its volumes and its NVRAM file are named after it, so it must also make a safe file name. It must not contain
        C(/) or control characters, or begin with C(-). Otherwise give the volumes' names with O(volume_names).
    type: str
    required: true
  source:
    description:
      - The domain copied. It must exist and be shut off.
    type: str
    required: true
  storage:
    description:
      - V(copy) gives each of the clone's disks a full copy of the source's image, in the source image's format
        (a qcow2 image's backing chain is flattened). The clone is then independent of the source.
      - V(linked) gives each a qcow2 overlay whose backing file is the source's image. It is made in an instant and
        takes little space. B(The source's image must then never change again). A write to it (the source started,
        a resize) silently corrupts every linked clone. So use it with a source kept as a template that is never
        started.
    type: str
    choices: [copy, linked]
    default: copy
  pool:
    description:
      - The storage pool where the clone's volumes go. It must exist and be active.
      - By default each volume goes to the pool of the source volume it is made from.
      - The NVRAM copy always goes next to the source's NVRAM.
    type: str
  volume_names:
    description:
      - "The names of the clone's volumes, by the target dev of the disk (for example C({vda: web2-root.qcow2}))."
      - A disk not named here gets C(<name>-<target dev>.qcow2), or C(.img) for a copy of a raw image.
      - A volume of that name that exists already is reused only when it is what this run would make (format, size
        and backing file; its content is not compared) and no domain uses it. Anything else is an error, and it is
        never overwritten.
    type: dict
  snapshot:
    description:
      - Clone the source as it was when this snapshot of it was taken, whatever it does now (it may keep running).
      - It must be an external disk-only snapshot (M(virtops.libvirt.virt_snapshot) with O(virtops.libvirt.virt_snapshot#module:kind=external),
        ideally with O(virtops.libvirt.virt_snapshot#module:quiesce=required)) that holds every writable disk. The domain then
        writes to overlays and the images below them no longer change; the clone's disks are copies of those images.
      - The clone's definition is the source's current one; only the disks come from the snapshot's moment.
      - Needs O(storage=copy). Delete the snapshot afterwards (state=absent) to merge the overlays back.
    type: str
notes:
  - Files the domain writes that are not disks, such as a serial console log, are not copied. The clone writes to
    the same files, and a warning names them.
  - A clone keeps the source's graphics settings; libvirt picks the ports of automatic ones when the clone starts.
seealso:
  - module: virtops.libvirt.virt_domain
  - module: virtops.libvirt.virt_volume
  - module: virtops.libvirt.virt_power
  - name: The clone guide
    description: Copy or linked, templates, NVRAM, cloning a running VM through a snapshot.
    link: https://github.com/virtops/libvirt/blob/main/docs/virt_clone.md
"""

EXAMPLES = r"""
- name: A full copy of a shut-off VM
  virtops.libvirt.virt_clone:
    uri: qemu:///system
    source: web1
    name: web2

- name: A linked clone of a template (the template is never started again)
  virtops.libvirt.virt_clone:
    source: debian12-template
    name: test-vm-1
    storage: linked
    pool: scratch

- name: A copy whose root disk gets a name of its own
  virtops.libvirt.virt_clone:
    source: db1
    name: db1-restore-test
    volume_names:
      vda: db1-restore-test-root.qcow2

- name: Start the clone
  virtops.libvirt.virt_power:
    name: web2
    state: running

- name: Freeze the disks of a VM that keeps running (it writes to overlays from now on)
  virtops.libvirt.virt_snapshot:
    name: db1
    snapshot: for-copy
    kind: external
    quiesce: required

- name: Copy it as it was at that snapshot
  virtops.libvirt.virt_clone:
    source: db1
    name: db1-copy
    snapshot: for-copy

- name: Merge the overlays back into db1's images
  virtops.libvirt.virt_snapshot:
    name: db1
    snapshot: for-copy
    state: absent
"""

RETURN = r"""
domain:
  description: The clone.
  returned: always
  type: dict
  contains:
    name:
      description: Its name.
      type: str
      sample: web2
    uuid:
      description: Its UUID; V(null) in check mode before it exists.
      type: str
      sample: 5c6f6f3e-6f0a-4c1d-9d43-1f0f0c2f9a11
disks:
  description: The clone's disks, in the order of its definition.
  returned: always
  type: list
  elements: dict
  contains:
    target:
      description: The disk's target dev.
      type: str
      sample: vda
    how:
      description: V(copy), V(linked) (a qcow2 overlay of the source's image) or V(shared) (the source's image itself, read-only or shareable).
      type: str
      sample: copy
    source:
      description: The source's image; V(null) for a drive without a medium.
      type: str
      sample: /var/lib/libvirt/images/web1-vda.qcow2
    clone:
      description:
        - The clone's image; the same as RV(disks[].source) for a shared disk.
        - In check mode, where the pool will put it (V(null) for a pool whose paths are not known before).
      type: str
      sample: /var/lib/libvirt/images/web2-vda.qcow2
    pool:
      description: The storage pool of the clone's volume; V(null) for a shared disk.
      type: str
      sample: default
    volume:
      description: The name of the clone's volume; V(null) for a shared disk.
      type: str
      sample: web2-vda.qcow2
    reused:
      description: Whether the volume existed already (left by an earlier run that stopped before the clone was defined).
      type: bool
      sample: false
nvram:
  description: The clone's NVRAM file; V(null) when it has none.
  returned: always
  type: str
  sample: /var/lib/libvirt/qemu/nvram/web2_VARS.fd
actions:
  description: What the run made (or would make, in check mode), in order; empty when the clone exists.
  returned: always
  type: list
  elements: str
  sample:
    - create volume 'web2-vda.qcow2' of storage pool 'default', a qcow2 copy of /var/lib/libvirt/images/web1-vda.qcow2 (20 GiB (21474836480 bytes))
    - define domain 'web2' (libvirt gives it a new UUID and new MAC addresses)
differences:
  description: When the clone exists, what a clone of the source would have now that it does not (identity aside); else empty.
  returned: always
  type: list
  elements: str
  sample: ["/domain/memory: want '2097152', have '1048576'"]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.virtops.libvirt.plugins.module_utils._clone.module import ARGUMENT_SPEC, run


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    run(module)


if __name__ == "__main__":
    main()
