"""Factories for engine tests: a real aiohttp session and a fake clock."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp

from downloader.clock import FakeClock
from downloader.transfer import Limits, RetryPolicy, Timeouts, TransferEngine


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


def nothing_final_except(dest: Path, *names: str) -> bool:
    """True when the destination holds exactly `names` (nothing half-written)."""
    present = sorted(p.name for p in dest.iterdir()) if dest.exists() else []
    return present == sorted(names)
