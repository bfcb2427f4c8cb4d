#!/usr/bin/python
# Copyright: (c) 2026, virtops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: virt_volume
short_description: Make a libvirt storage volume exist with a size and format, as an overlay, a copy or an upload
version_added: 0.1.0
description:
  - O(state=present) makes volume O(name) of storage pool O(pool) exist, in O(format). A new volume is empty
    (O(capacity) bytes), a copy-on-write overlay of another volume (O(backing), a linked clone), a full copy of
    another volume (O(clone_from)), or holds a local file uploaded through libvirt (O(src)).
  - An existing volume is grown to a larger O(capacity). It is never shrunk unless O(allow_shrink=true), never
    converted to another format, and never re-based on another backing file; each of these is an error that says what
    to do, and nothing is changed.
  - O(state=absent) deletes the volume. A volume that a domain of the connection names as a disk (or by path anywhere
    in its definition), or that is the backing file of a volume of an active pool, is not deleted unless O(force=true);
    the error names who uses it.
  - One plan decides C(changed), check mode, C(--diff) and RV(actions); a run with nothing to do writes nothing.
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
      - The same plan as a real run predicts C(changed), RV(actions) and RV(volume), and makes the same refusals; nothing
        is written. The file of O(src) is read (its size and header) in check mode too.
  diff_mode:
    support: full
    details:
      - The volume's state, path, format, capacity and backing file before and after, and C(content) when O(src) is
        uploaded.
  idempotent:
    support: full
    details:
      - A volume already as asked is only read. The content of an existing volume is never compared with O(src).
options:
  pool:
    description:
      - The storage pool holding the volume. It must be defined and active (see M(virtops.libvirt.virt_pool)).
    type: str
    required: true
  name:
    description:
      - The volume's name; in a directory pool, its file name.
      - A name with a C(/), a NUL or another control character, a leading C(-), V(.) or V(..), blanks around it, or longer
        than 255 bytes is refused before anything is done, so that no name can reach a file outside its pool.
    type: str
    required: true
  state:
    description:
      - V(present) makes the volume exist as asked; V(absent) deletes it (a missing volume, or a pool that is not
        defined, is no change).
    type: str
    choices: [present, absent]
    default: present
  capacity:
    description:
      - The size of the disk the volume holds, in bytes (an integer) or as a string with a unit, for example V(10G),
        V(512MiB), V(1T) or V(1.5G).
      - K, M, G, T and P are powers of 1024, as in C(qemu-img); KiB, MiB, GiB, TiB and PiB mean the same, B or no unit
        means bytes. KB, MB, GB are refused as ambiguous. Zero, negative numbers, fractions of a byte, NaN and booleans
        are refused.
      - Required to create an empty volume. With O(backing) or O(clone_from) it defaults to the other volume's size (and
        may not be smaller); with O(src), to the file's size (raw) or the image's virtual size (qcow2).
      - An existing volume smaller than this is grown. A larger one is an error naming both sizes unless
        O(allow_shrink=true).
    type: raw
  allow_shrink:
    description:
      - Allow O(capacity) to shrink an existing raw volume. What is stored past the new end is lost.
      - A qcow2 volume is never shrunk.
    type: bool
    default: false
  format:
    description:
      - The volume's format. A new volume is made in it; an existing volume of another format is an error (it is never
        converted), so give V(raw) to manage an existing raw volume.
      - With O(clone_from), the copy is made in this format, whatever the format of the volume copied.
      - With O(src), the format of the file uploaded; a V(qcow2) file must have a qcow2 header.
    type: str
    choices: [raw, qcow2]
    default: qcow2
  backing:
    description:
      - Make a new volume a qcow2 copy-on-write overlay of this volume (a linked clone), which must exist in an active pool
        and must not change while the overlay exists.
      - The backing file's format is libvirt's description of that volume, never guessed from its content.
      - For an existing volume, its backing file must be this one; re-basing is never done (remove the volume and
        create it again).
      - Mutually exclusive with O(clone_from) and O(src).
    type: dict
    suboptions:
      pool:
        description: The pool of the backing volume; the volume's own O(pool) when not set. Not with O(backing.path).
        type: str
      volume:
        description: The name of the backing volume in that pool.
        type: str
      path:
        description: Instead of O(backing.pool) and O(backing.volume), the path of the backing volume, which must be a volume of an active pool.
        type: path
  clone_from:
    description:
      - Make a new volume a full copy of this volume (libvirt copies it, converting to O(format) when needed). An existing
        volume is left as it is.
      - Copy a volume that no running domain writes to, or the copy may be inconsistent.
      - Mutually exclusive with O(backing) and O(src).
    type: dict
    suboptions:
      pool:
        description: The pool of the volume copied; the volume's own O(pool) when not set. Not with O(clone_from.path).
        type: str
      volume:
        description: The name of the volume copied, in that pool.
        type: str
      path:
        description: Instead of O(clone_from.pool) and O(clone_from.volume), the path of the volume copied.
        type: path
  src:
    description:
      - A file to upload into a new volume, read where the module runs (usually the controller, see the notes) and sent
        through the libvirt connection, so it works with a remote O(uri) too.
      - Uploaded only when this run creates the volume. The content of an existing volume is not compared, because
        reading back a large image costs as much as writing it; set O(force_upload=true) to upload over it.
      - A qcow2 file that names a backing file or an external data file is refused.
      - When the upload fails, the volume made by the run is deleted again.
      - Mutually exclusive with O(backing) and O(clone_from).
    type: path
  force_upload:
    description:
      - Upload O(src) over the content of an existing volume, on every run (the task then always reports a change).
      - The volume's capacity becomes the file's size (raw, never smaller than before; what lies past the end of a
        smaller file stays as it was) or the image's virtual size (qcow2).
    type: bool
    default: false
  force:
    description:
      - With O(state=absent), delete the volume even when a domain or an overlay uses it. They are broken afterwards.
    type: bool
    default: false
