"""The ring's free list between threads: pure, no event loop."""

from __future__ import annotations

import threading

from downloader.transfer._ring import Ring


def test_a_buffer_given_back_tells_the_loop_only_after_a_take_found_none() -> None:
    told: list[int] = []
    ring = Ring(2, 64 * 1024, on_free=lambda: told.append(1), aligned=False)
    try:
        first, second = ring.take(), ring.take()
        assert first is not None
        assert second is not None
        ring.give_back(first)  # nobody waited for it: no wake of the loop
        assert told == []
        again = ring.take()
        assert again is first
        assert ring.take() is None  # a receiver now waits for one
        ring.give_back(second)
        assert told == [1]
        ring.give_back(again)  # told once per wait, not once per buffer
        assert told == [1]
        assert ring.misses == 1
    finally:
        ring.close()


def test_a_thread_waiting_to_take_gets_the_buffer_given_back() -> None:
    ring = Ring(1, 64 * 1024, aligned=False)
    try:
        only = ring.take()
        assert only is not None
        assert ring.take_within(0.01) is None  # the wait runs out: the caller looks again
        got: list[object] = []
        waiter = threading.Thread(target=lambda: got.append(ring.take_within(30)))
        waiter.start()
        ring.give_back(only)
        waiter.join(30)
        assert got == [only]
        assert ring.misses == 2
    finally:
        ring.close()
