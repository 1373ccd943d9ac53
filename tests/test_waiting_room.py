"""The scheduler's waiting room with real effects: the emulator, the store, leases.

Items waiting on Pixxel jobs are asked about with one list of their workflow's jobs
per step; only a job that finished is then looked at alone, in a turn of its own.
While they wait they hold their leases and no slot; they give the leases up when
they leave the watchlist, lose them, or the scheduler stops.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import anyio
import structlog
from structlog.testing import capture_logs

from downloader.config import PollSettings, Settings
from downloader.emulator import (
    RunningEmulator,
)
from downloader.items import ItemRef
from downloader.runners._batch import BatchResult
from downloader.runners._compose import Service, open_service
from downloader.runners._scheduler import BATCH_RECHECK, Scheduler
from downloader.store import ItemState, sqlite_path
from tests.support.crashing import crashing_survey
from tests.support.daemon import until
from tests.support.once import emulated, once_against
from tests.support.scheduler import batch_of, working

POLL = PollSettings(initial_interval=0.3, max_interval=0.6, give_up_after=60)


def jobs(count: int, *, done: str, workflow: str = "wf", prefix: str = "j") -> list[str]:
    return [
        f'[[pixxel.job]]\nworkflow_id = "{workflow}"\njob_id = "{prefix}{i:03d}"\n{done}\n'
        'files = [{ name = "scene.tif", size = 4096 }]'
        for i in range(count)
    ]


def scenario(*entries: str) -> str:
    return "\n".join(["[emulator]", "seed = 3", 'pixxel_api_key = "k"', *entries])


async def test_waiting_jobs_of_a_workflow_are_asked_about_in_one_list_per_step(
    tmp_path: Path,
) -> None:
    text = scenario(
        *jobs(40, done="seconds_until_done = 1.5"),
        *jobs(5, done="seconds_until_done = 1.5", workflow="wf-2", prefix="k"),
    )
    async with once_against(tmp_path, text, poll=POLL) as (running, _):
        log = running.emulator.log
        stats = running.emulator.stats()
    lists = [r for r in log if r.method == "GET" and r.path.endswith("/jobs")]
    gets = [r for r in log if r.method == "GET" and "/jobs/" in r.path and r.item]
    archived = [k for k in stats if "pixxel:job:" in k and stats[k]["bytes_served"] > 0]
    assert len(archived) == 45
    # alone, each item would have been asked about every 0.3 to 0.6 s: some 4 times each,
    # 180 requests; together, one list of each workflow per step
    by_workflow = {w: sum(r.path.endswith(f"/{w}/jobs") for r in lists) for w in ("wf", "wf-2")}
    assert 2 <= by_workflow["wf"] <= 8, by_workflow
    assert 2 <= by_workflow["wf-2"] <= 8, by_workflow
    # each finished job looked at alone exactly once, by its own turn
    per_item: dict[str | None, int] = {}
    for record in gets:
        per_item[record.item] = per_item.get(record.item, 0) + 1
    assert len(per_item) == 45
    assert set(per_item.values()) == {1}


@contextlib.asynccontextmanager
async def daemon_scheduler(
    tmp_path: Path,
    text: str,
    *,
    lease: float = 120.0,
    concurrency: int = 2,
    first: Callable[[ItemRef], bool] | None = None,
) -> AsyncIterator[tuple[Scheduler, Service, Settings, RunningEmulator, list[ItemRef]]]:
    """A scheduler (owner "me") `working` the scenario's items (at first only those
    `first` picks)."""
    async with (
        emulated(tmp_path, text, poll=POLL) as (running, settings, refs),
        open_service(settings, "me") as service,
    ):
        picked = [r for r in refs if first is None or first(r)]
        async with working(service, picked, lease=lease, concurrency=concurrency) as scheduler:
            yield scheduler, service, settings, running, refs


def staggered_jobs(count: int) -> str:
    """`count` jobs of one workflow, finishing 0.5 to 2 s after they are first asked about."""
    return scenario(
        *(
            f'[[pixxel.job]]\nworkflow_id = "wf"\njob_id = "j{i:03d}"\n'
            f"seconds_until_done = {0.5 + (i % 6) * 0.3:g}\n"
            f'files = [{{ name = "scene.tif", size = {20000 + i} }}]'
            for i in range(count)
        )
    )


def leases(settings: Settings) -> dict[str, str | None]:
    with sqlite3.connect(sqlite_path(settings.state.url)) as db:
        return dict(db.execute("SELECT key, lease_owner FROM items"))


async def test_waiting_items_hold_their_leases_and_no_slot(tmp_path: Path) -> None:
    text = scenario(*jobs(6, done="seconds_until_done = 100000"))
    async with daemon_scheduler(tmp_path, text) as (scheduler, _, settings, running, refs):
        await until(lambda: len(scheduler.waiting_room) == 6)
        assert scheduler.in_flight == frozenset()
        assert set(leases(settings).values()) == {"me"}
        # asked about in lists only, never one by one
        await until(lambda: running.emulator.stats().get(refs[0].key, {}).get("listed", 0) >= 2)
        assert all(running.emulator.stats()[r.key]["api_calls"] == 0 for r in refs)


async def test_an_item_that_leaves_the_watchlist_leaves_the_room_and_its_lease(
    tmp_path: Path,
) -> None:
    text = scenario(*jobs(3, done="seconds_until_done = 100000"))
    async with daemon_scheduler(tmp_path, text) as (scheduler, _, settings, _running, refs):
        await until(lambda: len(scheduler.waiting_room) == 3)
        await scheduler.set_watchlist(refs[1:])
        assert scheduler.waiting_room == {r.key for r in refs[1:]}
        assert leases(settings)[refs[0].key] is None
        assert leases(settings)[refs[1].key] == "me"


async def test_stopping_gives_up_the_leases_of_the_waiting_items(tmp_path: Path) -> None:
    text = scenario(*jobs(4, done="seconds_until_done = 100000"))
    async with daemon_scheduler(tmp_path, text) as (scheduler, service, settings, _, _refs):
        await until(lambda: len(scheduler.waiting_room) == 4)
        scheduler.stop(0)
        await until(lambda: set(leases(settings).values()) == {None})
        assert scheduler.waiting_room == frozenset()
        records = await service.store.list_items()
        assert {r.state for r in records} == {ItemState.WAITING}


async def test_a_waiting_item_whose_lease_was_taken_leaves_the_room(tmp_path: Path) -> None:
    text = scenario(*jobs(2, done="seconds_until_done = 100000"))
    with capture_logs() as logs:
        async with daemon_scheduler(tmp_path, text, lease=0.6) as (scheduler, _, settings, _, refs):
            await until(lambda: len(scheduler.waiting_room) == 2)
            with sqlite3.connect(sqlite_path(settings.state.url)) as db:
                db.execute(
                    "UPDATE items SET lease_owner = 'other', lease_expires_at = ? WHERE key = ?",
                    (2**62, refs[0].key),
                )
            await until(lambda: scheduler.waiting_room == {refs[1].key})
            assert leases(settings)[refs[0].key] == "other"
    lost = [e for e in logs if e["event"] == "item.lease_lost"]
    assert [e["item"] for e in lost] == [refs[0].key]


async def test_a_job_that_finishes_leaves_the_room_for_a_turn_and_is_archived(
    tmp_path: Path,
) -> None:
    text = scenario(
        *jobs(3, done="seconds_until_done = 100000"),
        *jobs(1, done="polls_until_done = 2", prefix="q"),
    )
    async with daemon_scheduler(tmp_path, text) as (scheduler, service, _, running, refs):
        [quick] = [r for r in refs if r.ids[1].startswith("q")]

        async def archived() -> bool:
            record = await service.store.get(quick.key)
            return record is not None and record.state is ItemState.ARCHIVED

        with anyio.fail_after(30):
            while not await archived():
                await anyio.sleep(0.05)
        assert quick.key not in scheduler.waiting_room
        assert len(scheduler.waiting_room) == 3
        stats = running.emulator.stats()[quick.key]
        assert stats["listed"] >= 2  # the list said running, then completed
        assert stats["api_calls"] >= 2  # then its turn: Get Job, the package PUT


async def test_two_processes_sharing_a_store_each_take_waiting_items_and_archive_each_once(
    tmp_path: Path,
) -> None:
    text = staggered_jobs(30)
    async with emulated(tmp_path, text, poll=POLL) as (running, settings, refs):

        async def host(owner: str, done: anyio.Event) -> None:
            structlog.contextvars.bind_contextvars(host=owner)  # this task's events only
            async with (
                open_service(settings, owner) as service,
                working(service, refs, owner=owner),
            ):
                await done.wait()

        async def all_archived(store_url: str) -> bool:
            try:
                with sqlite3.connect(sqlite_path(store_url)) as db:
                    states = [s for (s,) in db.execute("SELECT state FROM items")]
            except sqlite3.OperationalError:  # not made yet
                return False
            return len(states) == len(refs) and set(states) == {"archived"}

        done = anyio.Event()
        with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
            async with anyio.create_task_group() as tg:
                tg.start_soon(host, "host-a", done)
                tg.start_soon(host, "host-b", done)
                with anyio.fail_after(60):
                    while not await all_archived(settings.state.url):
                        await anyio.sleep(0.1)
                done.set()
        stats = running.emulator.stats()
        expected = running.emulator.expected()
    archived: dict[str, set[str]] = {"host-a": set(), "host-b": set()}
    for event in logs:
        if event["event"] == "item.archived":
            archived[event["host"]].add(event["item"])
    # every item archived by exactly one of them, and both took part
    assert archived["host-a"].isdisjoint(archived["host-b"])
    assert archived["host-a"] | archived["host-b"] == {r.key for r in refs}
    assert archived["host-a"]
    assert archived["host-b"]
    # every package fetched once: the waiting room never let two hosts work one item
    for key, wanted in expected.items():
        assert stats[key]["bytes_served"] == sum(f.size for f in wanted), key


async def test_waiting_items_enter_the_room_while_every_slot_is_busy(tmp_path: Path) -> None:
    text = scenario(
        '[[pixxel.job]]\nworkflow_id = "wf"\njob_id = "a-big"\npolls_until_done = 0\n'
        'files = [{ name = "big.tif", size = 600000 }]\n'
        "faults = { rate_bytes_per_s = 40000 }",
        *jobs(5, done="seconds_until_done = 100000", prefix="w"),
    )

    def is_big(ref: ItemRef) -> bool:
        return ref.ids[1] == "a-big"

    async with daemon_scheduler(tmp_path, text, concurrency=1, first=is_big) as (
        scheduler,
        service,
        _,
        _running,
        refs,
    ):
        [big] = [r for r in refs if is_big(r)]
        waiting = [r for r in refs if r is not big]
        await until(lambda: scheduler.in_flight == {big.key}, what="the download to start")
        await scheduler.set_watchlist(refs)
        await until(
            lambda: scheduler.waiting_room == {r.key for r in waiting},
            timeout=10,
            what="the new waiting items to enter the room",
        )
        assert big.key in scheduler.in_flight
        record = await service.store.get(big.key)
        assert record is not None
        assert record.state is ItemState.DOWNLOADING


async def test_two_batch_runs_sharing_a_store_both_end_soon_after_the_last_item(
    tmp_path: Path,
) -> None:
    async with emulated(tmp_path, staggered_jobs(30), poll=POLL) as (_, settings, refs):
        ended: dict[str, float] = {}
        results: dict[str, BatchResult] = {}

        async def host(owner: str) -> None:
            async with open_service(settings, owner) as service:
                results[owner] = await batch_of(service, refs, owner=owner)
            ended[owner] = time.monotonic()

        # the one that runs out of items first sees the other's last ones finish within
        # a few seconds, not when their leases (two minutes) or a minute's sleep run out
        with anyio.fail_after(40):
            async with anyio.create_task_group() as tg:
                tg.start_soon(host, "host-a")
                tg.start_soon(host, "host-b")
    assert results["host-a"] == results["host-b"] == BatchResult(archived=30, failed=0)
    assert abs(ended["host-a"] - ended["host-b"]) < 2 * BATCH_RECHECK + 1


async def test_a_list_that_raises_something_of_no_tree_is_not_asked_again_in_once(
    tmp_path: Path,
) -> None:
    text = scenario(*jobs(2, done="polls_until_done = 3"))
    with capture_logs() as logs:
        async with (
            emulated(tmp_path, text, poll=POLL) as (running, settings, refs),
            open_service(settings, "once") as service,
        ):
            # Pixxel's survey asks for the list, then raises a RuntimeError of its own
            service.worker.providers = crashing_survey(service.worker.providers, "pixxel")
            result = await batch_of(
                service, refs, owner="once", concurrency=settings.transfer.limits.max_concurrent
            )
            records = await service.store.list_items()
    assert result == BatchResult(archived=2, failed=0)
    assert {r.state for r in records} == {ItemState.ARCHIVED}
    crashed = [e for e in logs if e["event"] == "scheduler.survey_crashed"]
    assert len(crashed) == 1  # then its items are asked about one by one
    assert crashed[0]["provider"] == "pixxel"
    stats = running.emulator.stats()
    jobs_asked = [s for key, s in stats.items() if key.startswith("pixxel:job:")]
    assert [s["listed"] for s in jobs_asked] == [1, 1]  # one list, never again
    assert all(s["job_polls"] >= 3 for s in jobs_asked)  # then each job asked alone


async def test_a_list_holding_a_number_json_refuses_is_unreadable_and_not_asked_again(
    tmp_path: Path,
) -> None:
    # a 5,000-digit number in the list: an answer that cannot be read, not a crash
    text = scenario('job_list_malformed = "huge_number"', *jobs(2, done="polls_until_done = 3"))
    with capture_logs() as logs:
        async with (
            once_against(tmp_path, text, poll=POLL) as (running, settings),
            open_service(settings, "check") as service,
        ):
            records = await service.store.list_items()
    assert {r.state for r in records} == {ItemState.ARCHIVED}
    assert not [e for e in logs if e["event"] == "scheduler.survey_crashed"]
    off = [e for e in logs if e["event"] == "provider.survey_off"]
    assert len(off) == 1
    assert "cannot be read" in off[0]["reason"]
    stats = running.emulator.stats()
    jobs_asked = [s for key, s in stats.items() if key.startswith("pixxel:job:")]
    assert [s["listed"] for s in jobs_asked] == [1, 1]  # one list, never again
    assert all(s["job_polls"] >= 3 for s in jobs_asked)  # then each job asked alone
