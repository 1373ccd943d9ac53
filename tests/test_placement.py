"""Where the process's threads run: together on one CPU, or spread while a file is large.

The masks are read back from the kernel (`sched_getaffinity` of every thread id), so
what is checked is where the threads may really run.  A machine that lets this
process use one CPU only has nothing to choose: there the same calls must change
nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from aiohttp import web

from downloader.emulator._content import SeededContent
from downloader.emulator._files import FileSpec, RunningHost
from downloader.transfer import AssetRequest, Limits
from downloader.transfer._placement import CpuPlacement, thread_masks
from tests.support.engine import make_engine
from tests.support.web import serve

MiB = 1 << 20
ALLOWED = frozenset(os.sched_getaffinity(0))


@pytest.fixture
def restore_masks() -> Iterator[None]:
    """Whatever a test does to this process's threads is undone after it."""
    yield
    for tid in thread_masks():
        try:
            os.sched_setaffinity(tid, ALLOWED)
        except OSError:
            continue


def _all_masks() -> set[frozenset[int]]:
    return set(thread_masks().values())


def test_threads_are_gathered_on_one_cpu_and_spread_while_a_large_transfer_runs(
    restore_masks: None,
) -> None:
    placement = CpuPlacement()
    assert placement.allowed == ALLOWED
    assert placement.home in ALLOWED
    before = threading.Thread(target=threading.Event().wait, args=(5,), daemon=True)
    before.start()
    placement.start()
    if not placement.effective:  # one CPU: nothing to gather, nothing changed
        assert _all_masks() == {ALLOWED}
        return
    home = frozenset({placement.home})
    assert _all_masks() == {home}  # the thread started earlier too
    seen: list[frozenset[int]] = []
    later = threading.Thread(target=lambda: seen.append(frozenset(os.sched_getaffinity(0))))
    later.start()
    later.join()
    assert seen == [home]  # a new thread inherits the mask
    placement.large_started()
    placement.large_started()
    assert _all_masks() == {ALLOWED}
    placement.large_ended()
    assert _all_masks() == {ALLOWED}, "one large transfer is still in flight"
    placement.large_ended()
    assert _all_masks() == {home}
    placement.stop()
    assert _all_masks() == {ALLOWED}
    with pytest.raises(RuntimeError):
        placement.large_ended()


def test_one_allowed_cpu_leaves_every_mask_as_it_is(restore_masks: None) -> None:
    only = min(ALLOWED)
    placement = CpuPlacement(allowed={only})
    assert not placement.effective
    placement.start()
    placement.large_started()
    placement.large_ended()
    assert _all_masks() == {ALLOWED}


def test_a_process_started_on_a_cpu_subset_is_never_given_more() -> None:
    """`taskset` or systemd's CPUAffinity= may have narrowed the process: spreading
    goes back to that set, not to every CPU of the machine."""
    # with fewer than 3 CPUs no strict subset leaves a choice: the whole set is used
    subset = ALLOWED if len(ALLOWED) < 3 else frozenset(sorted(ALLOWED)[:2])
    script = textwrap.dedent(
        f"""
        import os
        os.sched_setaffinity(0, {set(subset)!r})
        from downloader.transfer._placement import CpuPlacement, thread_masks
        p = CpuPlacement()
        p.start(); p.large_started()
        spread = set(thread_masks().values())
        p.large_ended()
        gathered = set(thread_masks().values())
        p.stop()
        import json
        print(json.dumps([sorted(map(sorted, spread)), sorted(map(sorted, gathered)), p.home]))
        """
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    spread, gathered, home = json.loads(run.stdout)
    assert spread == [sorted(subset)]
    assert home in subset
    assert gathered == ([[home]] if len(subset) > 1 else [sorted(subset)])


async def test_engine_spreads_the_threads_only_while_a_large_file_is_in_flight(
    file_host: RunningHost, tmp_path: Path, restore_masks: None
) -> None:
    big = SeededContent(31, 3 * MiB)
    small = SeededContent(32, 200_000)
    file_host.host.add(FileSpec("/f/big.bin", big))
    file_host.host.add(FileSpec("/f/small.bin", small))
    placement = CpuPlacement()
    placement.start()
    during: dict[str, set[frozenset[int]]] = {"big": set(), "small": set()}

    def watch(name: str) -> Callable[[int], Awaitable[None]]:
        async def on_progress(done: int) -> None:
            during[name] |= _all_masks()

        return on_progress

    limits = Limits(segment_min_size=MiB, segments=2)
    async with make_engine(tmp_path, limits=limits, placement=placement) as (engine, _):
        result = await engine.fetch(
            AssetRequest("small", url=file_host.url("/f/small.bin"), on_progress=watch("small")),
            tmp_path / "out",
        )
        assert result.sha256 == small.hexdigest()
        result = await engine.fetch(
            AssetRequest("big", url=file_host.url("/f/big.bin"), on_progress=watch("big")),
            tmp_path / "out",
        )
        assert result.sha256 == big.hexdigest()
    assert placement.large_in_flight == 0
    home = frozenset({placement.home}) if placement.effective else ALLOWED
    assert during["small"] == {home}
    assert during["big"] == {ALLOWED}
    assert _all_masks() == {home}  # gathered again after the large file
    placement.stop()


async def test_a_file_of_no_told_size_spreads_the_threads_once_its_bytes_reach_the_limit(
    tmp_path: Path, restore_masks: None
) -> None:
    body = SeededContent(33, 3 * MiB).read(0, 3 * MiB)
    LIMIT = 5 * MiB // 2

    async def chunked(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()  # no Content-Length: sent chunked
        await response.prepare(request)
        for start in range(0, len(body), 256 * 1024):
            await response.write(body[start : start + 256 * 1024])
            await asyncio.sleep(0.01)
        await response.write_eof()
        return response

    placement = CpuPlacement()
    placement.start()
    seen: list[tuple[int, set[frozenset[int]]]] = []

    async def on_progress(done: int) -> None:
        seen.append((done, _all_masks()))

    async with (
        serve({"/stream.bin": chunked}) as base,
        make_engine(tmp_path, limits=Limits(segment_min_size=LIMIT), placement=placement) as (
            engine,
            _,
        ),
    ):
        result = await engine.fetch(
            AssetRequest("s", url=f"{base}/stream.bin", on_progress=on_progress),
            tmp_path / "out",
        )
    assert result.sha256 == hashlib.sha256(body).hexdigest()
    home = frozenset({placement.home}) if placement.effective else ALLOWED
    # reported every 2 MiB and at the end: once below the limit, once above it
    assert {done < LIMIT for done, _ in seen} == {True, False}
    assert all(masks == {home} for done, masks in seen if done < LIMIT)
    assert all(masks == {ALLOWED} for done, masks in seen if done >= LIMIT)
    assert _all_masks() == {home}
    placement.stop()
