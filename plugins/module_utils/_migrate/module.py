# Copyright: (c) 2026, virtops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""virt_migrate's options and its one path from parameters to exit_json/fail_json."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ansible_collections.virtops.libvirt.plugins.module_utils._core.client import Connection, check_timeout
from ansible_collections.virtops.libvirt.plugins.module_utils._core.errors import VirtOpsError, uri_secrets
from ansible_collections.virtops.libvirt.plugins.module_utils._core.module import (
    CONNECTION_ARGUMENT_SPEC,
    DOMAIN_IDENTITY_ARGUMENT_SPEC,
    DOMAIN_IDENTITY_RULES,
    check_name,
    run_module,
)
from ansible_collections.virtops.libvirt.plugins.module_utils._migrate.drain import DrainRequest, DrainRunner, check_parallel, record_of, targets_of
from ansible_collections.virtops.libvirt.plugins.module_utils._migrate.request import (
    COMPRESSION_METHODS,
    COPY_STORAGE,
    PREFLIGHT_CHECKS,
    TIMEOUT_ACTIONS,
    MigrationRequest,
    request_of,
)
from ansible_collections.virtops.libvirt.plugins.module_utils._migrate.runner import MigrateRunner

# The options of one migration, shared with virt_drain.
MIGRATION_ARGUMENT_SPEC: dict[str, Any] = {
    "peer_to_peer": {"type": "bool", "default": True},
    "live": {"type": "bool", "default": True},
    "bandwidth": {"type": "int"},
    "migrate_uri": {"type": "str"},
    "auto_converge": {"type": "bool", "default": False},
    "compression": {"type": "list", "elements": "str", "choices": list(COMPRESSION_METHODS)},
    "parallel_connections": {"type": "int"},
    "tls": {"type": "bool", "default": False},
    "timeout": {"type": "float", "default": 600},
    "timeout_action": {"type": "str", "choices": list(TIMEOUT_ACTIONS), "default": "abort"},
    "preflight": {"type": "list", "elements": "str", "choices": list(PREFLIGHT_CHECKS), "default": list(PREFLIGHT_CHECKS)},
    "memory_headroom_mib": {"type": "int", "default": 0},
}

ARGUMENT_SPEC: dict[str, Any] = {
    **CONNECTION_ARGUMENT_SPEC,
    **DOMAIN_IDENTITY_ARGUMENT_SPEC,
    **MIGRATION_ARGUMENT_SPEC,
    "dest_uri": {"type": "str", "required": True},
    "persistent": {"type": "bool", "default": True},
    "undefine_source": {"type": "bool", "default": True},
    "peer_uri": {"type": "str"},
    "copy_storage": {"type": "str", "choices": list(COPY_STORAGE), "default": "none"},
    "copy_disks": {"type": "list", "elements": "str", "default": []},
}
ARGUMENT_RULES: dict[str, Any] = dict(DOMAIN_IDENTITY_RULES)


def run(module) -> None:
    """Run virt_migrate for the module's parameters; never returns."""
    holder: dict[str, MigrationRequest] = {}
    module.no_log_values.update(uri_secrets(module.params["dest_uri"]))
    module.no_log_values.update(uri_secrets(module.params["peer_uri"]))

    def check() -> None:
        check_name(module.params["name"])
        holder["request"] = request_of(module.params)

    def body(source: Connection) -> dict[str, Any]:
        request = holder["request"]
        timeout = check_timeout(module.params["connect_timeout"])
        try:
            dest = Connection(request.dest_uri, events=True, timeout=timeout)
        except VirtOpsError as err:
            result = {key: value for key, value in err.result.items() if key != "uri"}
            raise VirtOpsError(f"Destination (dest_uri): {err.msg} Nothing was moved.", **result, dest_uri=err.result.get("uri")) from None
        with dest:
            result = MigrateRunner(source, dest, request, module.check_mode).run()
        if module._diff and result["changed"]:
            result["diff"] = {
                "before": {"hypervisor": result["source_uri"]},
                "after": {"hypervisor": result["dest_uri"], "action": result["action"], "mode": result["mode"]},
            }
        return result

    run_module(module, body, events=True, needs_lxml=True, check=check)


DRAIN_ARGUMENT_SPEC: dict[str, Any] = {
    **CONNECTION_ARGUMENT_SPEC,
    **MIGRATION_ARGUMENT_SPEC,
    "state": {"type": "str", "choices": ["drained", "undrained"], "default": "drained"},
    "targets": {"type": "list", "elements": "raw", "required": True},
    "peer_uri": {"type": "str"},
    "migrate_uri": {"type": "str"},
    "include_shutoff": {"type": "bool", "default": False},
    "exclude_names": {"type": "list", "elements": "str", "default": []},
    "include_names": {"type": "list", "elements": "str", "default": []},
    "parallel": {"type": "int", "default": 2},
    "record": {"type": "list", "elements": "dict"},
}
DRAIN_ARGUMENT_RULES: dict[str, Any] = {"required_if": [("state", "undrained", ("record",))]}


def run_drain(module) -> None:
    """Run virt_drain for the module's parameters; never returns."""
    holder: dict[str, DrainRequest] = {}
    params = module.params
    for target in params["targets"] or ():
        for key in ("uri", "peer_uri"):
            value = target.get(key) if isinstance(target, dict) else (target if key == "uri" else None)
            module.no_log_values.update(uri_secrets(value) if value else set())
    module.no_log_values.update(uri_secrets(params["peer_uri"]) if params["peer_uri"] else set())
    timeout = params["connect_timeout"]

    def check() -> None:
        if params["state"] == "drained" and params["record"] is not None:
            raise VirtOpsError("Option record applies to state=undrained only. Nothing was done.")
        # dest_uri: each migration's own (a target, or uri when undraining); the rest is shared
        migration = request_of({**params, "dest_uri": params["uri"], "copy_storage": "none", "copy_disks": [], "name": None, "uuid": None})
        holder["request"] = DrainRequest(
            state=params["state"],
            targets=targets_of(params["targets"]),
            migration=replace(migration, persistent=True, undefine_source=True),
            include_shutoff=params["include_shutoff"],
            exclude_names=tuple(params["exclude_names"] or ()),
            include_names=tuple(params["include_names"] or ()),
            parallel=check_parallel(params["parallel"]),
            record=record_of(params["record"]),
        )

    def body(host: Connection) -> dict[str, Any]:
        def connect(uri: str) -> Connection:
            return Connection(uri, events=True, timeout=check_timeout(timeout))

        return DrainRunner(host, holder["request"], module.check_mode, connect).run()

    run_module(module, body, events=True, needs_lxml=True, check=check)
