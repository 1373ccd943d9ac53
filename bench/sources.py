"""W8: an idle daemon whose watchlist names 10 sources of 1,000 unfinished jobs each.

The watchlist holds only the `[[pixxel.workflow]]` sources; the daemon lists each
(one request: a workflow's list is not paged), adds its 1,000 jobs, and waits on
them in the waiting room.  Measured like W7 (`bench/idle.py`): CPU, API requests a
minute and the items asked about in the window.  What the schedule asks: each
source is listed 5 s after a listing that found new jobs, then at doubling waits
while nothing new appears (10, 20, 40 s ... up to 5 min); that listing is also the
question of the workflow's waiting jobs (it shows their states), so they need no
list of their own.

The window is placed on the daemon's schedule, not on the wall clock: it opens
`settle` seconds after the emulator has answered each source's second listing (a
loaded machine may take seconds more to add the first 10,000 jobs, which moves
every later listing with it), so the listings in it are exactly those the
schedule places there (`scheduled_listings`), whatever the start took.
"""

from __future__ import annotations

import json
import sys
from datetime import timedelta
from pathlib import Path

from bench.harness import Contender, Workload
from bench.service import IDLE, EmulatorRun
from bench.timing import Timed
from downloader.config import PollSettings
from downloader.sources import next_interval


def sources_scenario(sources: int, jobs: int) -> str:
    lines = ["[emulator]", "seed = 8", 'pixxel_api_key = "k"', ""]
    for s in range(sources):
        for j in range(jobs):
            lines += [
                "[[pixxel.job]]",
                f'workflow_id = "wf-{s:02d}"',
                f'job_id = "job-{j:05d}"',
                "seconds_until_done = 100000000",
                'files = [{ name = "never.tif", size = 1024 }]',
                "",
            ]
    return "\n".join(lines)


def scheduled_listings(start: float, end: float) -> int:
    """Listings of one source from `start` to `end` s after its first: the first (at
    0) finds its jobs, the rest find nothing new (no jitter: a source's listing waits
    exactly its interval)."""
    poll = PollSettings()
    first, most = timedelta(seconds=poll.initial_interval), timedelta(seconds=poll.max_interval)
    at, interval, found, count = 0.0, None, True, 0
    while at <= end:
        count += start <= at < end
        interval = next_interval(interval, found, first=first, most=most)
        at += interval.total_seconds()
        found = False
    return count


def window(settle: float, seconds: float) -> tuple[float, float]:
    """The measured window, in seconds after each source's first listing: it opens
    `settle` after the second."""
    start = PollSettings().initial_interval + settle
    return start, start + seconds


class IdleSources:
    """The daemon with only the sources in its watchlist, on one emulator per run."""

    def __init__(self, sources: int, jobs: int, settle: float, seconds: float) -> None:
        self.sources, self.jobs = sources, jobs
        self.settle, self.seconds = settle, seconds
        self.emulator = EmulatorRun(0, 0)

    def setup(self, run: Path) -> list[str]:
        announced = self.emulator.start(run, sources_scenario(self.sources, self.jobs))
        watchlist = Path(announced["config"]).parent / "watchlist.toml"
        watchlist.write_text(
            "".join(
                f'[[pixxel.workflow]]\nworkflow_id = "wf-{s:02d}"\n' for s in range(self.sources)
            )
        )
        return [
            sys.executable,
            IDLE,
            announced["config"],
            announced["base_url"],
            str(self.settle),
            str(self.seconds),
            str(2 * self.sources),  # each source listed twice: its second listing done
        ]

    def check(self, run: Path, result: Timed) -> dict[str, float]:
        measured: dict[str, float] = json.loads(result.stdout)
        return measured

    def teardown(self, run: Path) -> None:
        self.emulator.teardown(run)


def expected_per_minute(sources: int, settle: float, seconds: float) -> float:
    """List requests a minute the schedule asks in the window: each source's listings,
    which answer for its waiting jobs too."""
    return sources * scheduled_listings(*window(settle, seconds)) * 60 / seconds


def w8(sources: int, jobs: int, settle: float, seconds: float) -> Workload:
    idle = IdleSources(sources, jobs, settle, seconds)
    contender = Contender(
        "downloader run (idle, sources)",
        idle.setup,
        idle.check,
        subject=True,
        teardown=idle.teardown,
    )
    count = sources * jobs
    title = (
        f"an idle daemon with {sources} sources of {jobs:,} waiting jobs each"
        f" ({count:,} items), {seconds:g} s"
    )
    w = Workload(
        "W8",
        title,
        [contender],
        extras=("cpu %", "API requests/min", "items asked", "daemon peak RSS MB"),
        compare=False,
    )
    start, end = window(settle, seconds)
    w.notes.append(
        f"Measured for {seconds:g} s from {settle:g} s after each source's second listing"
        f" ({start:g} to {end:g} s after its first); default poll schedule. The watchlist"
        f" names only the {sources} `[[pixxel.workflow]]` sources. In that window the"
        f" schedule asks {expected_per_minute(sources, settle, seconds):.0f} list requests a"
        " minute (each source's listings, which answer for its waiting jobs too), and"
        " nothing per job."
    )
    return w
