# Copyright: (c) 2026, virtops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  uri:
    description:
      - The libvirt connection URI, for example V(qemu:///system), V(qemu+ssh://root@host/system) or V(test:///default).
      - If not set, the E(LIBVIRT_DEFAULT_URI) environment variable is used, then V(qemu:///system).
      - Set it once for every module of this collection with C(module_defaults) and the group C(group/virtops.libvirt.libvirt).
    type: str
    default: qemu:///system
requirements:
  - libvirt-python
notes:
  - "The modules run where the libvirt client runs: usually the controller (C(delegate_to: localhost)) or the hypervisor itself."
"""