notes:
  - Who uses a volume is read from this connection only; domains and overlays on other hosts (shared storage) cannot be
    seen.
  - Growing a volume grows the disk, not the partitions or file systems in it. Resize a volume only while no running
    domain uses it (QEMU locks its images; use C(virsh blockresize) for a running domain).
seealso:
  - module: virtops.libvirt.virt_pool
  - name: libvirt storage volume XML format
    description: What a storage volume definition holds.
    link: https://libvirt.org/formatstorage.html#storage-volume-xml
"""

EXAMPLES = r"""
- name: An empty 20 GiB qcow2 disk
  virtops.libvirt.virt_volume:
    pool: images
    name: web1-data.qcow2
    capacity: 20G

- name: A base image uploaded from the controller (once; later runs leave it alone)
  virtops.libvirt.virt_volume:
    pool: images
    name: debian-12.qcow2
    src: /srv/images/debian-12-genericcloud-amd64.qcow2

- name: A linked clone of the base image, grown to 40 GiB
  virtops.libvirt.virt_volume:
    pool: images
    name: web1.qcow2
    backing:
      volume: debian-12.qcow2
    capacity: 40G

- name: A full copy of a volume of another pool, as raw
  virtops.libvirt.virt_volume:
    pool: fast
    name: db1.img
    format: raw
    clone_from:
      pool: images
      volume: debian-12.qcow2

- name: Delete a volume (refused while a domain or an overlay uses it)
  virtops.libvirt.virt_volume:
    pool: images
    name: web1-data.qcow2
    state: absent
"""

RETURN = r"""
volume:
  description:
    - The volume after the run (in check mode, as the run would leave it; what cannot be known before it exists is
      null, for example RV(volume.allocation)).
    - With O(state=absent), the volume as it was before it was deleted, or null when there was none.
  returned: always
  type: dict
  contains:
    name:
      description: The volume's name.
      type: str
      sample: web1.qcow2
    pool:
      description: The name of its storage pool.
      type: str
      sample: images
    path:
      description: Its path on the libvirt host.
      type: str
      sample: /var/lib/libvirt/images/web1.qcow2
    key:
      description: libvirt's key of the volume (the path, for a directory pool).
      type: str
      sample: /var/lib/libvirt/images/web1.qcow2
    format:
      description: Its format, as libvirt describes it.
      type: str
      sample: qcow2
    capacity:
      description: The size of the disk it holds, in bytes.
      type: int
      sample: 42949672960
    allocation:
      description: The bytes it takes on the host.
      type: int
      sample: 200704
    backing:
      description: Its backing file (path and format), or null.
      type: dict
      sample: {path: /var/lib/libvirt/images/debian-12.qcow2, format: qcow2}
actions:
  description: What the run did (in check mode, would do), in order, one line each.
  returned: always
  type: list
  elements: str
  sample: ["create a qcow2 overlay of 40 GiB (42949672960 bytes) backed by /var/lib/libvirt/images/debian-12.qcow2 (qcow2)"]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.virtops.libvirt.plugins.module_utils._storage.module import VOLUME_ARGUMENT_RULES, VOLUME_ARGUMENT_SPEC, run_volume


def main() -> None:
    module = AnsibleModule(argument_spec=VOLUME_ARGUMENT_SPEC, supports_check_mode=True, **VOLUME_ARGUMENT_RULES)
    run_volume(module)


if __name__ == "__main__":
    main()
