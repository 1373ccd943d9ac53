"""Batch mode: work every watchlist item until each one is archived or failed.

The same scheduler loop as the daemon, told to end when every item is terminal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from downloader.clock import Clock
from downloader.items import ItemRef
from downloader.runners._pipeline import ItemWorker
from downloader.runners._scheduler import ONCE, Scheduler
from downloader.sources import SourceRef
from downloader.store import ItemState, StateStore


@dataclass(frozen=True)
class BatchResult:
    archived: int
    failed: int
    hooks_left: int = 0
    """Hook events not yet delivered when the run ended (the next run delivers them)."""

    @property
    def ok(self) -> bool:
        return self.failed == 0


async def run_batch(
    items: Sequence[ItemRef],
    *,
    sources: Sequence[SourceRef] = (),
    store: StateStore,
    worker: ItemWorker,
    clock: Clock,
    owner: str,
    concurrency: int,
    lease: timedelta = timedelta(minutes=2),
) -> BatchResult:
    """List every source once, then claim and work items until every active item
    (those the sources listed included) is terminal."""
    scheduler = Scheduler(
        store=store,
        worker=worker,
        clock=clock,
        owner=owner,
        concurrency=concurrency,
        policy=ONCE,
        lease=lease.total_seconds(),
    )
    await store.release_all(owner)
    synced = await scheduler.set_watchlist(items, sources)
    await scheduler.run()
    active = await scheduler.active_records()
    return BatchResult(
        archived=sum(r.state is ItemState.ARCHIVED for r in active),
        # an entry refused by the sync (its bag would nest with another's) is not done
        failed=sum(r.state is ItemState.FAILED for r in active) + len(synced.refused),
    )
