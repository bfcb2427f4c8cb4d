# Copyright: (c) 2026, virtops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet playbooks' plan and summary (filters of virtops.libvirt.power and
virtops.libvirt.restart_rolling): the selected inventory hosts grouped into one
virt_power batch per hypervisor and options, cut into rounds as the play's
``serial`` would; each batch's result turned back into one outcome per host; and
the summary lines.

Each host's variables are read once, here, in one pass: a playbook task per host
costs Ansible about 10 ms, for every host, even when it is skipped.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from ansible.errors import AnsibleFilterError
from ansible.utils.helpers import pct_to_int

# What the summary calls a forced fallback, by the state the domain ended in.
FORCED_KIND = {"shutoff": "off", "saved": "off"}
REQUIRED = ("libvirt_name", "libvirt_uri")


def serial_sizes(serial: Any, count: int) -> list[int]:
    """The sizes of the rounds over ``count`` hosts, as a play's ``serial`` cuts them
    (a number, a percentage, or a list of those whose last one repeats; 0: one round)."""
    values = list(serial) if isinstance(serial, Sequence) and not isinstance(serial, str) else [serial]
    sizes: list[int] = []
    left = count
    for index in range(count):
        if left <= 0:
            break
        value = values[min(index, len(values) - 1)] if values else 0
        try:
            size = pct_to_int(value, count) if isinstance(value, str) and value.strip().endswith("%") else int(value or 0)
        except (TypeError, ValueError):
            size = -1
        if size < 0:
            raise AnsibleFilterError(
                f"The domains per round (power_serial, restart_batch) must be 0 (all at once), a number of domains, a percentage "
                f"or a list of those, not {value!r}."
            )
        size = left if size == 0 else min(size, left)
        sizes.append(size)
        left -= size
    return sizes


def fleet_batches(hosts: Sequence[str], hostvars: Mapping[str, Any], options: Sequence[str] | Mapping[str, Any] = (), serial: Any = 0) -> dict[str, Any]:
    """The hosts grouped by hypervisor (``libvirt_uri``) and by the values of the
    variables named in ``options``, each group led by its first host, cut into the
    rounds of ``serial``. Hosts without libvirt_name or libvirt_uri are ``invalid``;
    ``states`` lists the values of the first option (the desired states).

    ``options`` may map each name to its value as the play sees it for the first
    host: ``hostvars`` hold no play variables (``vars:`` of a play, of an
    ``import_playbook``), so a value the play sees that the first host's variables
    do not hold is the play's, for every host."""
    names = list(options)
    fixed = played_options(options, hostvars[hosts[0]] if hosts else {})
    members: list[dict[str, Any]] = []
    invalid: list[dict[str, Any]] = []
    for index, host in enumerate(hosts):
        host_vars = hostvars[host]
        missing = [variable for variable in REQUIRED if host_vars.get(variable) is None]
        if missing:
            invalid.append({"host": host, "index": index, "msg": invalid_message(host, missing)})
            continue
        chosen = {option: fixed[option] if option in fixed else host_vars.get(option) for option in names}
        members.append(
            {
                "host": host,
                "index": index,
                "name": str(host_vars.get("libvirt_name")),
                "uri": str(host_vars.get("libvirt_uri")),
                "options": {option: value for option, value in chosen.items() if value is not None},
            }
        )
    sizes = serial_sizes(serial, len(members))
    batches: dict[str, dict[str, Any]] = {}
    start = 0
    for number, size in enumerate(sizes):
        for member in members[start : start + size]:
            key = repr((member["uri"], sorted(member["options"].items(), key=lambda pair: pair[0])))
            batch = batches.setdefault(key, {"leader": member["host"], "uri": member["uri"], "options": member["options"], "rounds": [[] for _size in sizes]})
            batch["rounds"][number].append({"host": member["host"], "name": member["name"], "index": member["index"]})
        start += size
    states = ",".join(dict.fromkeys(str(batch["options"][names[0]]) for batch in batches.values() if names and names[0] in batch["options"]))
    return {"batches": list(batches.values()), "invalid": invalid, "rounds": len(sizes), "hosts": len(hosts), "states": states}


def played_options(options: Sequence[str] | Mapping[str, Any], first: Mapping[str, Any]) -> dict[str, Any]:
    """The options whose value the play sets for every host: those it sees otherwise
    than the first host's own variables say."""
    if not isinstance(options, Mapping):
        return {}
    return {option: value for option, value in options.items() if value is not None and first.get(option) != value}


