#!/usr/bin/python
# Copyright: (c) 2026, virtops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: virt_pool
short_description: Make a libvirt directory storage pool exist and run, or remove it without deleting anything
version_added: 0.1.0
description:
  - O(state=present) makes the storage pool O(name) defined, built (its directory made when missing), active, and
    started at boot or not as O(autostart) says.
  - O(state=absent) stops and undefines the pool. B(It never deletes the directory or any volume in it), so defining the
    pool again with the same path finds the volumes again.
  - Only directory pools (O(type=dir)) are managed for now.
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
    details: The same plan as a real run predicts C(changed), RV(actions) and RV(pool); nothing is written.
  diff_mode:
    support: full
    details: The pool's state, type, path, active and autostart flags, before and after.
  idempotent:
    support: full
    details: A pool already as asked is only read.
options:
  name:
    description:
      - The storage pool's name. A name with a C(/), a NUL or another control character, a leading C(-), or longer than
        255 bytes is refused.
    type: str
    required: true
  state:
    description:
      - V(present) defines, builds and starts the pool; V(absent) stops and undefines it (its directory and volumes
        stay).
    type: str
    choices: [present, absent]
    default: present
  type:
    description:
      - The pool type. Only V(dir) (a directory of image files on the libvirt host) is supported now.
      - An existing pool of another type is an error; it is never changed in place.
    type: str
    choices: [dir]
    default: dir
  path:
    description:
      - The pool's directory on the libvirt host, an absolute path.
      - Required to create the pool. For an existing pool it may be left out; when it is given and differs from the
        pool's path, the task fails, as a pool's target is never changed in place (remove the pool and create it
        again, or use another name).
      - A missing directory is made, with its parents, mode C(0711) (so the QEMU user can reach images in it). The mode
        of an existing directory is left as it is.
    type: path
  autostart:
    description: Whether libvirt starts the pool when the daemon starts.
    type: bool
    default: true
notes:
  - Pools of other types (LVM, iSCSI, NFS, ...) are not managed by this module yet.
seealso:
  - module: virtops.libvirt.virt_volume
  - name: libvirt storage pool XML format
    description: What a storage pool definition holds.
    link: https://libvirt.org/formatstorage.html
"""

EXAMPLES = r"""
- name: A directory pool for the images of the guests
  virtops.libvirt.virt_pool:
    name: images
    path: /var/lib/libvirt/images

- name: A scratch pool libvirt does not start at boot
  virtops.libvirt.virt_pool:
    name: scratch
    path: /srv/scratch-images
    autostart: false

- name: Remove a pool (its directory and the volumes in it stay on disk)
  virtops.libvirt.virt_pool:
    name: scratch
    state: absent
"""

RETURN = r"""
pool:
  description:
    - The pool after the run (in check mode, as the run would leave it); null when there is none.
    - With O(state=absent), the pool as it was before it was removed.
  returned: always
  type: dict
  contains:
    name:
      description: The pool's name.
      type: str
      sample: images
    type:
      description: The pool type.
      type: str
      sample: dir
    path:
      description: The pool's directory.
      type: str
      sample: /var/lib/libvirt/images
    active:
      description: Whether the pool is started.
      type: bool
    autostart:
      description: Whether libvirt starts the pool when the daemon starts.
      type: bool
    capacity:
      description: The size of the file system holding the pool, in bytes; null while the pool is not active (and in check mode for a new pool).
      type: int
      sample: 270553174016
    available:
      description: The free space for volumes, in bytes; null while the pool is not active.
      type: int
      sample: 244612952064
    volumes:
      description: How many volumes the pool holds; null while the pool is not active.
      type: int
      sample: 3
actions:
  description: What the run did (in check mode, would do), in order.
  returned: always
  type: list
  elements: str
  sample: [define, build and start, set autostart]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.virtops.libvirt.plugins.module_utils._storage.module import POOL_ARGUMENT_SPEC, run_pool


def main() -> None:
    module = AnsibleModule(argument_spec=POOL_ARGUMENT_SPEC, supports_check_mode=True)
    run_pool(module)


if __name__ == "__main__":
    main()
