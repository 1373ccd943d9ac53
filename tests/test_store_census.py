"""The store's census of active items (the metrics' item gauges), on each backend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from downloader.items import ItemRef
from downloader.store import ItemState, open_store
from downloader.store._models import CensusRow

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


async def test_census_counts_active_items_by_state_and_provider_with_the_oldest_entry(
    state_url: str,
) -> None:
    refs = [
        ItemRef.parse("pixxel:job:wf/j1"),
        ItemRef.parse("pixxel:job:wf/j2"),
        ItemRef.parse("scale:job:1"),
        ItemRef.parse("scale:job:2"),
    ]
    async with open_store(state_url) as store:
        await store.sync_watchlist(refs, now=T0)
        await store.transition("pixxel:job:wf/j2", ItemState.REQUESTED, now=T0 + timedelta(1))
        await store.sync_watchlist(refs[:3], now=T0 + timedelta(2))  # scale:job:2 removed
        rows = sorted(await store.census())
    assert rows == [
        CensusRow(ItemState.REQUESTED, "pixxel", 1, T0 + timedelta(1)),
        CensusRow(ItemState.WAITING, "pixxel", 1, T0),
        CensusRow(ItemState.WAITING, "scale", 1, T0),
    ]
