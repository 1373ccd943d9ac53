"""Which CPUs the threads of this process run on: all on one, or spread over all.

CPython runs Python code in one thread at a time (the GIL).  With many small files
in flight, the event loop, the store's thread and the worker threads hand the GIL to
each other hundreds of times per file, each time for a few microseconds of work.
When those threads sit on different CPUs, every hand-off wakes the other CPU: on the
2-core benchmark machine, 2000 files of 64 KiB cost 168 context switches per file,
and 9.2 s of CPU (7.9 s wall) with the threads spread over both CPUs, against 5.7 s
(5.7 s wall) with every thread on one.  A large file is the other case: its writing
and hashing run in worker threads that hold the GIL for a small part of their time,
and a second CPU is worth having (2 GiB: 8.0 s spread, 11.5 s on one CPU).

So `CpuPlacement`, once started, keeps every thread on one CPU (its home) while no
large transfer runs, and lets them use every CPU the process was allowed at the start
while at least one does.  A thread started later inherits the mask of the thread that
starts it; every change is applied to all threads of the process at once, so a thread
that was starting meanwhile is caught by the next change at the latest.

The price: while gathered, the process cannot move away from another program that
keeps its home CPU busy; it gets its share of that CPU, not the idle one next to it.
Where that matters more than the hand-offs, `service.compact_threads = false` leaves
the threads to the kernel.

Nothing here is required for correctness: where the platform has no CPU affinity, or
the process may use one CPU only, every method does nothing.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

_TASKS = Path("/proc/self/task")
_THREAD_STAT = Path("/proc/thread-self/stat")


class CpuPlacement:
    """Every thread on `home` while nothing large is in flight; on `allowed` otherwise."""

    def __init__(self, allowed: Iterable[int] | None = None) -> None:
        self.allowed: frozenset[int] = frozenset(allowed) if allowed is not None else _allowed_now()
        self.home: int | None = _current_cpu(self.allowed)
        self.started = False
        self._large = 0

    @property
    def effective(self) -> bool:
        """Whether there is anything to choose: at least two CPUs to choose from."""
        return len(self.allowed) > 1 and self.home is not None

    @property
    def large_in_flight(self) -> int:
        return self._large

    def mask(self) -> frozenset[int]:
        """The CPUs every thread should be allowed now."""
        if self.started and self._large == 0 and self.home is not None:
            return frozenset({self.home})
        return self.allowed

    def start(self) -> None:
        """From now on, keep the threads together while nothing large is in flight."""
        self.started = True
        self._apply()

    def stop(self) -> None:
        """Give every thread all the CPUs of the start back."""
        self.started = False
        self._apply()

    def large_started(self) -> None:
        """A large transfer began: spread the threads, if it is the first one."""
        self._large += 1
        if self._large == 1:
            self._apply()

    def large_ended(self) -> None:
        """A large transfer ended: gather the threads again, if it was the last one."""
        if self._large == 0:
            raise RuntimeError("large_ended without large_started")
        self._large -= 1
        if self._large == 0:
            self._apply()

    def _apply(self) -> None:
        if not self.effective:
            return
        mask = self.mask()
        for tid in _thread_ids():
            try:
                os.sched_setaffinity(tid, mask)
            except OSError:  # ended meanwhile, or the mask is no longer ours to set
                continue


def thread_masks() -> dict[int, frozenset[int]]:
    """The CPU mask of every thread of this process, by thread id."""
    masks: dict[int, frozenset[int]] = {}
    for tid in _thread_ids():
        try:
            masks[tid] = frozenset(os.sched_getaffinity(tid))
        except OSError:
            continue
    return masks


def _allowed_now() -> frozenset[int]:
    try:
        return frozenset(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # a platform without CPU affinity
        return frozenset()


def _thread_ids() -> list[int]:
    try:
        return [int(name) for name in os.listdir(_TASKS)]
    except OSError:
        return [0]  # the calling thread, at least


def _current_cpu(allowed: frozenset[int]) -> int | None:
    """The CPU the calling thread runs on (field 39 of its stat), if it is allowed."""
    if not allowed:
        return None
    try:
        fields = _THREAD_STAT.read_text().rpartition(")")[2].split()
        cpu = int(fields[36])
    except (OSError, ValueError, IndexError):
        return min(allowed)
    return cpu if cpu in allowed else min(allowed)
