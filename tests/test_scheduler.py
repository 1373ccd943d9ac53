"""The scheduler loop with real effects (store, engine, file host) in this process."""

from __future__ import annotations

import dataclasses
import sqlite3
import time
from datetime import timedelta
from pathlib import Path

import anyio
import pytest
from structlog.testing import capture_logs

from downloader.config import Settings, TransferSettings
from downloader.emulator._content import SeededContent
from downloader.emulator._files import Faults, FileSpec, RunningHost
from downloader.items import ItemRef
from downloader.metrics import Metrics
from downloader.runners._batch import BatchResult
from downloader.runners._compose import open_service
from downloader.store import ItemRecord, ItemState, open_store, sqlite_path
from downloader.transfer import Limits, RetryPolicy, TransferEngine
from tests.support.daemon import until
from tests.support.scheduler import batch_of, scheduler_of, start_scheduler

MiB = 1 << 20


def settings_for(tmp_path: Path, concurrency: int) -> Settings:
    settings = Settings.defaults(tmp_path)
    limits = Limits(max_concurrent=concurrency)
    return dataclasses.replace(settings, transfer=TransferSettings(limits=limits))


def http_item(host: RunningHost, item_id: str, path: str) -> ItemRef:
    return ItemRef("http", "file", (item_id,), url=host.url(path))


async def batch(settings: Settings, items: list[ItemRef]) -> BatchResult:
    """`items` worked to the end, two at a time, by a service built from `settings`."""
    async with open_service(settings, "test") as service:
        return await batch_of(service, items, owner="test")


