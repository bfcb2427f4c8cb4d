# Copyright: (c) 2026, virtops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""virt_domain's options and its one path from parameters to exit_json/fail_json."""

from __future__ import annotations

from typing import Any

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.virtops.libvirt.plugins.module_utils import _domain_xml as dxml
from ansible_collections.virtops.libvirt.plugins.module_utils._domain_definition import (
    DefinitionRequest,
    DomainDefinition,
)
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import VirtOpsError
from ansible_collections.virtops.libvirt.plugins.module_utils._libvirt_connection import (
    URI_ARGUMENT_SPEC,
    open_connection,
    require_libvirt,
)

ARGUMENT_SPEC: dict[str, Any] = {
    **URI_ARGUMENT_SPEC,
    "name": {"type": "str", "required": True},
    "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
    "xml": {"type": "str"},
    "autostart": {"type": "bool"},
    "match": {"type": "str", "choices": ["subset", "exact"], "default": "subset"},
    "restart": {"type": "str", "choices": ["never", "if_pending"], "default": "never"},
    "restart_timeout": {"type": "float", "default": 120},
    "force": {"type": "bool", "default": False},
    "remove_nvram": {"type": "bool", "default": False},
    "remove_tpm": {"type": "bool", "default": False},
    "remove_storage": {"type": "bool", "default": False},
}
ARGUMENT_RULES: dict[str, Any] = {"required_if": [("state", "present", ("xml",))]}


def run(module) -> None:
    """Run virt_domain for the module's parameters; never returns."""
    require_libvirt(module)
    if dxml.etree is None:
        module.fail_json(msg=missing_required_lib("lxml"), exception=dxml.LXML_IMPORT_ERROR)
    params = module.params
    request = DefinitionRequest(
        check_mode=module.check_mode, diff_mode=module._diff,
        **{key: params[key] for key in DefinitionRequest.__dataclass_fields__ if key in params},
    )
    try:
        conn = open_connection(params["uri"], events=request.restart == "if_pending" and not module.check_mode)
        try:
            result = DomainDefinition(conn, params["uri"], request).run()
        finally:
            conn.close()
    except VirtOpsError as err:
        module.fail_json(msg=err.msg, **{"changed": False, **err.result})
    module.exit_json(**result)
