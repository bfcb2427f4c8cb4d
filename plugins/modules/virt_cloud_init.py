#!/usr/bin/python
# Copyright: (c) 2026, virtops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: virt_cloud_init
short_description: A cloud-init NoCloud seed (user-data, meta-data, network-config) in a storage volume
version_added: 0.1.0
description:
  - Builds a cloud-init NoCloud seed - an ISO 9660 image labelled C(cidata) holding C(user-data), C(meta-data) and,
    when given, C(network-config) - and keeps it in a raw volume of a libvirt storage pool, ready to attach to a
    domain as a read-only cdrom.
  - The image is built in Python (pycdlib) where the module runs and uploaded through libvirt, so it works the same
    for a local and a remote hypervisor and needs no ISO tool on either.
  - Idempotent by content. An existing seed is read back and its files compared with the ones asked for; the same
    files mean no change and no write. Other files mean a new seed, written in place of the old one.
  - cloud-init reads a seed on a VM's first boot (for each new instance-id). A seed written again for a VM that has
    booted already changes nothing in that VM unless its instance-id changes too.
  - A volume of that name that holds no NoCloud seed (no ISO 9660 filesystem labelled C(cidata)) is never
    overwritten or deleted; the task fails saying so.
author:
  - virtops maintainers (@virtops)
requirements:
  - pycdlib (Debian and Ubuntu package C(python3-pycdlib), or C(pip install pycdlib))
extends_documentation_fragment:
  - virtops.libvirt.connection
  - virtops.libvirt.attributes
attributes:
  check_mode:
    support: full
    details: The seed is built and compared as in a normal run; nothing is written.
  diff_mode:
    support: full
    details: The files of the seed before and after, as text.
  idempotent:
    support: full
options:
  pool:
    description:
      - The storage pool of the seed's volume. It must exist and be active (see M(virtops.libvirt.virt_pool)).
    type: str
    required: true
  name:
    description:
      - The seed volume's name in O(pool), for example C(web1-seed.iso).
    type: str
    required: true
  state:
    description:
      - V(present) writes the seed when it is missing or its files differ.
      - V(absent) deletes the seed's volume, refusing while a domain definition uses it as a disk (remove the domain
        first) and refusing a volume that holds no NoCloud seed.
    type: str
    choices: [present, absent]
    default: present
  user_data:
    description:
      - The user-data. A mapping is written as cloud-config (YAML, with the C(#cloud-config) header). A string is
        written as given (a C(#cloud-config) document, a C(#!) script, a MIME multipart message).
      - Defaults to an empty cloud-config.
    type: raw
  meta_data:
    description:
      - The meta-data, a mapping (written as YAML) or a string. A mapping without C(instance-id) gets O(name) as
        its C(instance-id).
      - Defaults to C(instance-id) only.
    type: raw
  network_config:
    description:
      - The network-config (cloud-init's network configuration version 1 or 2), a mapping or a string. Without it
        the seed has no C(network-config) file and cloud-init uses its default (DHCP on the first NIC).
    type: raw
notes:
  - "The seed's files may hold secrets (password hashes, keys): use C(no_log) on the task, and C(diff: false) when
    running with C(--diff)."
seealso:
  - module: virtops.libvirt.virt_volume
  - module: virtops.libvirt.virt_pool
  - name: cloud-init NoCloud datasource
    description: What the seed's files mean.
    link: https://cloudinit.readthedocs.io/en/latest/reference/datasources/nocloud.html
"""

EXAMPLES = r"""
- name: Seed a VM with its hostname and an ssh key for root
  virtops.libvirt.virt_cloud_init:
    uri: qemu:///system
    pool: default
    name: web1-seed.iso
    user_data:
      hostname: web1
      disable_root: false
      ssh_authorized_keys:
        - "{{ lookup('ansible.builtin.file', '~/.ssh/id_ed25519.pub') }}"
    meta_data:
      local-hostname: web1

- name: A static address instead of DHCP
  virtops.libvirt.virt_cloud_init:
    pool: default
    name: db1-seed.iso
    user_data: "#cloud-config\npackage_upgrade: false\n"
    network_config:
      version: 2
      ethernets:
        eth0:
          addresses: [192.168.122.20/24]
          routes:
            - to: default
              via: 192.168.122.1

- name: Remove the seed once the VM is gone
  virtops.libvirt.virt_cloud_init:
    pool: default
    name: web1-seed.iso
    state: absent
"""

RETURN = r"""
seed:
  description: The seed volume as it is after the task (in check mode, as it would be); V(null) when it is absent.
  returned: always
  type: dict
  contains:
    pool:
      description: The volume's pool.
      type: str
      sample: default
    name:
      description: The volume's name.
      type: str
      sample: web1-seed.iso
    path:
      description: The volume's path on the hypervisor (V(null) in check mode for a volume not made yet).
      type: str
      sample: /var/lib/libvirt/images/web1-seed.iso
    size:
      description: The size of the seed image in bytes.
      type: int
      sample: 372736
    files:
      description: The SHA-256 of each file of the seed.
      type: dict
      sample: {"user-data": "3f1c...", "meta-data": "9a0b..."}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.virtops.libvirt.plugins.module_utils._cloud_init.module import (
    ARGUMENT_SPEC,
    run,
)


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    run(module)


if __name__ == "__main__":
    main()
