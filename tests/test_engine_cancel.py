"""A transfer cancelled while it reports progress keeps exactly the bytes it received.

The daemon cancels an item's work on SIGTERM after the grace period, on removal from
the watchlist and on a lost lease, and the progress callback (a store write) is where
a cancellation often lands.  What is on disk and the saved cursors must still agree.
"""

from __future__ import annotations

from pathlib import Path

import aiohttp
import anyio

from downloader.clock import SystemClock
from downloader.emulator._content import SeededContent
from downloader.emulator._files import Faults, FileSpec, RunningHost
from downloader.transfer import AssetRequest, Limits, TransferEngine
from tests.support.engine import make_engine

MiB = 1 << 20
LIMITS = Limits(segment_min_size=MiB, segments=4)


async def test_a_cancel_inside_the_progress_callback_leaves_no_wrong_byte_on_disk(
    file_host: RunningHost, tmp_path: Path
) -> None:
    content = SeededContent(41, 4 * MiB)
    file_host.host.add(FileSpec("/p.bin", content), Faults(rate_bytes_per_s=MiB))
    inside = anyio.Event()

    async def on_progress(done: int) -> None:
        # blocks once: the engine reports again on its way out (time-boxed at 10 s),
        # and blocking there as well would only make the test wait those 10 s
        if done >= MiB // 2 and not inside.is_set():
            inside.set()
            await anyio.sleep_forever()  # cancelled here, mid-stream, mid-report

    request = AssetRequest("p", url=file_host.url("/p.bin"), on_progress=on_progress)
    async with aiohttp.ClientSession(auto_decompress=False) as session:
        # the real clock: a slow stream reaches the file (and reports) every 50 ms
        engine = TransferEngine(
            session, partial_root=tmp_path / ".partial", limits=LIMITS, clock=SystemClock()
        )
        async with anyio.create_task_group() as tg:

            async def cancel_inside_the_report() -> None:
                with anyio.fail_after(20):
                    await inside.wait()
                tg.cancel_scope.cancel()

            tg.start_soon(cancel_inside_the_report)
            await engine.fetch(request, tmp_path / "out")
    file_host.host.faults("/p.bin").rate_bytes_per_s = None
    async with make_engine(tmp_path, limits=LIMITS) as (engine, _):
        result = await engine.fetch(
            AssetRequest("p", url=file_host.url("/p.bin")), tmp_path / "out"
        )
    assert inside.is_set()
    assert result.path.read_bytes() == content.read(0, content.size)
    assert result.sha256 == content.hexdigest()
