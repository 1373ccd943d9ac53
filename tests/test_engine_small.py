"""A file small enough to keep no checkpoint: held in memory while it arrives, on disk
only once verified (made, written, fsynced and renamed in one worker-thread call), and
its room on disk looked at without asking the filesystem for each file."""

from __future__ import annotations

import gc
import tracemalloc
from pathlib import Path

import anyio

from downloader.emulator._content import SeededContent
from downloader.emulator._files import Faults, FileSpec, RunningHost
from downloader.transfer import AssetRequest, FetchResult, Limits
from downloader.transfer._space import SpaceGuard
from tests.support.engine import make_engine
from tests.support.space import Measure

KiB, MiB = 1 << 10, 1 << 20


def served(host: RunningHost, path: str, size: int, **faults: object) -> SeededContent:
    content = SeededContent(5, size)
    host.host.add(FileSpec(path, content), Faults(**faults))  # type: ignore[arg-type]
    return content


def work_files(root: Path) -> list[str]:
    folder = root / ".partial" / "transfers"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


async def test_a_held_body_is_on_disk_only_once_it_is_verified(
    file_host: RunningHost, tmp_path: Path
) -> None:
    # the host pauses halfway: the first half is held, nothing of it is in a file yet
    content = served(file_host, "/m.bin", MiB, stall_after_bytes=MiB // 2, stall_seconds=1.0)
    seen: list[list[str]] = []
    one_stream = Limits(segment_min_size=64 * MiB, segments=1)
    async with (
        make_engine(tmp_path, limits=one_stream) as (engine, _),
        anyio.create_task_group() as tg,
    ):
        results: list[FetchResult] = []

        async def fetch() -> None:
            request = AssetRequest("m", url=file_host.url("/m.bin"))
            results.append(await engine.fetch(request, tmp_path / "out"))

        tg.start_soon(fetch)
        log = file_host.host.log
        with anyio.fail_after(20):
            while not (log and log[0].bytes_sent >= MiB // 2):
                await anyio.sleep(0.01)
        for _ in range(10):  # within the host's pause, half the body held
            seen.append(work_files(tmp_path))
            await anyio.sleep(0.03)
        assert not results
        with anyio.fail_after(20):
            while not results:
                await anyio.sleep(0.05)
    assert results[0].sha256 == content.hexdigest()
    assert (tmp_path / "out" / "m.bin").read_bytes() == content.read(0, MiB)
    assert seen == [[]] * 10, "a held body was on disk before its end"
    assert work_files(tmp_path) == []  # no checkpoint was made, nothing is left


async def test_a_held_body_cut_short_continues_from_what_is_held(
    file_host: RunningHost, tmp_path: Path
) -> None:
    content = served(file_host, "/c.bin", 600 * KiB, drop_after_bytes=300 * KiB)
    async with make_engine(tmp_path) as (engine, _):
        request = AssetRequest("c", url=file_host.url("/c.bin"))
        result = await engine.fetch(request, tmp_path / "out")
    assert result.sha256 == content.hexdigest()
    log = file_host.host.log
    assert len(log) == 2
    assert log[1].range is not None
    start = int(log[1].range.removeprefix("bytes=").split("-")[0])
    assert start >= 256 * KiB  # what was held is not fetched again
    assert work_files(tmp_path) == []


async def test_small_files_side_by_side_ask_the_filesystem_for_room_once(
    file_host: RunningHost, tmp_path: Path
) -> None:
    contents = [served(file_host, f"/s{i}.bin", 64 * KiB) for i in range(12)]
    measure = Measure(1 << 40)
    async with make_engine(tmp_path) as (engine, clock), anyio.create_task_group() as tg:
        engine.space = SpaceGuard(engine.partial_root, MiB, clock, measure=measure)
        results: dict[int, FetchResult] = {}

        async def fetch(i: int) -> None:
            request = AssetRequest(f"s{i}", url=file_host.url(f"/s{i}.bin"))
            results[i] = await engine.fetch(request, tmp_path / "out")

        for i in range(len(contents)):
            tg.start_soon(fetch, i)
    assert {i: r.sha256 for i, r in results.items()} == {
        i: c.hexdigest() for i, c in enumerate(contents)
    }
    assert measure.asked == 1  # the engine's clock stood still: one count served them all


async def test_held_bodies_are_let_go_once_on_disk_whatever_the_collector_does(
    file_host: RunningHost, tmp_path: Path
) -> None:
    # the data path's callbacks keep a finished transfer in reference cycles: with the
    # collector held off, bodies that were not let go pile up, one per file fetched
    count = 12
    for i in range(count):
        served(file_host, f"/h{i}.bin", MiB)
    async with make_engine(tmp_path) as (engine, _):
        gc.disable()
        tracemalloc.start()
        try:
            for i in range(count):
                request = AssetRequest(f"h{i}", url=file_host.url(f"/h{i}.bin"))
                await engine.fetch(request, tmp_path / "out")
            left, _ = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
            gc.enable()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(
        f"h{i}.bin" for i in range(count)
    )
    assert left < 4 * MiB, f"{left / MiB:.1f} MiB still held after {count} files of 1 MiB"
