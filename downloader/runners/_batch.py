"""Batch mode: work every watchlist item until each one is archived or failed.

Several batch runs (on several hosts, with distinct owners) may share one
store: each claims what is due, keeps the leases of what it works (see
`LeaseKeeper`), and waits while the others finish theirs; an item whose owner
died is claimed again once its lease has run out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

import anyio

from downloader.clock import Clock
from downloader.items import ItemRef
from downloader.runners._leases import LeaseKeeper
from downloader.runners._pipeline import ItemWorker
from downloader.store import ItemState, StateStore, is_terminal


@dataclass(frozen=True)
class BatchResult:
    archived: int
    failed: int

    @property
    def ok(self) -> bool:
        return self.failed == 0


async def run_batch(
    items: Sequence[ItemRef],
    *,
    store: StateStore,
    worker: ItemWorker,
    clock: Clock,
    owner: str,
    concurrency: int,
    lease: timedelta = timedelta(minutes=10),
) -> BatchResult:
    """Claim and work items until every active item is terminal."""
    refs = {ref.key: ref for ref in items}
    now = clock.utcnow()
    await store.release_all(owner)
    await store.sync_watchlist(items, now=now)
    keeper = LeaseKeeper(store, owner, clock, lease)
    async with anyio.create_task_group() as outer:
        outer.start_soon(keeper.run)
        result = await _work_all(refs, store, worker, clock, owner, concurrency, lease, keeper)
        outer.cancel_scope.cancel()
    return result


async def _work_all(
    refs: dict[str, ItemRef],
    store: StateStore,
    worker: ItemWorker,
    clock: Clock,
    owner: str,
    concurrency: int,
    lease: timedelta,
    keeper: LeaseKeeper,
) -> BatchResult:
    async def work(ref: ItemRef) -> None:
        with keeper.holding(ref.key):
            await worker.work(ref)

    while True:
        claimed = await store.claim(owner, now=clock.utcnow(), lease=lease, limit=concurrency)
        claimed = [record for record in claimed if record.key in refs]
        if claimed:
            async with anyio.create_task_group() as tg:
                for record in claimed:
                    tg.start_soon(work, refs[record.key])
            continue
        active = [r for r in await store.list_items() if r.key in refs]
        if all(is_terminal(r.state) for r in active):
            return BatchResult(
                archived=sum(r.state is ItemState.ARCHIVED for r in active),
                failed=sum(r.state is ItemState.FAILED for r in active),
            )
        # other owners are at work: look again when the soonest item is due, or
        # their lease could run out, and at least every few seconds
        due = await store.next_due(owner)
        wait = 1.0 if due is None else (due - clock.utcnow()).total_seconds()
        await clock.sleep(min(max(0.05, wait), 5.0))
