#!/usr/bin/python
# Copyright: (c) 2026, virtops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: virt_power
short_description: Bring a libvirt domain to a power state, and wait until it is there
version_added: 0.1.0
description:
  - Reads the power state libvirt reports for a domain, compares it with O(state) and sends only the
    requests needed to get there (start, resume, graceful shutdown, ...), in order.
  - Graceful transitions (shutdown, reboot) are waited for until they really happened, using libvirt
    lifecycle events (a polling fallback is used where the driver has no events). The request is sent
    again every O(retry_interval) seconds, and O(on_timeout) decides what happens when the guest does
    not comply within O(timeout).
  - A second identical run reports no change and sends nothing. Changes made elsewhere (a
    C(virsh shutdown), a guest powering itself off) are simply the current state.
  - A domain libvirt is in the middle of an operation on (paused while it is starting up, migrating, saving, dumping,
    creating a snapshot, shutting down, or in post-copy) is waited for until the operation ends, then planned from the
    state it settles in; such a pause is never taken for a user's. When libvirt refuses a step because the domain
    changed meanwhile (another client started, resumed or stopped it first), the state is read again and the steps
    planned again, a few times at most. So many runs on one domain at the same time all end where asked.
    A migration, save, dump or snapshot counts only while libvirt reports that job under way (a domain restored
    paused keeps the reason C(migrating) and is simply paused).
  - When the connection to the libvirt daemon breaks while the module waits (the daemon restarted), it is opened again
    within what is left of O(timeout), the domain is found again by its UUID and the wait goes on (requests are sent
    again when due, O(on_timeout) applies at the end), with a warning. If the daemon does not come back in time, the
    module fails naming the requests sent and the state the domain was last seen in.
  - Before a graceful shutdown or reboot that is waited for (O(wait=true), not in check mode), the action plugin
    prints one line on the controller at default verbosity naming the domain and the longest wait (O(timeout)).
  - With O(names), one run acts on many domains of the hypervisor at O(uri) at once (a batch) over one
    connection. The states of all of them are read in a few calls; a domain already in the desired state costs
    nothing more. Every other domain is driven exactly as a run with O(name) would drive it, all at the same time
    (at most O(max_in_flight) at once), each with its own O(timeout), O(retry_interval) and O(on_timeout), so a
    batch takes as long as its slowest domain. A domain that fails (missing, refused, timed out) never stops the
    others; the task fails at the end, naming each failed domain and why, and still returns RV(domains) and RV(totals).
    The action plugin prints one line when the batch starts and one when it ends (domains done, changed, failed,
    the slowest domain), at default verbosity.
  - With O(wait_for), once the domain runs, the module waits until the guest is usable - its QEMU guest agent answers
    (V(agent)) or it has an IP address (V(ip)) - for at most O(wait_for_timeout) seconds, and returns its RV(addresses)
    and RV(ip). See O(wait_for).
  - The playbooks C(virtops.libvirt.power) and C(virtops.libvirt.restart_rolling) group inventory hosts by hypervisor
    and run one batch per hypervisor; see C(docs/fleet.md).
author:
  - virtops maintainers (@virtops)
extends_documentation_fragment:
  - virtops.libvirt.connection
  - virtops.libvirt.attributes
attributes:
  check_mode:
    support: full
    details:
      - Reports the requests that would be sent in RV(actions) and whether anything would change, and sends nothing.
      - An operation libvirt has under way on the domain (for example a start-up) is waited out first, so that the
        prediction starts from the state the domain settles in.
  diff_mode:
    support: none
  idempotent:
    support: partial
    details: Idempotent for every O(state) but V(restarted) and V(reset), which act on every run.
