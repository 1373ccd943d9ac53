"""A transfer killed mid-way (cancel scope, SIGKILL) resumes every segment from its checkpoint."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import anyio

from downloader.emulator._content import SeededContent
from downloader.emulator._files import Faults, FileSpec, RunningHost
from downloader.transfer import AssetRequest, Limits
from downloader.transfer._checkpoint import Checkpoint, work_files_for
from tests.support.engine import make_engine

MiB = 1 << 20
CHUNK = 1 << 20
LIMITS = Limits(segment_min_size=MiB, segments=4)


def checkpoint(root: Path, key: str) -> Checkpoint | None:
    return work_files_for(root / ".partial", key).load()


def resume_starts(host: RunningHost) -> list[int]:
    starts = []
    for record in host.host.log:
        assert record.range is not None
        starts.append(int(record.range.removeprefix("bytes=").split("-")[0]))
    return sorted(starts)


async def test_cancelled_transfer_resumes_every_segment_from_its_checkpoint(
    file_host: RunningHost, tmp_path: Path
) -> None:
    content = SeededContent(31, 8 * MiB)
    file_host.host.add(FileSpec("/c.bin", content), Faults(rate_bytes_per_s=3 * MiB))
    request = AssetRequest("c", url=file_host.url("/c.bin"))
    engine_cm = make_engine(tmp_path, limits=LIMITS, checkpoint_every=256 * 1024)
    async with engine_cm as (engine, _), anyio.create_task_group() as tg:

        async def cancel_once_every_segment_has_progressed() -> None:
            with anyio.fail_after(20):
                while True:
                    saved = checkpoint(tmp_path, "c")
                    if saved and all(s.pos - s.start >= 256 * 1024 for s in saved.segments):
                        tg.cancel_scope.cancel()
                        return
                    await anyio.sleep(0.02)

        tg.start_soon(cancel_once_every_segment_has_progressed)
        await engine.fetch(request, tmp_path / "out")
    saved = checkpoint(tmp_path, "c")
    assert saved is not None
    assert len(saved.segments) == 4
    assert all(s.start < s.pos < s.end for s in saved.segments if s.end is not None)
    first_run = sum(r.bytes_sent for r in file_host.host.log)
    file_host.host.log.clear()
    file_host.host.faults("/c.bin").rate_bytes_per_s = None
    async with make_engine(tmp_path, limits=LIMITS) as (engine, _):
        result = await engine.fetch(request, tmp_path / "out")
    assert result.sha256 == content.hexdigest()
    assert resume_starts(file_host) == sorted(s.pos for s in saved.segments)
    second_run = sum(r.bytes_sent for r in file_host.host.log)
    assert first_run + second_run <= content.size + 4 * CHUNK


CHILD = """
import sys, anyio, aiohttp
from pathlib import Path
from downloader.clock import SystemClock
from downloader.transfer import AssetRequest, Limits, TransferEngine

async def main() -> None:
    async with aiohttp.ClientSession(auto_decompress=False) as session:
        engine = TransferEngine(session, partial_root=Path(sys.argv[2]) / ".partial",
            limits=Limits(segment_min_size=1 << 20, segments=4), clock=SystemClock(),
            checkpoint_every=256 * 1024)
        await engine.fetch(AssetRequest("k", url=sys.argv[1]), Path(sys.argv[2]) / "out")

anyio.run(main)
"""


async def test_sigkilled_transfer_resumes_every_segment_from_its_checkpoint(
    file_host: RunningHost, tmp_path: Path
) -> None:
    content = SeededContent(32, 8 * MiB)
    file_host.host.add(FileSpec("/k.bin", content), Faults(rate_bytes_per_s=2 * MiB))
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, file_host.url("/k.bin"), str(tmp_path)],
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            saved = checkpoint(tmp_path, "k")
            if saved and all(s.pos - s.start >= 512 * 1024 for s in saved.segments):
                break
            assert time.monotonic() < deadline, "child made no progress"
            await anyio.sleep(0.02)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait()
    assert child.returncode == -signal.SIGKILL
    killed_at = checkpoint(tmp_path, "k")
    assert killed_at is not None
    assert not (tmp_path / "out" / "k.bin").exists()
    first_run = sum(r.bytes_sent for r in file_host.host.log)
    file_host.host.log.clear()
    file_host.host.faults("/k.bin").rate_bytes_per_s = None
    async with make_engine(tmp_path, limits=LIMITS) as (engine, _):
        result = await engine.fetch(
            AssetRequest("k", url=file_host.url("/k.bin")), tmp_path / "out"
        )
    assert result.sha256 == content.hexdigest()
    starts = resume_starts(file_host)
    assert starts == sorted(s.pos for s in killed_at.segments)
    assert all(s.pos > s.start for s in killed_at.segments)
    # what was lost: at most the unflushed tail of each segment plus what sat in socket buffers
    refetched = first_run + sum(r.bytes_sent for r in file_host.host.log) - content.size
    assert refetched <= 4 * (256 * 1024 + 2 * CHUNK)
