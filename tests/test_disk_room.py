"""A file known to be larger than the free space waits before its first byte, or fails.

It must not fill the disk first: the free space is measured while the item waits.
The archive lives on a small tmpfs mounted for each test (`small_fs`).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import anyio
import bagit

from downloader.clock import FakeClock
from downloader.emulator._files import RunningHost
from downloader.items import ItemRef
from downloader.runners._status import collect_status
from downloader.store import ItemState
from downloader.transfer._space import SpaceGuard, can_ever_fit, free_bytes
from tests.support.disk import add, fill, rows_once_one_waits
from tests.support.worker import OWNER, http_harness, http_item

MiB = 1 << 20


def test_a_file_can_ever_fit_only_within_the_filesystem_less_the_minimum() -> None:
    assert can_ever_fit(need=31 * MiB, capacity=32 * MiB, minimum=MiB)
    assert not can_ever_fit(need=32 * MiB, capacity=32 * MiB, minimum=MiB)


async def test_a_file_larger_than_the_free_space_waits_before_writing_with_the_reason_in_status(
    small_fs: Path, file_host: RunningHost, tmp_path: Path
) -> None:
    content = add(file_host, "/large.tif", 16 * MiB)
    ballast = fill(small_fs, leave=10 * MiB)
    ref = http_item(file_host.url("/large.tif"), "large")
    async with (
        http_harness(tmp_path, small_fs, min_free_space=MiB) as h,
        anyio.create_task_group() as tg,
    ):
        states = h.work_soon(tg, ref)
        rows = await rows_once_one_waits(h.store)
        await anyio.sleep(0.3)  # time enough to write, had it gone on
        free = free_bytes(small_fs)
        rows = await collect_status(h.store, verbose=False)
        assert free >= 9 * MiB, "the disk was filled before waiting"
        assert rows[0]["state"] == "downloading"
        assert "waiting for disk space" in rows[0]["error"]
        assert "the file needs 16.0 MiB more" in rows[0]["error"]
        ballast.unlink()
        with anyio.fail_after(30):
            while not states:
                await anyio.sleep(0.02)
        rows = await collect_status(h.store, verbose=False)
    assert states == [ItemState.ARCHIVED]
    assert rows[0]["error"] is None
    bag = bagit.Bag(rows[0]["archive_path"])
    bag.validate()
    assert {d["sha256"] for d in bag.payload_entries().values()} == {content.hexdigest()}


async def test_a_file_larger_than_the_whole_filesystem_fails_at_once_writing_nothing(
    small_fs: Path, file_host: RunningHost, tmp_path: Path
) -> None:
    add(file_host, "/huge.tif", 40 * MiB)
    ref = http_item(file_host.url("/huge.tif"), "huge")
    before = free_bytes(small_fs)
    async with http_harness(tmp_path, small_fs, min_free_space=MiB) as h:
        with anyio.fail_after(20):
            state = await h.work(ref)
        rows = await collect_status(h.store, verbose=False)
    assert state is ItemState.FAILED
    assert "the file needs 40.0 MiB" in rows[0]["error"]
    assert "whole filesystem" in rows[0]["error"]
    assert free_bytes(small_fs) >= before - MiB


def test_room_promised_to_one_transfer_is_taken_for_the_others() -> None:
    free = [10 * MiB]
    guard = SpaceGuard(Path("/"), MiB, FakeClock(), measure=lambda _: free[0])
    assert guard.reserve(6 * MiB, key="a")
    assert not guard.reserve(6 * MiB, key="b")  # fits alone, not beside a's promise
    assert guard.reserve(3 * MiB, key="c")
    guard.release("a")
    assert guard.reserve(6 * MiB, key="b")


async def test_two_files_that_each_fit_alone_do_not_fill_the_disk_together(
    small_fs: Path, file_host: RunningHost, tmp_path: Path
) -> None:
    for name in ("one", "two"):
        add(file_host, f"/{name}.tif", 6 * MiB, rate_bytes_per_s=6 * MiB)
    ballast = fill(small_fs, leave=10 * MiB)
    refs = [http_item(file_host.url(f"/{n}.tif"), n) for n in ("one", "two")]
    lowest = [free_bytes(small_fs)]
    async with (
        http_harness(tmp_path, small_fs, min_free_space=MiB) as h,
        anyio.create_task_group() as tg,
    ):
        states: list[ItemState] = []
        await h.store.sync_watchlist(refs, now=h.clock.utcnow())
        claimed = await h.store.claim(
            OWNER, now=h.clock.utcnow(), lease=timedelta(minutes=5), limit=2
        )
        assert len(claimed) == 2

        async def work(ref: ItemRef) -> None:
            states.append(await h.worker.work(ref))

        for ref in refs:
            tg.start_soon(work, ref)
        with anyio.fail_after(30):
            while True:
                lowest.append(free_bytes(small_fs))
                rows = await collect_status(h.store, verbose=False)
                if any(r["error"] and "the file needs" in r["error"] for r in rows):
                    break
                await anyio.sleep(0.02)
        for _ in range(20):
            lowest.append(free_bytes(small_fs))
            await anyio.sleep(0.02)
        ballast.unlink()
        with anyio.fail_after(30):
            while len(states) < 2:
                await anyio.sleep(0.02)
    assert states == [ItemState.ARCHIVED, ItemState.ARCHIVED]
    assert min(lowest) >= 3 * MiB, "the two files together filled the disk"
