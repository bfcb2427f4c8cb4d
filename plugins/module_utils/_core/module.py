# Copyright: (c) 2026, virtops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Ansible glue every module shares: the connection options, checks of
numeric options, and the one path from parameters to ``exit_json`` /
``fail_json`` (a VirtOpsError is the only way a failure reaches the user)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from ansible.module_utils.basic import AnsibleModule, env_fallback, missing_required_lib

from ansible_collections.virtops.libvirt.plugins.module_utils._core import xml as core_xml
from ansible_collections.virtops.libvirt.plugins.module_utils._core.client import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_URI,
    LIBVIRT_IMPORT_ERROR,
    Connection,
    check_timeout,
)
from ansible_collections.virtops.libvirt.plugins.module_utils._core.errors import VirtOpsError, uri_secrets

CONNECTION_ARGUMENT_SPEC: dict[str, Any] = {
    "uri": {
        "type": "str",
        "default": DEFAULT_URI,
        "fallback": (env_fallback, ["LIBVIRT_DEFAULT_URI"]),
    },
    "connect_timeout": {"type": "float", "default": DEFAULT_CONNECT_TIMEOUT},
}

DOMAIN_IDENTITY_ARGUMENT_SPEC: dict[str, Any] = {
    "name": {"type": "str", "aliases": ["domain"]},
    "uuid": {"type": "str"},
}
DOMAIN_IDENTITY_RULES: dict[str, Any] = {
    "required_one_of": [("name", "uuid")],
    "mutually_exclusive": [("name", "uuid")],
}


def seconds(params: dict[str, Any], option: str, minimum: float = 0.0, zero_ok: bool = True, maximum: float = 7 * 24 * 3600.0) -> float:
    """The value of a duration option: finite, at least ``minimum`` (or exactly 0
    when ``zero_ok``), at most a week."""
    value = params[option]
    number = float(value) if isinstance(value, (int, float)) else math.nan
    valid = math.isfinite(number) and (minimum <= number <= maximum or (zero_ok and number == 0))
    if not valid:
        lower = f"0 or at least {minimum:g}" if zero_ok and minimum > 0 else f"at least {minimum:g}"
        raise VirtOpsError(f"Option {option} must be a number of seconds, {lower} and at most {maximum:g}, not {value!r}.")
    return number


def check_name(value: Any, option: str = "name") -> str | None:
    """A domain name as given, refusing what libvirt could never hold."""
    if value is None:
        return None
    if "\x00" in value:
        raise VirtOpsError(f"Option {option} holds a NUL character; a domain name cannot.")
    if not value.strip():
        raise VirtOpsError(f"Option {option} is empty; give the domain's name.")
    return value


def run_module(
    module: AnsibleModule,
    body: Callable[[Connection], dict[str, Any]],
    readonly: bool = False,
    events: bool = False,
    needs_lxml: bool = False,
    check: Callable[[], object] | None = None,
) -> None:
    """Check the requirements and options, connect, run ``body`` and exit; never returns.

    ``check`` validates options before anything is connected. A VirtOpsError from any
    step fails the module with its message and the partial result it carries.
    """
    if LIBVIRT_IMPORT_ERROR is not None:
        module.fail_json(msg=missing_required_lib("libvirt-python", url="https://pypi.org/project/libvirt-python/"), exception=LIBVIRT_IMPORT_ERROR)
    if needs_lxml and core_xml.LXML_IMPORT_ERROR is not None:
        module.fail_json(msg=missing_required_lib("lxml", url="https://pypi.org/project/lxml/"), exception=core_xml.LXML_IMPORT_ERROR)
    module.no_log_values.update(uri_secrets(module.params["uri"]))
    try:
        if check is not None:
            check()
        timeout = check_timeout(module.params["connect_timeout"])
        with Connection(module.params["uri"], readonly=readonly, events=events, timeout=timeout) as conn:
            result = body(conn)
    except VirtOpsError as err:
        failed = {"changed": False, **err.result}
        for warning in failed.pop("warnings", ()):  # fail_json's own warnings= is deprecated (ansible-core 2.23)
            module.warn(warning)
        module.fail_json(msg=err.msg, **failed)
    for warning in result.pop("warnings", ()):
        module.warn(warning)
    module.exit_json(**result)
