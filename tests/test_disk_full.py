"""A full disk pauses transfers instead of failing them, and they go on when space is freed.

The archive lives on a small tmpfs mounted for each test; ballast files fill it.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import anyio
import bagit
from anyio.abc import TaskGroup
from structlog.testing import capture_logs

from downloader.clock import SystemClock
from downloader.emulator._files import RunningHost
from downloader.runners._status import collect_status
from downloader.store import ItemState
from downloader.transfer import AssetRequest, Limits, RetryPolicy, Timeouts, TransferEngine
from downloader.transfer._space import SpaceGuard, free_bytes, is_disk_full, shortfall
from tests.support.disk import add, fill, rows_once_one_waits
from tests.support.engine import nothing_final_except
from tests.support.worker import http_harness, http_item

MiB = 1 << 20


class Notices:
    def __init__(self) -> None:
        self.seen: list[str | None] = []
        self.waiting = anyio.Event()

    async def __call__(self, text: str | None) -> None:
        self.seen.append(text)
        if text is not None:
            self.waiting.set()


@contextlib.asynccontextmanager
async def http_engine(
    root: Path, guard: SpaceGuard, clock: SystemClock
) -> AsyncIterator[TransferEngine]:
    async with aiohttp.ClientSession(auto_decompress=False) as session:
        yield TransferEngine(
            session,
            partial_root=root / ".partial",
            limits=Limits(segment_min_size=64 * MiB, segments=1),
            timeouts=Timeouts(connect=5, stall=10),
            retry=RetryPolicy(backoff_base=0.01, backoff_cap=0.05),
            clock=clock,
            space=guard,
        )


def fetch_soon(
    tg: TaskGroup, engine: TransferEngine, request: AssetRequest, dest: Path
) -> list[object]:
    """Start fetching `request` into `dest` in `tg`; the list its result is put in."""
    results: list[object] = []

    async def fetch() -> None:
        results.append(await engine.fetch(request, dest))

    tg.start_soon(fetch)
    return results


def test_shortfall_and_disk_full_errors_are_recognised() -> None:
    assert shortfall(free=10 * MiB, need=MiB, minimum=8 * MiB) == 0
    assert shortfall(free=8 * MiB, need=MiB, minimum=8 * MiB) == MiB
    assert is_disk_full(OSError(28, "No space left on device"))
    assert is_disk_full(OSError(122, "Disk quota exceeded"))
    assert not is_disk_full(OSError(13, "Permission denied"))


async def test_below_min_free_space_the_transfer_pauses_and_resumes_when_space_is_freed(
    small_fs: Path, file_host: RunningHost
) -> None:
    content = add(file_host, "/big.bin", 10 * MiB)
    ballast = fill(small_fs, leave=12 * MiB)
    clock = SystemClock()
    notices = Notices()
    guard = SpaceGuard(small_fs, 8 * MiB, clock, interval=0.02)
    dest = small_fs / "out"
    async with anyio.create_task_group() as tg, http_engine(small_fs, guard, clock) as engine:
        with capture_logs() as logs:
            request = AssetRequest("big", url=file_host.url("/big.bin"), on_wait=notices)
            results = fetch_soon(tg, engine, request, dest)
            with anyio.fail_after(20):
                await notices.waiting.wait()
            await anyio.sleep(0.3)
            assert not results, "the transfer went on below min_free_space"
            assert nothing_final_except(dest)
            assert free_bytes(small_fs) >= 8 * MiB - MiB  # the minimum was kept
            assert list((small_fs / ".partial").rglob("*.part"))
            ballast.unlink()
            with anyio.fail_after(20):
                while not results:
                    await anyio.sleep(0.02)
    result = results[0]
    assert result.sha256 == content.hexdigest()  # type: ignore[attr-defined]
    assert (dest / "big.bin").stat().st_size == 10 * MiB
    assert notices.seen[0] is not None
    assert "waiting for disk space" in notices.seen[0]
    assert "min_free_space is 8.0 MiB" in notices.seen[0]
    assert notices.seen[-1] is None
    events = [e["event"] for e in logs]
    assert "disk.waiting_for_space" in events
    assert "disk.space_available" in events
    assert not any(e["log_level"] == "error" for e in logs)


async def test_enospc_in_the_middle_of_a_write_waits_and_keeps_every_byte(
    small_fs: Path, file_host: RunningHost
) -> None:
    # a filesystem whose free count cannot see the limit (quota, thin provisioning):
    # the guard believes there is room, the write itself fails with ENOSPC
    content = add(file_host, "/q.bin", 12 * MiB)
    ballast = fill(small_fs, leave=5 * MiB)
    clock = SystemClock()
    notices = Notices()
    guard = SpaceGuard(small_fs, 0, clock, interval=0.02, measure=lambda _: 1 << 40)
    dest = small_fs / "out"
    async with anyio.create_task_group() as tg, http_engine(small_fs, guard, clock) as engine:
        with capture_logs() as logs:
            request = AssetRequest("q", url=file_host.url("/q.bin"), on_wait=notices)
            results = fetch_soon(tg, engine, request, dest)
            with anyio.fail_after(20):
                await notices.waiting.wait()
            await anyio.sleep(0.3)
            assert not results
            assert nothing_final_except(dest)
            parts = list((small_fs / ".partial").rglob("*.part"))
            assert parts
            assert parts[0].with_suffix(".json").exists()
            ballast.unlink()
            with anyio.fail_after(20):
                while not results:
                    await anyio.sleep(0.02)
    assert results[0].sha256 == content.hexdigest()  # type: ignore[attr-defined]
    assert any(e.get("cause") == "ENOSPC" for e in logs)
    assert not any(e["log_level"] == "error" for e in logs)


async def test_the_item_shows_it_waits_for_disk_space_and_is_archived_once_space_is_freed(
    small_fs: Path, file_host: RunningHost, tmp_path: Path
) -> None:
    content = add(file_host, "/scene.tif", 6 * MiB)
    ballast = fill(small_fs, leave=9 * MiB)
    ref = http_item(file_host.url("/scene.tif"), "scene")
    async with (
        http_harness(tmp_path, small_fs, min_free_space=6 * MiB) as h,
        anyio.create_task_group() as tg,
    ):
        states = h.work_soon(tg, ref)
        rows = await rows_once_one_waits(h.store)
        assert rows[0]["state"] == "downloading"
        assert "waiting for disk space" in rows[0]["error"]
        # a pause for room is no try: nothing is counted against the item's [retry] budget
        paused = await h.store.get(ref.key)
        assert paused is not None
        assert paused.attempts == 0
        finals = [p for p in small_fs.rglob("*") if p.is_file() and ".partial" not in p.parts]
        assert finals == [ballast], "nothing may appear in the archive while it waits"
        ballast.unlink()
        with anyio.fail_after(30):
            while not states:
                await anyio.sleep(0.02)
        rows = await collect_status(h.store, verbose=False)
    assert states == [ItemState.ARCHIVED]
    assert rows[0]["error"] is None
    assert rows[0]["attempts"] == 0
    bag = bagit.Bag(rows[0]["archive_path"])
    bag.validate()
    assert {d["sha256"] for d in bag.payload_entries().values()} == {content.hexdigest()}


async def test_a_held_body_that_meets_a_full_disk_waits_and_lands_whole(
    small_fs: Path, file_host: RunningHost
) -> None:
    # a file that keeps no checkpoint is held in memory and meets the full disk only
    # when it is written out, verified: it waits there, then is written out again whole
    content = add(file_host, "/h.bin", MiB)
    ballast = fill(small_fs, leave=256 * 1024)
    clock = SystemClock()
    notices = Notices()
    guard = SpaceGuard(small_fs, 0, clock, interval=0.02, measure=lambda _: 1 << 40)
    dest = small_fs / "out"
    async with anyio.create_task_group() as tg, http_engine(small_fs, guard, clock) as engine:
        results: list[object] = []

        async def fetch() -> None:
            request = AssetRequest("h", url=file_host.url("/h.bin"), on_wait=notices)
            results.append(await engine.fetch(request, dest))

        with capture_logs() as logs:
            tg.start_soon(fetch)
            with anyio.fail_after(20):
                await notices.waiting.wait()
            await anyio.sleep(0.3)
            assert not results
            assert nothing_final_except(dest)
            ballast.unlink()
            with anyio.fail_after(20):
                while not results:
                    await anyio.sleep(0.02)
    assert results[0].sha256 == content.hexdigest()  # type: ignore[attr-defined]
    assert (dest / "h.bin").read_bytes() == content.read(0, MiB)
    assert not list((small_fs / ".partial").rglob("*.part"))
    assert any(e.get("cause") == "ENOSPC" for e in logs)
    assert notices.seen[-1] is None
    assert not any(e["log_level"] == "error" for e in logs)
