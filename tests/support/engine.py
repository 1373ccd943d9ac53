"""Factories for engine tests: a real aiohttp session and a fake clock, and a file host
whose signed URLs run out while a file is fetched."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp

from downloader.clock import FakeClock
from downloader.emulator._content import SeededContent
from downloader.emulator._files import Faults, FileHost, FileSpec
from downloader.transfer import (
    AssetRequest,
    FetchResult,
    Limits,
    RetryPolicy,
    Timeouts,
    TransferEngine,
)


@contextlib.asynccontextmanager
async def make_engine(
    root: Path,
    *,
    limits: Limits | None = None,
    timeouts: Timeouts | None = None,
    retry: RetryPolicy | None = None,
    clock: FakeClock | None = None,
    checkpoint_every: int = 16 << 20,
) -> AsyncIterator[tuple[TransferEngine, FakeClock]]:
    clock = clock or FakeClock()
    async with aiohttp.ClientSession(auto_decompress=False) as session:
        yield (
            TransferEngine(
                session,
                partial_root=root / ".partial",
                limits=limits or Limits(segment_min_size=1 << 20, segments=4),
                timeouts=timeouts or Timeouts(connect=5, stall=2),
                retry=retry or RetryPolicy(),
                clock=clock,
                rand=lambda: 0.5,
                checkpoint_every=checkpoint_every,
            ),
            clock,
        )


async def fetch_one(url: str, tmp: Path, *, stall: float, attempts: int = 5) -> FetchResult:
    """`url` fetched into `tmp/out` by an engine of one stream per file, a 0.5 s connect
    timeout, the stall timeout `stall` and `attempts` tries."""
    async with make_engine(
        tmp,
        limits=Limits(segments=1),
        timeouts=Timeouts(connect=0.5, stall=stall),
        retry=RetryPolicy(attempts=attempts),
    ) as (engine, _clock):
        return await engine.fetch(AssetRequest("f", url=url), tmp / "out")


def expiring_after_four_requests(content: SeededContent) -> FileHost:
    """A file host serving `content` at /sig.bin under URLs signed for 60 s, whose clock
    moves an hour on at its fifth request: each of the first four responses breaks off,
    and by then the URL has expired."""
    base = time.time()
    host = FileHost(clock=lambda: base + (3600 if len(host.log) >= 4 else 0))
    host.add(
        FileSpec("/sig.bin", content),
        Faults(url_lifetime=60, drop_after_bytes=500_000, drop_times=4, rate_bytes_per_s=2 << 20),
    )
    return host


def nothing_final_except(dest: Path, *names: str) -> bool:
    """True when the destination holds exactly `names` (nothing half-written)."""
    present = sorted(p.name for p in dest.iterdir()) if dest.exists() else []
    return present == sorted(names)
