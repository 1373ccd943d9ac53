"""Sources in a running daemon's scheduler, with real effects: new jobs are archived as
they appear, a failing list is asked for again after its Retry-After, and a removed
source stops being listed and stops its items, leaving archived bags alone."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sqlite3
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import anyio
import pytest

from downloader.config import PollSettings, Settings
from downloader.emulator import RunningEmulator
from downloader.runners._compose import Service, open_service
from downloader.runners._scheduler import Scheduler
from downloader.sources import SourceRef
from downloader.store import sqlite_path
from downloader.watchlist import parse_watchlist
from tests.support.daemon import Daemon, status_rows, until
from tests.support.once import emulated
from tests.support.scheduler import start_scheduler, working

POLL = PollSettings(initial_interval=0.2, max_interval=0.4, give_up_after=60)
HEAD = '[emulator]\nseed = 4\npixxel_api_key = "k"\n'
WORKFLOW = '[[pixxel.workflow]]\nworkflow_id = "wf"\n'


def jobs(*specs: tuple[str, str]) -> str:
    return "\n".join(
        f'[[pixxel.job]]\nworkflow_id = "wf"\njob_id = "{job}"\n{extra}\n'
        'files = [{ name = "scene.tif", size = 3000 }]'
        for job, extra in specs
    )


def sources(text: str) -> tuple[SourceRef, ...]:
    return parse_watchlist(text, file="watchlist.toml").sources


@contextlib.asynccontextmanager
async def daemon(
    tmp_path: Path, scenario: str, watchlist: str
) -> AsyncIterator[tuple[Scheduler, Service, Settings, RunningEmulator]]:
    async with (
        emulated(tmp_path, scenario, poll=POLL) as (running, settings, _),
        open_service(settings, "me") as service,
        working(service, sources=sources(watchlist)) as scheduler,
    ):
        yield scheduler, service, settings, running


def states(settings: Settings) -> dict[str, tuple[str, int]]:
    with sqlite3.connect(sqlite_path(settings.state.url)) as db:
        return {k: (s, a) for k, s, a in db.execute("SELECT key, state, active FROM items")}


def list_times(running: RunningEmulator) -> list[float]:
    return [r.time for r in running.emulator.log if r.path.endswith("/wf/jobs")]


async def test_a_job_added_to_the_platform_while_run_runs_is_archived_without_a_restart(
    tmp_path: Path,
) -> None:
    scenario = HEAD + jobs(("j-early", ""), ("j-late", "listed_after = 1.5"))
    async with daemon(tmp_path, scenario, WORKFLOW) as (_, _, settings, running):
        await until(
            lambda: states(settings).get("pixxel:job:wf/j-early") == ("archived", 1),
            what="the first job archived",
        )
        assert "pixxel:job:wf/j-late" not in states(settings)
        await until(
            lambda: states(settings).get("pixxel:job:wf/j-late") == ("archived", 1),
            what="the job that appeared later archived",
        )
        assert (settings.archive.root / "pixxel" / "jobs" / "wf" / "j-late").is_dir()
        # listed on the schedule (0.2 s doubling to 0.4 s), not once per job or per turn
        times = list_times(running)
        spent = times[-1] - times[0]
        assert len(times) <= spent / 0.2 + 8, (len(times), spent)


async def test_a_list_that_fails_is_asked_for_again_after_its_retry_after(
    tmp_path: Path,
) -> None:
    scenario = HEAD + 'list_failures = 2\nlist_retry_after = "1"\n' + jobs(("j1", ""))
    async with daemon(tmp_path, scenario, WORKFLOW) as (_, service, settings, running):
        await until(
            lambda: states(settings).get("pixxel:job:wf/j1") == ("archived", 1),
            what="the job archived once the list answers",
        )
        (record,) = await service.store.sources().list_sources()
        assert record.error is None  # the last listing went through
        refused = [r for r in running.emulator.log if r.status == 503]
        assert len(refused) == 2
        times = list_times(running)
        assert times[1] - times[0] >= 0.95  # Retry-After: 1, not the 0.2 s schedule
        assert times[2] - times[1] >= 0.95


async def test_a_source_removed_mid_run_stops_its_listing_and_its_items_but_keeps_bags(
    tmp_path: Path,
) -> None:
    scenario = HEAD + jobs(("j-done", ""), ("j-long", "seconds_until_done = 600"))
    async with daemon(tmp_path, scenario, WORKFLOW) as (scheduler, service, settings, running):
        await until(
            lambda: states(settings).get("pixxel:job:wf/j-done") == ("archived", 1),
            what="the finished job archived",
        )
        assert states(settings)["pixxel:job:wf/j-long"] == ("waiting", 1)
        # a listed job still running waits like any: in the waiting room, holding no slot
        await until(lambda: "pixxel:job:wf/j-long" in scheduler.waiting_room, what="the room")
        result = await scheduler.set_watchlist([], [])
        assert sorted(result.removed) == ["pixxel:job:wf/j-done", "pixxel:job:wf/j-long"]
        assert {active for _, active in states(settings).values()} == {0}
        (record,) = await service.store.sources().list_sources()
        assert not record.active
        await anyio.sleep(0.5)  # let whatever listing was under way end
        before = len(list_times(running))
        await anyio.sleep(1.5)  # some 4 steps of the schedule
        assert len(list_times(running)) == before
        assert scheduler.in_flight == frozenset()
        assert scheduler.waiting_room == frozenset()
        bag = settings.archive.root / "pixxel" / "jobs" / "wf" / "j-done"
        assert (bag / "bagit.txt").is_file()
        # back in the watchlist: its items come back, the archived one stays archived
        await scheduler.set_watchlist([], sources(WORKFLOW))
        assert states(settings)["pixxel:job:wf/j-done"] == ("archived", 1)
        assert states(settings)["pixxel:job:wf/j-long"][1] == 1


def alteryx_jobs(count: int) -> str:
    return "\n".join(
        f'[[alteryx.job]]\nid = "a{i:04d}"\napp_id = "wf-x"\n'
        f'outputs = [{{ id = "o1", file_name = "r.csv", size = {500 + i} }}]'
        for i in range(count)
    )


@pytest.mark.slow
async def test_two_daemons_sharing_postgres_list_each_source_one_at_a_time_and_archive_once(
    tmp_path: Path, pg_url: str
) -> None:
    """The Alteryx workflow's list is two pages: were two hosts ever to list it at once,
    their page requests would interleave (offset 0, 0, 100, 100)."""
    slow = "list_delay = 0.25\n"  # a listing takes longer than a step of the schedule
    scenario = HEAD + slow + alteryx_jobs(130) + "\n" + jobs(*((f"j{i}", "") for i in range(20)))
    watchlist = WORKFLOW + '[[alteryx.workflow]]\nid = "wf-x"\n'
    async with emulated(tmp_path, scenario, poll=POLL) as (running, settings, _):
        shared = dataclasses.replace(
            settings, state=dataclasses.replace(settings.state, url=pg_url)
        )
        async with (
            open_service(shared, "a:run") as one,
            open_service(shared, "b:run") as two,
            anyio.create_task_group() as tg,
        ):
            schedulers = [
                await start_scheduler(
                    tg, service, sources=sources(watchlist), owner=owner, concurrency=4, lease=10.0
                )
                for service, owner in ((one, "a:run"), (two, "b:run"))
            ]

            async def all_archived() -> bool:
                records = await one.store.list_items()
                return len(records) == 150 and all(r.state == "archived" for r in records)

            deadline = anyio.current_time() + 120
            while not await all_archived():
                assert anyio.current_time() < deadline, "not every listed item was archived"
                await anyio.sleep(0.2)
            await anyio.sleep(1.0)  # a few more listings by both
            for scheduler in schedulers:
                scheduler.stop(0)
    stats = running.emulator.stats()
    for i in range(130):  # each output fetched once, by one of them
        assert stats[f"alteryx:job:a{i:04d}"]["bytes_served"] == 500 + i
    for i in range(20):
        assert stats[f"pixxel:job:wf/j{i}"]["bytes_served"] > 0
    queries = [r.query for r in running.emulator.log if r.path.endswith("/wf-x/jobs")]
    offsets = [dict(p.split("=") for p in q.split("&"))["offset"] for q in queries]
    # each listing reads page 0, then page 100 (a short one ends it); two hosts listing
    # at once would show 0, 0, 100, 100
    assert len(offsets) >= 4
    assert offsets == ["0", "100"] * (len(offsets) // 2) + ["0"] * (len(offsets) % 2)


@pytest.mark.slow
async def test_downloader_run_lists_a_source_from_its_watchlist_and_drops_it_when_removed(
    tmp_path: Path,
) -> None:
    """The daemon as a process: `status --json` names the source of what it archived, and
    an edit of the watchlist that removes the source retires its items while it runs."""
    scenario = HEAD + jobs(("j1", ""), ("j2", ""), ("j-long", "seconds_until_done = 600"))
    async with emulated(tmp_path, scenario, poll=POLL) as (_, settings, _):
        config = tmp_path / "client" / "config.toml"
        watchlist = tmp_path / "client" / "watchlist.toml"
        watchlist.write_text(WORKFLOW)
        text = config.read_text().replace(
            "[watchlist]\n", '[watchlist]\ncheck_interval = "200ms"\n'
        )
        poll = '[poll]\ninitial_interval = "200ms"\nmax_interval = "400ms"\n'
        config.write_text(text + "\n" + poll)
        process = Daemon(config, tmp_path / "daemon.log")
        try:

            def archived() -> bool:
                rows = status_rows(config)
                done = [k for k, r in rows.items() if r["state"] == "archived"]
                return len(done) == 2

            await until(archived, timeout=60, what="the two finished jobs archived")
            rows = status_rows(config)
            assert {row["source"] for row in rows.values()} == {"pixxel:workflow:wf"}
            assert rows["pixxel:job:wf/j-long"]["state"] == "waiting"
            (loaded,) = process.events("watchlist.loaded")[:1]
            assert loaded["sources"] == ["pixxel:workflow:wf"]
            replaced = watchlist.with_suffix(".new")
            replaced.write_text("# nothing watched\n")
            os.replace(replaced, watchlist)
            await until(lambda: not status_rows(config), timeout=30, what="the items retired")
            assert (settings.archive.root / "pixxel" / "jobs" / "wf" / "j1" / "bagit.txt").exists()
            assert await process.stop() == 0
        finally:
            process.kill()


async def test_a_listing_longer_than_the_lease_keeps_it_and_no_other_host_lists_meanwhile(
    tmp_path: Path,
) -> None:
    """Three pages of 0.5 s each under a 1 s lease: the lister renews it as it reads, so
    the other host (sharing the store) never starts the same list half way."""
    waiting = "seconds_until_done = 600\n"
    scenario = (
        HEAD
        + "list_delay = 0.5\n"
        + "\n".join(
            f'[[alteryx.job]]\nid = "a{i:04d}"\napp_id = "wf-x"\n{waiting}'
            'outputs = [{ id = "o1", file_name = "r.csv", size = 10 }]'
            for i in range(250)
        )
    )
    watchlist = '[[alteryx.workflow]]\nid = "wf-x"\n'
    async with (
        emulated(tmp_path, scenario, poll=POLL) as (running, settings, _),
        open_service(settings, "a:run") as one,
        open_service(settings, "b:run") as two,
        anyio.create_task_group() as tg,
    ):
        schedulers = [
            await start_scheduler(tg, service, sources=sources(watchlist), owner=owner, lease=1.0)
            for service, owner in ((one, "a:run"), (two, "b:run"))
        ]
        await until(
            lambda: len([r for r in running.emulator.log if r.path.endswith("/wf-x/jobs")]) >= 9,
            timeout=60,
            what="three listings",
        )
        for scheduler in schedulers:
            scheduler.stop(0)
    queries = [r.query for r in running.emulator.log if r.path.endswith("/wf-x/jobs")]
    offsets = [dict(p.split("=") for p in q.split("&"))["offset"] for q in queries]
    whole = len(offsets) - len(offsets) % 3
    assert offsets[:whole] == ["0", "100", "200"] * (whole // 3)


async def test_a_dead_hosts_source_is_listed_by_another_once_its_lease_runs_out(
    tmp_path: Path,
) -> None:
    scenario = HEAD + jobs(("j1", ""))
    async with (
        emulated(tmp_path, scenario, poll=POLL) as (running, settings, _),
        open_service(settings, "b:run") as service,
        anyio.create_task_group() as tg,
    ):
        book = service.store.sources()
        now = service.clock.utcnow()
        await book.sync(sources(WORKFLOW), [], now=now)
        # a host took the source for a listing and died: its lease is never renewed
        (taken,) = await book.claim("dead:run", now=now, lease=timedelta(seconds=1.5), limit=5)
        assert taken.key == "pixxel:workflow:wf"
        started = time.time()  # the emulator's clock: its log's times
        scheduler = await start_scheduler(tg, service, sources=sources(WORKFLOW), owner="b:run")
        await until(
            lambda: states(settings).get("pixxel:job:wf/j1") == ("archived", 1),
            what="the source taken over and its job archived",
        )
        scheduler.stop(0)
        first_list = min(list_times(running))
    assert first_list - started >= 1.3  # listed once the dead host's lease ran out, not before
