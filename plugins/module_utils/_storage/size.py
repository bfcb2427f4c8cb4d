# Copyright: (c) 2026, virtops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Sizes of volumes: what the ``capacity`` option takes, and how a size is shown.

A size is a whole number of bytes above 0: an integer, or a string holding a number
and a unit. K, M, G, T and P are powers of 1024, as in ``qemu-img`` (KiB, MiB, GiB,
TiB and PiB say the same); B or no unit means bytes. KB, MB, GB... are refused, as
they mean powers of 1000 elsewhere. A decimal number is taken when it makes whole
bytes (``1.5G``)."""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from ansible_collections.virtops.libvirt.plugins.module_utils._core.errors import VirtOpsError

UNITS = {"": 0, "B": 0, "K": 1, "M": 2, "G": 3, "T": 4, "P": 5}
# The largest size libvirt takes (an unsigned long long, in practice a signed off_t).
MAXIMUM = 2**63 - 1
_SIZE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?|\.[0-9]+)\s*([A-Za-z]*)\s*$")
_EXAMPLES = "for example 10737418240, 10G, 10GiB or 512M (K, M, G, T are 1024-based, as in qemu-img)"


def parse_size(value: Any, option: str = "capacity") -> int:
    """The number of bytes ``value`` means; VirtOpsError saying why it is not a size."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise VirtOpsError(f"Option {option} must be a size in bytes, {_EXAMPLES}; not {value!r}.")
    if isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            raise VirtOpsError(f"Option {option} must be a whole number of bytes, {_EXAMPLES}; not {value!r}.")
        value = int(value)
    if isinstance(value, int):
        return _checked(value, value, option)
    match = _SIZE.match(value)
    if match is None:
        raise VirtOpsError(f"Option {option} must be a size, {_EXAMPLES}; {value!r} is not one.")
    number, unit = match.group(1), _unit(match.group(2), value, option)
    try:
        amount = Decimal(number) * (1024 ** UNITS[unit])
    except InvalidOperation:  # pragma: no cover - the pattern only lets digits through
        raise VirtOpsError(f"Option {option} must be a size, {_EXAMPLES}; {value!r} is not one.") from None
    if amount != amount.to_integral_value():
        raise VirtOpsError(f"Option {option} must make a whole number of bytes; {value!r} is {amount} bytes.")
    return _checked(int(amount), value, option)


def _unit(text: str, value: Any, option: str) -> str:
    """The unit letter of ``text`` (K, KiB, k... -> K); VirtOpsError for the others."""
    upper = text.upper()
    if upper in UNITS:
        return upper
    if len(upper) == 3 and upper.endswith("IB") and upper[0] in UNITS and upper[0] != "B":
        return upper[0]
    if len(upper) == 2 and upper.endswith("B") and upper[0] in UNITS:
        raise VirtOpsError(
            f"Option {option}: the unit of {value!r} is ambiguous ({text} means a power of 1000 in some tools and of 1024 in others); "
            f"write {upper[0]} or {upper[0]}iB (1024-based)."
        )
    raise VirtOpsError(f"Option {option}: {value!r} has an unknown unit {text!r}; {_EXAMPLES}.")


def _checked(amount: int, value: Any, option: str) -> int:
    if amount <= 0:
        raise VirtOpsError(f"Option {option} must be above 0 bytes, not {value!r}.")
    if amount > MAXIMUM:
        raise VirtOpsError(f"Option {option} is too large: {value!r} is more than libvirt can hold ({MAXIMUM} bytes).")
    return amount


def human(amount: int | None) -> str:
    """A size for a person: the largest unit that shows it exactly, and the bytes
    (``10 GiB (10737418240 bytes)``); plain bytes below 1 KiB."""
    if amount is None:
        return "unknown"
    for unit, power in (("PiB", 5), ("TiB", 4), ("GiB", 3), ("MiB", 2), ("KiB", 1)):
        step = 1024**power
        if amount >= step and amount % step == 0:
            return f"{amount // step} {unit} ({amount} bytes)"
    return f"{amount} bytes"