def fleet_leaders(plan: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The host that runs each batch (``leader``), and the batch's ``uri``. With no
    batch at all (no host is a domain of the inventory plugin), the first host, to
    report that (``uri`` None)."""
    if not plan["batches"] and plan["invalid"]:
        return [{"leader": plan["invalid"][0]["host"], "uri": None}]
    return [{"leader": batch["leader"], "uri": batch["uri"]} for batch in plan["batches"]]


def invalid_message(host: str, missing: list[str]) -> str:
    return (
        f"{host} has no {' or '.join(missing)}: it does not come from the virtops.libvirt.libvirt inventory plugin. "
        "Use an inventory file ending in .libvirt.yml and limit the run to its domains."
    )


def fleet_outcomes(
    result: Mapping[str, Any] | None,
    members: Sequence[Mapping[str, Any]],
    check_mode: bool = False,
    expect: str | None = None,
    waited: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """One outcome per host of a round from its batch's virt_power result: what the
    summary needs (``line`` says it in words). A result without ``domains`` (the
    batch failed as a whole: the hypervisor did not answer) fails every host with
    its message. With ``expect`` (a rolling restart), each domain must end in that
    state, and ``waited`` is the registered loop of ansible.builtin.wait_for over the
    round's hosts (``item.host``), each of which must have met its condition."""
    result = result or {}
    by_name = {str(outcome.get("name")): outcome for outcome in result.get("domains") or () if isinstance(outcome, Mapping)}
    waits = {str((item.get("item") or {}).get("host")): item for item in (waited or {}).get("results") or () if isinstance(item, Mapping)}
    outcomes = []
    for member in members:
        domain = by_name.get(str(member["name"]))
        if domain is None:
            outcomes.append(_outcome(member, {}, str(result.get("msg") or "virt_power returned no outcome for this domain")))
            continue
        failed = str(domain.get("msg") or "failed") if domain.get("failed") else ""
        if not failed and expect and not check_mode and domain.get("state") != expect:
            failed = f"{member['host']} is {domain.get('state')} ({domain.get('reason')}) after the restart, not {expect}; the roll stops here."
        wait = waits.get(str(member["host"]))
        met = ""
        if wait is not None and not wait.get("skipped"):
            met = f", restart_wait_for met after {wait.get('elapsed')} s"
            if not failed and wait.get("failed"):
                failed = f"restart_wait_for was not met: {wait.get('msg')}"
        outcomes.append(_outcome(member, domain, failed, check_mode, restart=expect is not None, met=met))
    return outcomes


def _outcome(
    member: Mapping[str, Any], domain: Mapping[str, Any], failed: str = "", check_mode: bool = False, restart: bool = False, met: str = ""
) -> dict[str, Any]:
    forced = (FORCED_KIND.get(str(domain.get("state")), "reset")) if domain.get("forced") else ""
    actions = ", ".join(domain.get("actions") or ()) or "nothing to do"
    elapsed = f"{float(domain.get('elapsed') or 0):.1f} s"
    if failed:
        text = f"FAILED: {failed}"
    elif check_mode:
        text = f"{domain.get('previous_state')}, would send: {actions}"
    elif restart:
        text = (
            f"{domain.get('previous_state')} -> {domain.get('state')} ({actions})"
            f"{f', FORCED {forced} after timeout,' if forced else ''} in {elapsed}{met}, done at {time.strftime('%H:%M:%S')}"
        )
    else:
        text = (
            f"{domain.get('previous_state')} -> {domain.get('state')} ({actions}), "
            f"{f'FORCED {forced} after timeout, ' if forced else ''}{elapsed}{', changed' if domain.get('changed') else ''}"
        )
    return {
        "host": member["host"],
        "name": member["name"],
        "index": member["index"],
        "failed": bool(failed),
        "msg": failed,
        "changed": bool(domain.get("changed")) and not failed,
        "forced": forced,
        "state": domain.get("state"),
        "line": f"{member['host']}: {text}",
    }


def fleet_batch_outcomes(plan: Mapping[str, Any], hostvars: Mapping[str, Any], register: str, kept: str, check_mode: bool = False) -> list[dict[str, Any]]:
    """Every outcome of a run whose batch hosts registered each round's virt_power
    result as ``register`` and kept the results of all rounds but the last as
    ``<kept><round>`` (a task per host and round that copies a large result costs
    more than the run itself). A round a batch never ran leaves its hosts unreported."""
    outcomes: list[dict[str, Any]] = []
    last = plan.get("rounds", 0) - 1
    for batch in plan.get("batches", ()):
        host_vars = hostvars[batch["leader"]]
        for number, members in enumerate(batch["rounds"]):
            result = host_vars.get(register if number == last else f"{kept}{number}")
            if members and isinstance(result, Mapping) and not result.get("skipped"):
                outcomes.extend(fleet_outcomes(result, members, check_mode))
    return outcomes


def fleet_summary(outcomes: Sequence[Mapping[str, Any]], plan: Mapping[str, Any], headline: str, check_mode: bool = False, done_word: str = "") -> list[str]:
    """The summary: one line per host in play order (hosts never reached are listed
    at the end), then the totals led by ``headline``. With ``done_word`` the totals
    count the domains that were ``done_word`` out of all hosts (a rolling restart);
    without it, the changed ones."""
    reported = sorted([*outcomes, *plan.get("invalid", ())], key=lambda outcome: outcome["index"])
    lines = [outcome.get("line") or f"{outcome['host']}: FAILED: {outcome['msg']}" for outcome in reported]  # invalid hosts have no line
    seen = {outcome["host"] for outcome in reported}
    planned = [member["host"] for batch in plan.get("batches", ()) for members in batch["rounds"] for member in members]
    not_reached = [host for host in planned if host not in seen]
    failed = sum(1 for outcome in reported if outcome.get("failed", True))
    forced: dict[str, int] = {}
    for outcome in reported:
        if outcome.get("forced"):
            forced[outcome["forced"]] = forced.get(outcome["forced"], 0) + 1
    if done_word:
        done = sum(1 for outcome in reported if not outcome.get("failed", True))
        counts = f"{done} of {plan.get('hosts', len(reported))} domain(s) {done_word}"
        counts += "".join(f", {count} forced {kind}" for kind, count in sorted(forced.items()))
        counts += f", {failed} failed (the roll stopped)" if failed else ""
    else:
        changed = sum(1 for outcome in reported if outcome.get("changed"))
        counts = f"{len(reported)} domain(s), {changed} changed, {failed} failed"
        counts += "".join(f", {forced[kind]} forced {kind}" for kind in ("off", "reset") if kind in forced)
    totals = f"{headline}: {counts}"
    totals += f", not reached: {' '.join(not_reached)}" if not_reached else ""
    totals += " (check mode: nothing was sent)" if check_mode else ""
    return [*lines, totals]
