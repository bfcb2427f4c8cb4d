# Copyright: (c) 2026, virtops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Running calls in threads: libvirt calls release the GIL, so calls waiting on a
daemon, a guest or the network overlap.

``in_threads`` bounds how many run at once and starts threads only when they pay;
``each_within`` gives every call its own thread and waits for all of them at most
a given time, leaving behind (not cancelling) a call that has not returned.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable

THREADS_AFTER = 0.002  # seconds of calls left before in_threads' helper threads join in


class TimedOut:
    """What each_within gives for a call that had not returned in time."""


def in_threads(func: Callable[[Any], Any], items: list[Any], max_workers: int, eager: bool = False) -> list[Any]:
    """``[func(item) for item in items]`` with at most ``max_workers`` calls at once.

    This thread starts alone. Helper threads (up to ``max_workers - 1``) join in
    at once when ``eager``, otherwise as soon as the items left would take more than
    THREADS_AFTER seconds at the pace so far: a local daemon answers a quick call in
    a tenth of a millisecond, one call at a time, so for a handful of them starting
    threads costs more than it saves; for many, or for slow round trips, it pays.
    The first exception a call raises is raised here, once every thread has stopped."""
    results: list[Any] = [None] * len(items)
    pending = iter(enumerate(items))
    lock = threading.Lock()
    errors: list[BaseException] = []
    helpers: list[threading.Thread] = []

    def take_one() -> bool:
        with lock:
            index, item = next(pending, (None, None))
        if index is None or errors:
            return False
        try:
            results[index] = func(item)
        except BaseException as err:  # pylint: disable=broad-exception-caught  # raised in the caller's thread
            errors.append(err)
        return True

    def work() -> None:
        while take_one():
            pass

    def start_helpers(left: int) -> None:  # this thread takes items too: one helper fewer than items left
        helpers.extend(threading.Thread(target=work, name="libvirt-inventory", daemon=True) for _index in range(min(max_workers - 1, left - 1)))
        for helper in helpers:
            helper.start()

    try:
        if eager:
            start_helpers(len(items))
        started, done = time.monotonic(), 0
        while take_one():
            done += 1
            left = len(items) - done
            if not helpers and left and (time.monotonic() - started) / done * left > THREADS_AFTER:
                start_helpers(left)
    finally:
        for helper in helpers:
            helper.join()
    if errors:
        raise errors[0]
    return results


def each_within(func: Callable[[Any], Any], items: list[Any], seconds: float, on_late: Callable[[Any], None] | None = None) -> list[Any]:
    """``[func(item) for item in items]``, each call in its own thread, all of them
    waited for at most ``seconds`` in all. A call that has not returned by then gives
    a TimedOut in its place; its (daemon) thread is left to finish on its own, and
    what it returns then goes to ``on_late`` (to release it), in that thread. The
    first exception a call raises in time is raised here."""
    results: list[Any] = [TimedOut()] * len(items)
    errors: list[BaseException] = []
    lock = threading.Lock()
    waiting = [True]

    def run(index: int, item: Any) -> None:
        try:
            value = func(item)
        except BaseException as err:  # pylint: disable=broad-exception-caught  # raised in the caller's thread
            with lock:
                if waiting[0]:
                    errors.append(err)
            return
        with lock:
            if waiting[0]:
                results[index] = value
                return
        if on_late is not None:
            on_late(value)

    threads = [threading.Thread(target=run, args=(index, item), name="virtops-within", daemon=True) for index, item in enumerate(items)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + seconds
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    with lock:
        waiting[0] = False
        outcomes = list(results)
    if errors:
        raise errors[0]
    return outcomes
