"""virt_domain's options: each one reaches the request with the same default."""

from __future__ import annotations

import dataclasses

from ansible_collections.virtops.libvirt.plugins.module_utils._core.module import CONNECTION_ARGUMENT_SPEC
from ansible_collections.virtops.libvirt.plugins.module_utils._definition.module import ARGUMENT_RULES, ARGUMENT_SPEC
from ansible_collections.virtops.libvirt.plugins.module_utils._definition.runner import DefinitionRequest


def test_every_option_is_a_field_of_the_request_with_the_same_default():
    fields = {field.name: field for field in dataclasses.fields(DefinitionRequest)}
    for option, spec in ARGUMENT_SPEC.items():
        if option in CONNECTION_ARGUMENT_SPEC or option == "match":  # (deprecated: mapped to unowned)
            continue
        assert option in fields, option
        if "default" in spec:
            assert fields[option].default == spec["default"], option
    assert set(fields) - set(ARGUMENT_SPEC) == {"check_mode", "diff_mode"}


def test_xml_is_never_echoed_and_required_to_define():
    assert ARGUMENT_SPEC["xml"]["no_log"] is True
    assert ("state", "present", ("xml",)) in ARGUMENT_RULES["required_if"]


def test_match_is_deprecated_and_exclusive_with_unowned():
    assert ARGUMENT_SPEC["match"]["removed_in_version"] == "2.0.0"
    assert ARGUMENT_SPEC["match"]["removed_from_collection"] == "virtops.libvirt"
    assert "default" not in ARGUMENT_SPEC["match"]  # (a default would warn on every run)
    assert ("match", "unowned") in ARGUMENT_RULES["mutually_exclusive"]