options:
  name:
    description:
      - Name of the domain. One of O(name), O(uuid) and O(names) is required.
    type: str
    aliases: [domain]
  uuid:
    description:
      - UUID of the domain, instead of O(name).
    type: str
  names:
    description:
      - Names of many domains of the same hypervisor, to act on in one run (a batch), instead of O(name).
      - Every other option applies to each domain. A name given twice is acted on once, with a warning.
        An empty list does nothing.
      - The result is then RV(domains) (one outcome per name, in this order) and RV(totals), not the fields of a single domain.
    type: list
    elements: str
  max_in_flight:
    description:
      - With O(names), at most this many domains are worked on at the same time; the others wait for a free slot (their
        O(timeout) starts when they get one). V(0) works on every domain at once.
      - Domains already in the desired state never take a slot, unless O(wait_for) is set (then they are waited for in one).
    type: int
    default: 0
  state:
    description:
      - The power state to bring the domain to. V(stopped) is an alias of V(shutdown).
      - V(running) starts a shut-off domain (restoring its managed-save image if it has one), resumes a
        paused one and wakes a pm-suspended one. A domain that is still shutting down is waited for, then started.
      - V(shutdown) asks the guest to shut down and waits until libvirt reports it shut off
        (libvirt's C(in shutdown) is not off). A paused domain is resumed first so the guest can hear the request.
        A transient domain that disappears as it shuts down counts as done.
      - V(destroyed) powers the domain off immediately.
      - V(paused) suspends a running domain and starts a shut-off one paused.
      - V(saved) saves the domain's memory to disk with a managed save; the next start restores it.
      - V(restarted) reboots the guest gracefully and waits for the reboot (it starts a shut-off domain);
        it always reports a change.
      - V(reset) resets the domain like a hardware reset button; it always reports a change.
      - 'The full transition table, by desired state, from each state libvirt may report (V(saved) is a
        shut-off domain with a managed-save image; "error" means the module fails, naming the reason):'
      - "V(running): from V(running): nothing; from V(paused): resume; from V(in_shutdown): wait until off, start;
        from V(shutoff): start; from V(saved): start; from V(crashed): power off, start; from V(pmsuspended): wake up."
      - "V(shutdown): from V(running): graceful shutdown; from V(paused): resume, graceful shutdown;
        from V(in_shutdown): wait until off; from V(shutoff): nothing; from V(saved): nothing; from V(crashed): power off;
        from V(pmsuspended): wake up, graceful shutdown."
      - "V(destroyed): from V(running): power off; from V(paused): power off; from V(in_shutdown): power off;
        from V(shutoff): nothing; from V(saved): nothing; from V(crashed): power off; from V(pmsuspended): power off."
      - "V(paused): from V(running): suspend; from V(paused): nothing; from V(in_shutdown): wait until off, start paused;
        from V(shutoff): start paused; from V(saved): start paused; from V(crashed): power off, start paused;
        from V(pmsuspended): wake up, suspend."
      - "V(saved): from V(running): managed save; from V(paused): managed save; from V(in_shutdown): error;
        from V(shutoff): error; from V(saved): nothing; from V(crashed): error; from V(pmsuspended): wake up, managed save."
      - "V(restarted): from V(running): graceful reboot; from V(paused): resume, graceful reboot;
        from V(in_shutdown): wait until off, start; from V(shutoff): start; from V(saved): start;
        from V(crashed): power off, start; from V(pmsuspended): wake up, graceful reboot."
      - "V(reset): from V(running): hard reset; from V(paused): hard reset; from V(in_shutdown): hard reset;
        from V(shutoff): error; from V(saved): error; from V(crashed): power off, start; from V(pmsuspended): hard reset."
    type: str
    required: true
    choices: [running, shutdown, stopped, destroyed, paused, saved, restarted, reset]
  shutdown_mode:
    description:
      - The methods used to ask the guest to shut down or reboot, tried in this order until libvirt accepts one.
      - V(acpi) presses the virtual ACPI power button; V(agent) asks the QEMU guest agent.
      - When not set, libvirt chooses (for QEMU, the guest agent when one is configured, else ACPI).
    type: list
    elements: str
    choices: [acpi, agent]
  timeout:
    description:
      - Seconds to wait for each graceful transition (shutdown, reboot, a shutdown already under way, a wake-up), for
        an operation libvirt has under way on the domain (start-up, migration, save, dump, snapshot) to end, and, when
        the connection to the libvirt daemon breaks meanwhile, for the daemon to come back.
      - A number from V(0) (do not wait) to V(604800) (a week); NaN, infinite and negative values are refused.
    type: float
    default: 120
  retry_interval:
    description:
      - While waiting for a graceful shutdown or reboot, send the request again every this many seconds.
        A guest that is still booting can miss the first ACPI event.
      - V(0) sends the request once. Otherwise at least V(1) (a request sent more often only floods the guest) and
        at most V(604800); NaN, infinite and negative values are refused.
    type: float
    default: 10
  on_timeout:
    description:
      - What to do when a graceful transition did not finish within O(timeout).
      - V(fail) fails the task, naming the time waited, the requests sent and the state now; the domain is left as it is.
      - V(force) powers the domain off (shutdown) or resets it (reboot), reports RV(forced) and says so in a warning
        naming the domain and the time waited.
      - A shut-off domain is never reset. A guest that powers off instead of rebooting (its C(on_reboot) action is
        C(destroy)) is noticed at once, whatever O(on_timeout) is, and started again with a warning, as
        O(state=restarted) ends running.
      - A guest paused meanwhile by someone else cannot shut down; the failure says who or what paused it (libvirt's
        reason), and V(force) powers it off.
    type: str
    choices: [fail, force]
    default: fail
  wait:
    description:
      - Wait for the last graceful transition to finish.
      - When V(false), return as soon as the last request has been accepted; transitions that
        have to finish before the next step can be sent are still waited for.
    type: bool
    default: true
  wait_for:
    description:
      - Once the domain runs, wait until the guest is usable, then return its RV(addresses) and RV(ip).
      - V(agent) waits until the QEMU guest agent answers a C(guest-ping) (the domain needs the channel
        C(org.qemu.guest_agent.0) and the guest C(qemu-guest-agent)). V(ip) waits until one of O(ip_sources) reports
        a usable address (not loopback, not link-local).
      - Only for a O(state) that ends with the domain running, V(running) and V(restarted), and with O(wait=true);
        any other combination is refused before anything is sent.
      - The wait only reads, so it never makes the task changed by itself; a domain already running is waited for too.
        It polls every second, until O(wait_for_timeout). When the time is up, the task fails saying what it waited
        for, how long, what it saw last (the agent's error, or that no source had an address), and that the domain is
        running (started by this run or not); the domain is left running.
      - "After O(state=restarted), prefer V(agent): a DHCP lease outlives the reboot, so V(ip) with the V(lease) source
        is satisfied at once."
      - In check mode the module does not wait; it returns the addresses the domain has now (if it runs) and
        RV(waited=false).
      - With O(names), every domain is waited for on its own, at the same time (within O(max_in_flight)), each with its
        own O(wait_for_timeout); a domain already running then takes a slot too.
    type: str
    choices: [agent, ip]
  wait_for_timeout:
    description:
      - Seconds to wait for O(wait_for), counted from the moment the domain runs (after O(timeout), which bounds the
        power transition).
      - A number from V(0) (look once) to V(604800) (a week); NaN, infinite and negative values are refused.
    type: float
    default: 300
  ip_sources:
    description:
      - Where to read the addresses, in order, with the same names and meaning as the inventory plugin's
        C(ip_sources); the first source that knows a usable address gives RV(addresses).
      - V(lease) asks libvirt for the DHCP leases of its own networks; V(agent) asks the QEMU guest agent; V(arp) reads
        the host's ARP table.
      - Used with O(wait_for) only.
    type: list
    elements: str
    choices: [lease, agent, arp]
    default: [lease, agent]
seealso:
  - name: libvirt domain lifecycle
    description: The states and transitions of a libvirt domain.
    link: https://libvirt.org/html/libvirt-libvirt-domain.html#virDomainState
"""

EXAMPLES = r"""
- name: Make sure web1 is running
  virtops.libvirt.virt_power:
    name: web1
    state: running

- name: Shut down a guest gracefully, powering it off if it ignores us for 60 seconds
  virtops.libvirt.virt_power:
    name: batch7
    state: shutdown
    timeout: 60
    on_timeout: force

- name: Ask through the guest agent first, then with the ACPI power button
  virtops.libvirt.virt_power:
    name: db1
    state: shutdown
    shutdown_mode: [agent, acpi]

- name: Save a domain's memory to disk on a remote hypervisor
  virtops.libvirt.virt_power:
    uri: qemu+ssh://root@hv1.example.com/system
    name: build3
    state: saved

- name: Shut down three guests of one hypervisor at once, each given at most 60 seconds
  virtops.libvirt.virt_power:
    names: [batch1, batch2, batch3]
    state: shutdown
    timeout: 60
    on_timeout: force
  register: batch

- name: Show how long the slowest took
  ansible.builtin.debug:
    msg: "{{ batch.totals.slowest.name }} took {{ batch.totals.slowest.elapsed }} s"

- name: Start a new guest and wait until it has an address
  virtops.libvirt.virt_power:
    name: web7
    state: running
    wait_for: ip
    wait_for_timeout: 180
  register: web7

- name: Add it to the inventory at that address
  ansible.builtin.add_host:
    name: web7
    ansible_host: "{{ web7.ip }}"
    groups: [new_guests]

- name: Wait until Ansible can log in
  ansible.builtin.wait_for_connection:
    timeout: 300
  delegate_to: web7

- name: Wait for the guest agent of three guests at once, and read the addresses it reports
  virtops.libvirt.virt_power:
    names: [db1, db2, db3]
    state: running
    wait_for: agent
    ip_sources: [agent]
  register: dbs

- name: Set the URI once for every module of the collection
  module_defaults:
    group/virtops.libvirt.libvirt:
      uri: qemu:///system
  block:
    - name: Restart the app server and wait for its reboot
      virtops.libvirt.virt_power:
        name: app1
        state: restarted
"""

RETURN = r"""
state:
  description:
    - The domain's state after the run, one of V(running), V(paused), V(in_shutdown), V(shutoff), V(saved)
      (shut off with a managed-save image), V(crashed), V(pmsuspended).
    - In check mode, the state before the run.
  returned: with O(name) or O(uuid)
  type: str
  sample: shutoff
previous_state:
  description:
    - The domain's state before the run, in the same vocabulary as RV(state); when libvirt had an operation under way
      on it (for example a start-up), the state it settled in.
    - Returned by a failed run too, like every field here.
  returned: with O(name) or O(uuid)
  type: str
  sample: running
reason:
  description: libvirt's reason for the state, as C(virsh domstate --reason) names it.
  returned: with O(name) or O(uuid)
  type: str
  sample: shutdown
elapsed:
  description: Seconds the module spent on the domain.
  returned: with O(name) or O(uuid)
  type: float
  sample: 0.734
actions:
  description:
    - The requests sent to libvirt, in order (in check mode, the requests that would be sent).
    - A graceful request sent with a O(shutdown_mode) names it, for example V(shutdown:acpi).
  returned: with O(name) or O(uuid)
  type: list
  elements: str
  sample: [shutdown:acpi, shutdown:acpi, destroy]
forced:
  description: Whether the domain was powered off or reset after a graceful transition timed out.
  returned: with O(name) or O(uuid)
  type: bool
  sample: false
name:
  description: The domain's name.
  returned: with O(name) or O(uuid)
  type: str
  sample: web1
uuid:
  description: The domain's UUID.
  returned: with O(name) or O(uuid)
  type: str
  sample: 8c1e3b7e-2a4f-4a55-9a1c-3f0f6f1b2d11
id:
  description: The domain's ID while it is active, else V(null).
  returned: with O(name) or O(uuid)
  type: int
  sample: 7
addresses:
  description:
    - With O(wait_for), the usable addresses of the domain (no loopback, no link-local), from the first source of
      O(ip_sources) that knows any, IPv4 first, then in the order of the domain's NICs.
    - Empty when the wait failed, and in check mode for a domain that does not run.
  returned: with O(wait_for)
  type: list
  elements: dict
  contains:
    interface:
      description: The interface name as the source reports it (the host's C(vnet0) for V(lease), the guest's C(eth0) for V(agent)).
      type: str
    mac:
      description: The MAC address of the NIC.
      type: str
    network:
      description: The libvirt network the NIC is attached to, else its host bridge (from the domain's live definition), when known.
      type: str
    bridge:
      description: The host bridge of the NIC, when the live definition names it.
      type: str
    family:
      description: V(ipv4) or V(ipv6).
      type: str
    address:
      description: The address.
      type: str
    prefix:
      description: The prefix length.
      type: int
    source:
      description: The source of O(ip_sources) it came from.
      type: str
  sample:
    - {interface: vnet3, mac: "52:54:00:6b:3c:58", network: default, bridge: virbr0, family: ipv4, address: 192.168.122.43,
       prefix: 24, source: lease}
ip:
  description:
    - "With O(wait_for), the address the guest is reached at, by the rule of the inventory plugin's C(ansible_host):
      the first of RV(addresses). V(null) when there is none."
  returned: with O(wait_for)
  type: str
  sample: 192.168.122.43
wait_for_seconds:
  description: With O(wait_for), the seconds spent waiting for the guest to be usable (also counted in RV(elapsed)).
  returned: with O(wait_for)
  type: float
  sample: 38.2
waited:
  description: With O(wait_for), whether the module waited (V(false) in check mode, where it does not).
  returned: with O(wait_for)
  type: bool
  sample: true
domains:
  description:
    - With O(names), one outcome per name, in the order given, each with the fields a run with O(name) returns
      (RV(state), RV(previous_state), RV(reason), RV(elapsed), RV(actions), RV(forced), RV(name), RV(uuid), RV(id),
      and with O(wait_for) RV(addresses), RV(ip), RV(wait_for_seconds), RV(waited)),
      plus C(changed), C(failed) and, for a failed domain, C(msg) saying why.
    - The fields nothing could find out (a domain that does not exist) are V(null).
  returned: with O(names)
  type: list
  elements: dict
  sample:
    - {name: web1, uuid: 8c1e3b7e-2a4f-4a55-9a1c-3f0f6f1b2d11, id: null, state: shutoff, previous_state: running,
       reason: shutdown, actions: [shutdown], forced: false, elapsed: 4.2, changed: true, failed: false}
totals:
  description: With O(names), the batch in figures.
  returned: with O(names)
  type: dict
  contains:
    domains:
      description: How many domains the batch acted on.
      type: int
    changed:
      description: How many of them changed.
      type: int
    failed:
      description: How many of them failed.
      type: int
    forced:
      description: How many were powered off or reset after their O(timeout).
      type: int
    slowest:
      description: The domain that took longest, as C(name) and C(elapsed); V(null) for an empty batch.
      type: dict
    elapsed:
      description: Seconds the whole batch took.
      type: float
  sample: {domains: 3, changed: 2, failed: 0, forced: 1, slowest: {name: batch2, elapsed: 60.4}, elapsed: 60.5}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.virtops.libvirt.plugins.module_utils._power.module import (
    ARGUMENT_RULES,
    ARGUMENT_SPEC,
    run,
)


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True, **ARGUMENT_RULES)
    run(module)


if __name__ == "__main__":
    main()