async def test_a_freed_slot_is_refilled_without_waiting_for_the_whole_wave(
    file_host: RunningHost, tmp_path: Path
) -> None:
    file_host.host.add(
        FileSpec("/s/slow.bin", SeededContent(1, MiB)), Faults(rate_bytes_per_s=MiB // 4)
    )
    items = [http_item(file_host, "a-slow", "/s/slow.bin")]
    for i in range(3):
        file_host.host.add(FileSpec(f"/s/fast{i}.bin", SeededContent(10 + i, 5000)))
        items.append(http_item(file_host, f"b{i}", f"/s/fast{i}.bin"))
    settings = settings_for(tmp_path, concurrency=2)
    with capture_logs() as logs:
        result = await batch(settings, items)
    assert (result.archived, result.failed) == (4, 0)
    order = [e["item"] for e in logs if e["event"] == "item.archived"]
    # the slow item held one slot all along; the fast ones took turns in the other
    assert order == ["http:file:b0", "http:file:b1", "http:file:b2", "http:file:a-slow"]


async def test_finished_items_hold_no_lease_without_a_release_of_their_own(
    file_host: RunningHost, tmp_path: Path
) -> None:
    file_host.host.add(FileSpec("/f/ok.bin", SeededContent(2, 5000)))
    items = [http_item(file_host, "ok", "/f/ok.bin"), http_item(file_host, "gone", "/f/no.bin")]
    settings = settings_for(tmp_path, concurrency=2)
    result = await batch(settings, items)
    assert (result.archived, result.failed) == (1, 1)
    async with open_store(settings.state.url) as store:
        records = {r.key: r for r in await store.list_items()}
    assert records["http:file:ok"].state is ItemState.ARCHIVED
    assert records["http:file:gone"].state is ItemState.FAILED
    # the terminal transition itself dropped the lease: nothing waits for it to expire
    assert all((r.lease_owner, r.lease_expires_at) == (None, None) for r in records.values()), (
        records
    )


async def test_an_item_to_be_retried_is_released_once_its_turn_ends(
    file_host: RunningHost, tmp_path: Path
) -> None:
    file_host.host.add(
        FileSpec("/r/busy.bin", SeededContent(4, 5000)), Faults(error_statuses=[503] * 50)
    )
    settings = settings_for(tmp_path, concurrency=2)
    ref = http_item(file_host, "busy", "/r/busy.bin")
    async with open_service(settings, "me") as service, anyio.create_task_group() as tg:
        # one try per turn: the item's turn ends at the first 503
        engine = service.worker.engine
        service.worker.engine = TransferEngine(
            service.session,
            partial_root=engine.partial_root,
            limits=engine.limits,
            retry=RetryPolicy(attempts=1),
            clock=service.clock,
        )
        scheduler = await start_scheduler(tg, service, [ref])

        async def released_for_a_retry() -> ItemRecord | None:
            record = await service.store.get(ref.key)
            if record is None or record.next_attempt_at is None or record.lease_owner:
                return None
            return record

        deadline = anyio.current_time() + 10
        while (record := await released_for_a_retry()) is None:
            assert anyio.current_time() < deadline, "the item was not released for a retry"
            await anyio.sleep(0.05)
        assert not scheduler.in_flight
        scheduler.stop(grace=0)
    assert record is not None
    assert record.state is ItemState.DOWNLOADING
    assert "503" in (record.error or "")
    assert (record.lease_owner, record.lease_expires_at) == (None, None)
    assert record.next_attempt_at is not None
    assert record.next_attempt_at > service.clock.utcnow()  # due after [retry] initial_delay


@pytest.mark.parametrize(
    ("faults", "found_by", "lease"),
    [
        # bytes flowing: the next progress write (every 50 ms) is refused; the lease is
        # renewed only every second, so that a busy machine cannot let a renewal come first
        (Faults(rate_bytes_per_s=MiB // 2), "refused write", 3.0),
        # a silent server, nothing written: the lease renewal finds the loss
        (Faults(stall_seconds=30.0, stall_after_bytes=MiB // 2), "renewal", 0.6),
    ],
    ids=["while-writing", "while-silent"],
)
async def test_a_lost_lease_cancels_that_items_work_and_leaves_the_lease_to_its_holder(
    file_host: RunningHost, tmp_path: Path, faults: Faults, found_by: str, lease: float
) -> None:
    content = SeededContent(3, 8 * MiB)
    file_host.host.add(FileSpec("/l/big.bin", content), faults)
    settings = settings_for(tmp_path, concurrency=2)
    ref = http_item(file_host, "big", "/l/big.bin")

    def served() -> int:
        return sum(r.bytes_sent for r in file_host.host.log)

    metrics = Metrics()
    with capture_logs() as logs:
        async with (
            open_service(settings, "me", observer=metrics) as service,
            anyio.create_task_group() as tg,
        ):
            scheduler = await start_scheduler(tg, service, [ref], lease=lease)
            await until(lambda: served() >= MiB // 2, what="the transfer under way")
            # what came is recorded before the takeover: a silent server then leaves
            # nothing to write, whenever the receiver hands its last bytes on
            with anyio.fail_after(20):
                while (record := await service.store.get(ref.key)) is None or (
                    record.bytes_done < MiB // 2
                ):
                    await anyio.sleep(0.05)
            assert scheduler.in_flight == {ref.key}
            # another worker takes the item over (as after a lease expired unseen)
            async with open_store(settings.state.url) as other:
                await other.release_all("me")
                now = service.clock.utcnow()
                taken = await other.claim("other", now=now, lease=timedelta(minutes=5), limit=1)
                assert [r.key for r in taken] == [ref.key]
                await until(lambda: not scheduler.in_flight, timeout=5, what="the work cancelled")
                await anyio.sleep(0.3)
                stopped_at = served()
                await anyio.sleep(1.0)
                assert served() == stopped_at  # no more bytes asked for
                record = await other.get(ref.key)
            scheduler.stop(grace=0)
    assert record is not None
    assert record.lease_owner == "other"  # not released by the worker that lost it
    assert record.state is ItemState.DOWNLOADING
    assert [e["item"] for e in logs if e["event"] == "item.lease_lost"] == [ref.key]
    assert metrics.registry.get_sample_value("downloader_lease_takeovers_total") == 1
    stopped = [e["reason"] for e in logs if e["event"] == "item.stopped"]
    assert stopped == (["lease lost"] if found_by == "renewal" else [])
    assert not (settings.archive.root / "http" / "big").exists()


async def test_the_heartbeat_comes_from_the_loop_so_a_blocked_loop_stops_beating(
    tmp_path: Path,
) -> None:
    settings = settings_for(tmp_path, concurrency=2)
    beats: list[float] = []

    async def beat() -> None:
        beats.append(time.monotonic())

    async with (
        open_service(settings, "me") as service,
        open_store(settings.state.url, busy_timeout=30) as store,
        anyio.create_task_group() as tg,
    ):
        scheduler = await start_scheduler(
            tg, service, store=store, heartbeat=beat, heartbeat_interval=0.05
        )
        await until(lambda: len(beats) >= 3, what="the first beats")
        # another process holds the write lock: the loop's next claim waits on it
        lock = sqlite3.connect(sqlite_path(settings.state.url), isolation_level=None)
        lock.execute("BEGIN EXCLUSIVE")
        locked_at = time.monotonic()
        await anyio.sleep(1.0)
        during = [t for t in beats if t > locked_at + 0.2]
        lock.execute("COMMIT")
        lock.close()
        count = len(beats)
        await until(lambda: len(beats) >= count + 3, what="the beats to resume")
        scheduler.stop(grace=0)
    assert during == []


async def test_a_store_locked_too_long_is_logged_and_the_daemon_loop_goes_on(
    file_host: RunningHost, tmp_path: Path
) -> None:
    file_host.host.add(FileSpec("/k/a.bin", SeededContent(5, 4000)))
    settings = settings_for(tmp_path, concurrency=2)
    with capture_logs() as logs:
        async with (
            open_service(settings, "me") as service,
            open_store(settings.state.url, busy_timeout=0.2) as store,
            anyio.create_task_group() as tg,
        ):
            scheduler = scheduler_of(service, store=store)
            await scheduler.set_watchlist([])
            lock = sqlite3.connect(sqlite_path(settings.state.url), isolation_level=None)
            lock.execute("BEGIN EXCLUSIVE")
            tg.start_soon(lambda: scheduler.run())
            await until(
                lambda: any(e["event"] == "scheduler.store_error" for e in logs),
                what="the locked store reported",
            )
            lock.execute("COMMIT")
            lock.close()
            # still working: an entry added now is archived
            await scheduler.set_watchlist([http_item(file_host, "a", "/k/a.bin")])
            await until(
                lambda: any(e["event"] == "item.archived" for e in logs), what="the item archived"
            )
            scheduler.stop(grace=0)
    assert "locked" in next(e for e in logs if e["event"] == "scheduler.store_error")["error"]


async def test_the_heartbeat_goes_on_while_the_items_in_flight_drain(
    file_host: RunningHost, tmp_path: Path
) -> None:
    file_host.host.add(
        FileSpec("/d/slow.bin", SeededContent(3, MiB)), Faults(rate_bytes_per_s=MiB // 4)
    )
    settings = settings_for(tmp_path, concurrency=2)
    beats: list[float] = []

    async def beat() -> None:
        beats.append(time.monotonic())

    with capture_logs() as logs:
        async with open_service(settings, "me") as service, anyio.create_task_group() as tg:
            item = http_item(file_host, "slow", "/d/slow.bin")
            scheduler = await start_scheduler(
                tg, service, [item], heartbeat=beat, heartbeat_interval=0.05
            )
            await until(lambda: bool(scheduler.in_flight), what="the item in flight")
            stopped_at = time.monotonic()
            scheduler.stop(grace=1.0)
    # the claim loop has ended: the beats go on by themselves through the grace period
    assert len([t for t in beats if stopped_at + 0.3 < t < stopped_at + 0.9]) >= 3
    stopped = [e["reason"] for e in logs if e["event"] == "item.stopped"]
    assert stopped == ["grace period over"]
