"""Fakes for the runner's tests: a clock whose sleep takes no real time, and a
test-driver domain whose methods a test may replace to act as QEMU does in a race
(a start-up under way, another client first, a daemon restart)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import libvirt


class FakeClock:
    """``clock()`` for the runner; ``sleep`` advances it and fires what is due."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.start = self.now
        self.sleeps = 0
        self._due: list[tuple[float, Callable[[], None]]] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0, f"cannot sleep {seconds!r} s"
        self.sleeps += 1
        assert self.sleeps < 100_000, "the wait never ends"
        self.now += seconds
        for item in [item for item in self._due if item[0] <= self.now]:
            self._due.remove(item)
            item[1]()

    def at(self, after: float, action: Callable[[], None]) -> None:
        """Run ``action`` once ``after`` seconds have passed since the clock was made."""
        self._due.append((self.start + after, action))

    def elapsed(self) -> float:
        return self.now - self.start


class DomainProxy:
    """A real test-driver domain with some methods replaced."""

    def __init__(self, domain: Any, **methods: Callable[..., Any]) -> None:
        self.real = domain
        self.methods = methods

    def __getattr__(self, name: str) -> Any:
        return self.methods.get(name) or getattr(self.real, name)


def libvirt_error(code: int, message: str) -> libvirt.libvirtError:
    """The error libvirt raises, with the code QEMU's driver would set."""
    err = libvirt.libvirtError(message)
    err.err = (code, libvirt.VIR_FROM_QEMU, message, libvirt.VIR_ERR_ERROR, "", None, None, 0, 0)
    return err


def socket_closed():
    return libvirt_error(libvirt.VIR_ERR_INTERNAL_ERROR, "internal error: client socket is closed")
