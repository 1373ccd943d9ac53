"""A workflow source's listing answers the waiting room too, against the emulator: its
jobs that wait are asked about by the listing each step, not by a survey of the same
workflow beside it, and a job the listing shows finished leaves the room for its turn."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import anyio
from structlog.testing import capture_logs

from downloader.config import PollSettings, Settings
from downloader.runners._compose import open_service, run_once
from downloader.store import sqlite_path
from downloader.watchlist import parse_watchlist
from tests.support.daemon import until
from tests.support.once import emulated
from tests.support.scheduler import working

POLL = PollSettings(initial_interval=1.0, max_interval=2.0, give_up_after=600)
HEAD = '[emulator]\nseed = 6\npixxel_api_key = "k"\n'
WATCHLIST = '[[pixxel.workflow]]\nworkflow_id = "wf"\n'


def job(name: str, seconds: float) -> str:
    return (
        f'[[pixxel.job]]\nworkflow_id = "wf"\njob_id = "{name}"\n'
        f"seconds_until_done = {seconds:g}\n"
        'files = [{ name = "scene.tif", size = 2048 }]\n'
    )


def states(settings: Settings) -> dict[str, str]:
    with sqlite3.connect(sqlite_path(settings.state.url)) as db:
        return {k: s for k, s in db.execute("SELECT key, state FROM items")}


async def test_a_sources_waiting_jobs_are_asked_about_by_its_listing_and_no_survey_beside(
    tmp_path: Path,
) -> None:
    scenario = HEAD + "".join(job(f"j{i:02d}", 100000) for i in range(20))
    scenario += job("quick", 3.5)
    sources = parse_watchlist(WATCHLIST, file="watchlist.toml").sources
    with capture_logs() as logs:
        async with (
            emulated(tmp_path, scenario, poll=POLL) as (running, settings, _),
            open_service(settings, "me") as service,
            # a wait the room draws itself, where it does, its longest
            working(service, sources=sources, rand=lambda: 0.999) as scheduler,
        ):
            await until(lambda: len(scheduler.waiting_room) == 21, what="the jobs waiting")
            await until(
                lambda: states(settings).get("pixxel:job:wf/quick") == "archived",
                what="the job that finished archived",
                timeout=30,
            )
            await anyio.sleep(3 * POLL.max_interval)
            lists = [r for r in running.emulator.log if r.path.endswith("/wf/jobs")]
            listings = [e for e in logs if e["event"] == "source.listed"]
            scheduler.stop(0)
    assert len(scheduler.waiting_room) == 0  # let go at the stop
    # each step's one list request is the source's listing, which answers for the jobs
    # that wait, those it added before they came into the room included
    assert len(lists) == len(listings), (len(lists), len(listings))
    assert len(listings) >= 6
    # the job that finished was seen so in a listing and looked at alone once
    gets = [r for r in running.emulator.log if r.path.endswith("/jobs/quick")]
    assert len(gets) == 1
    assert all(states(settings)[f"pixxel:job:wf/j{i:02d}"] == "waiting" for i in range(20))


async def test_once_asks_about_a_listed_job_on_its_own_schedule_after_its_only_listing(
    tmp_path: Path,
) -> None:
    # `once` lists its sources when it starts and never again: the room does not wait
    # for a next listing (1 s, and its grace of 5 s) but asks after the job's own wait
    sources = parse_watchlist(WATCHLIST, file="watchlist.toml").sources
    async with emulated(tmp_path, HEAD + job("slow", 2.5), poll=POLL) as (running, settings, _):
        result = await run_once(settings, [], sources=sources)
        lists = [r.time for r in running.emulator.log if r.path.endswith("/wf/jobs")]
    assert result.archived == 1, result
    assert len(lists) >= 2
    assert lists[1] - lists[0] < 3.0, lists
