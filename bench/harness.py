"""Runs contenders of a workload in alternation and keeps their measurements.

A round runs every contender once, each in a fresh directory, with the start
of the order rotated every round so that none always runs first or last.
Before each run `sync` flushes dirty pages, so no run pays for another's
writeback.  After each run the contender's check reads its outputs back and
compares SHA-256 digests; a mismatch stops the bench.  Then the outputs are
deleted, or, for a workload of many small files, set aside in `<work>/trash/`
and deleted when the suite ends: on an ext4 without a journal, every inode
deleted in the last minute is stepped over, one inode-table lookup each, by
every file or folder created after it, so deleting one run's thousands of
files would slow the next run's creates, whichever tool it is.
"""

from __future__ import annotations

import math
import os
import shutil
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench.timing import Timed, timed

Check = Callable[[Path, Timed], dict[str, float]]

PLAIN = "plain"
"""Floor row: fetch, SHA-256 and write; nothing else."""
DURABLE = "durable"
"""Floor row: the same, and each file fsynced under a temporary name, renamed into
place and its folder fsynced: the least that survives a crash whole or not at all."""
BEST = "best"
"""Floor row: the best design measured for the workload (W1: `bench/floor_client.py`),
durable as the durable floor is, with nothing of the service around it."""
FLOORS = (PLAIN, DURABLE, BEST)


@dataclass
class Contender:
    name: str
    setup: Callable[[Path], list[str]]
    """Prepares the run directory and returns the command to time."""
    check: Check
    """Verifies the outputs (raises on a wrong byte) and returns extra metrics."""
    subject: bool = False
    floor: str = ""
    """`PLAIN` or `DURABLE` on a floor row (`bench/bare_client.py`), the least a client
    on the downloader's HTTP library does, without and with making each file durable,
    or `BEST`, the best design measured: the targets table measures every target of
    the workload on these rows too."""
    teardown: Callable[[Path], None] | None = None
    once: bool = False
    """A reference row, not a contender: measured in the first round only."""
    runs: list[tuple[Timed, dict[str, float]]] = field(default_factory=list)

    def median(self, attr: str) -> float:
        if attr in ("wall", "cpu", "rss"):
            return float(statistics.median(getattr(t, attr) for t, _ in self.runs))
        values = [extra[attr] for _, extra in self.runs if attr in extra]
        # a figure some rows do not have (a row that makes no request has no first one)
        return statistics.median(values) if values else math.nan


@dataclass
class Workload:
    key: str
    title: str
    contenders: list[Contender]
    amount: float = 0.0
    """Bytes, files or items moved per run; throughput is amount / wall."""
    unit: str = "MB/s"
    warm: Callable[[], None] | None = None
    extras: tuple[str, ...] = ()
    compare: bool = True
    """Whether the contenders are tools compared with the downloader (ratio column)."""
    notes: list[str] = field(default_factory=list)
    load: list[str] = field(default_factory=list)
    defer_cleanup: bool = False
    """Outputs are set aside after each run and deleted by `empty_trash` (see above)."""

    def throughput(self, c: Contender) -> float:
        scale = 1e6 if self.unit == "MB/s" else 1.0
        return self.amount / c.median("wall") / scale if self.amount else 0.0

    @property
    def subject(self) -> Contender:
        return next(c for c in self.contenders if c.subject)

    def floor(self, kind: str) -> Contender | None:
        return next((c for c in self.contenders if c.floor == kind and c.runs), None)


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def run_workload(workload: Workload, work: Path, runs: int, log: Callable[[str], None]) -> None:
    workload.load.append(load_average())
    if workload.warm is not None:
        workload.warm()
    for round_ in range(runs):
        shift = round_ % len(workload.contenders)
        for c in workload.contenders[shift:] + workload.contenders[:shift]:
            if c.once and c.runs:
                continue
            run = work / "run"
            started = time.monotonic()
            shutil.rmtree(run, ignore_errors=True)
            run.mkdir(parents=True)
            subprocess.run(["sync"], check=True)
            cmd = c.setup(run)
            prepared = time.monotonic()
            try:
                result = timed(cmd, cwd=run)
                checked = time.monotonic()
                extra = c.check(run, result)
            finally:
                if c.teardown is not None:
                    c.teardown(run)
            c.runs.append((result, extra))
            cleaning = time.monotonic()
            if workload.defer_cleanup:
                trash = work / "trash"
                trash.mkdir(exist_ok=True)
                run.rename(trash / f"{workload.key}-{round_}-{c.name.split()[0]}-{time.time_ns()}")
            else:
                shutil.rmtree(run, ignore_errors=True)
            # what the suite spends around the timed command, to keep it within budget
            overhead = (
                f"prepare {prepared - started:.1f} s, check {cleaning - checked:.1f} s, "
                f"clean up {time.monotonic() - cleaning:.1f} s"
            )
            log(
                f"{workload.key} {c.name:32} run {round_ + 1}: {result.wall:7.2f} s "
                f"cpu {result.cpu:6.2f} s rss {result.rss / 1e6:7.1f} MB "
                + " ".join(f"{k}={v:.3g}" for k, v in extra.items())
                + f"  (load {load_average()}; {overhead})"
            )
    workload.load.append(load_average())


def empty_trash(work: Path) -> None:
    """Delete the outputs that runs set aside (`Workload.defer_cleanup`)."""
    shutil.rmtree(work / "trash", ignore_errors=True)


def wait_for(predicate: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("gave up waiting")
        time.sleep(0.05)
