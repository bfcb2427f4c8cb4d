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
  connect_timeout:
    description:
      - Seconds to wait for the connection to libvirt. A daemon that accepts the connection but never answers
        (a hung host, an ssh login that waits for a password) fails the task after this time, naming the URI.
      - Once connected, modules that wait on guests ask the daemon for keepalive messages, so a daemon that
        stops answering breaks the connection within about 12 seconds instead of hanging the task.
    type: float
    default: 30
requirements:
  - libvirt-python (Debian and Ubuntu package C(python3-libvirt), Fedora and RHEL C(python3-libvirt))
notes:
  - "The modules run where the libvirt client runs: usually the controller (C(delegate_to: localhost)) or the hypervisor itself."
  - Credentials in O(uri) (a password in its user part or in a query parameter) are never shown in messages.
"""
