"""Calls in threads: in_threads (bounded, threads only when they pay) and
each_within (one thread per call, a time limit for all)."""

from __future__ import annotations

import threading
import time

import pytest

from ansible_collections.virtops.libvirt.plugins.plugin_utils._threads import TimedOut, each_within, in_threads


# -- in_threads -------------------------------------------------------------------------------
def test_in_threads_keeps_the_order_and_bounds_the_calls_at_once():
    lock, running, most = threading.Lock(), [0], [0]

    def call(item):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.01)
        with lock:
            running[0] -= 1
        return item * 2

    assert in_threads(call, list(range(20)), 3) == [item * 2 for item in range(20)]
    assert most[0] == 3  # 20 calls of 10 ms: helpers join in after the first
    together = threading.Barrier(5, timeout=10)  # passes only when all five calls run at once
    assert in_threads(lambda item: together.wait() * 0 + item * 2, list(range(5)), 8, eager=True) == [item * 2 for item in range(5)]


def test_in_threads_starts_no_helper_it_cannot_use():
    before = threading.active_count()
    together = threading.Barrier(3, timeout=5)  # the three calls run at once: this thread and two helpers
    counts = in_threads(lambda _item: (together.wait(), threading.active_count())[1], [1, 2, 3], 8, eager=True)
    assert max(counts) == before + 2


def test_in_threads_makes_a_few_quick_calls_in_this_thread():
    seen = in_threads(lambda _item: threading.current_thread(), list(range(5)), 8)
    assert seen == [threading.current_thread()] * 5


def test_in_threads_with_one_worker_calls_in_this_thread_only():
    seen = in_threads(lambda _item: threading.current_thread(), [1, 2, 3], 1)
    assert seen == [threading.current_thread()] * 3
    assert in_threads(lambda item: item, [], 4) == []


def test_in_threads_raises_the_first_error_after_every_thread_stopped():
    def call(item):
        if item == 3:
            raise RuntimeError("item 3 failed")
        return item

    before = threading.active_count()
    with pytest.raises(RuntimeError, match="item 3 failed"):
        in_threads(call, list(range(10)), 4)
    with pytest.raises(RuntimeError, match="item 3 failed"):
        in_threads(call, list(range(10)), 4, eager=True)
    assert threading.active_count() == before


# -- each_within ------------------------------------------------------------------------------
def test_each_within_runs_every_call_at_once_and_keeps_the_order():
    together = threading.Barrier(4, timeout=5)  # passes only if the four calls overlap

    def call(item):
        together.wait()
        return item * 2

    assert each_within(call, [1, 2, 3, 4], 10) == [2, 4, 6, 8]


def test_each_within_gives_timed_out_for_a_call_that_has_not_returned():
    release = threading.Event()

    def call(item):
        if item == "hung":
            release.wait(10)
        return item

    started = time.monotonic()
    outcomes = each_within(call, ["a", "hung", "b"], 0.3)
    assert time.monotonic() - started < 2
    assert outcomes[0] == "a" and outcomes[2] == "b"
    assert isinstance(outcomes[1], TimedOut)
    release.set()  # the call left behind finishes on its own; its result is dropped
    assert isinstance(outcomes[1], TimedOut)


def test_each_within_hands_what_a_late_call_returns_to_on_late():
    late = []
    release, handed = threading.Event(), threading.Event()

    def call(item):
        if item == "slow":
            release.wait(10)
        return f"{item}-done"

    def on_late(value):
        late.append(value)
        handed.set()

    assert isinstance(each_within(call, ["quick", "slow"], 0.2, on_late=on_late)[1], TimedOut)
    release.set()
    assert handed.wait(5) and late == ["slow-done"]


def test_each_within_raises_the_first_error():
    def call(item):
        if item == 2:
            raise RuntimeError("item 2 failed")
        return item

    with pytest.raises(RuntimeError, match="item 2 failed"):
        each_within(call, [1, 2, 3], 5)
    assert each_within(call, [], 5) == []
