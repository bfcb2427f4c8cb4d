"""virt_power's options become a PowerRequest only when every duration is one a
wait can honour: finite, not negative, at most a week, and a retry_interval that
cannot flood the guest."""

from __future__ import annotations

import math

import pytest

from ansible_collections.virtops.libvirt.plugins.module_utils._core.errors import VirtOpsError
from ansible_collections.virtops.libvirt.plugins.module_utils._power.module import (
    ARGUMENT_SPEC,
    request_from_params,
)


def params(**options):
    defaults = {key: spec.get("default") for key, spec in ARGUMENT_SPEC.items()}
    return {**defaults, "name": "web1", "state": "shutdown", **options}


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, -1.0, -0.001, 7 * 24 * 3600 + 1.0])
def test_a_timeout_a_wait_cannot_honour_is_refused(value):
    with pytest.raises(
        VirtOpsError,
        match=r"^Option timeout must be a number of seconds, at least 0 and at most "
        r"604800, not ",
    ):
        request_from_params(params(timeout=value), check_mode=False)


@pytest.mark.parametrize("value", [math.nan, math.inf, -1.0, 0.001, 0.5, 0.999])
def test_a_retry_interval_that_never_ends_or_floods_is_refused(value):
    with pytest.raises(VirtOpsError, match=r"^Option retry_interval must be a number of seconds, 0 or at least 1 "):
        request_from_params(params(retry_interval=value), check_mode=False)


@pytest.mark.parametrize(("timeout", "retry_interval"), [(0.0, 0.0), (120.0, 10.0), (0.5, 1.0), (604800.0, 604800.0)])
def test_durations_within_bounds_pass_through(timeout, retry_interval):
    request = request_from_params(params(timeout=timeout, retry_interval=retry_interval), check_mode=True)
    assert (request.timeout, request.retry_interval, request.check_mode) == (timeout, retry_interval, True)


def test_a_name_with_a_nul_is_refused():
    with pytest.raises(VirtOpsError, match="NUL character"):
        request_from_params(params(name="web\x001"), check_mode=False)
