"""LeaseKeeper: held leases are renewed, work on a lost lease is stopped (both backends)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import anyio
import pytest

from downloader.clock import FakeClock
from downloader.items import ItemRef
from downloader.runners._leases import LeaseKeeper
from downloader.store import StateStore, open_store

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
LEASE = timedelta(seconds=30)
JOB = ItemRef.parse("scale:job:15096")
OTHER = ItemRef.parse("scale:job:15097")


@pytest.fixture
async def store(state_url: str) -> AsyncIterator[StateStore]:
    async with open_store(state_url) as opened:
        await opened.sync_watchlist([JOB, OTHER], now=T0)
        yield opened


async def test_held_leases_are_renewed_and_others_cannot_take_them(store: StateStore) -> None:
    clock = FakeClock(T0)
    keeper = LeaseKeeper(store, "a", clock, LEASE)
    assert len(await store.claim("a", now=T0, lease=LEASE, limit=2)) == 2
    with keeper.holding(JOB.key):
        assert keeper.held == {JOB.key}
        clock.advance(20)
        assert await keeper.renew_now() == frozenset()
        # JOB was renewed to t=50; OTHER (not held) was not and is free at t=30
        taken = await store.claim("b", now=T0 + timedelta(seconds=40), lease=LEASE, limit=2)
        assert [r.key for r in taken] == [OTHER.key]
    assert keeper.held == frozenset()
    assert await keeper.renew_now() == frozenset()  # nothing held: nothing asked


async def test_work_whose_lease_was_taken_over_is_cancelled(store: StateStore) -> None:
    clock = FakeClock(T0)
    keeper = LeaseKeeper(store, "a", clock, LEASE)
    await store.claim("a", now=T0, lease=LEASE, limit=1)
    stopped: list[str] = []

    async def work() -> None:
        with keeper.holding(JOB.key):
            await anyio.sleep_forever()
        stopped.append(JOB.key)

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(work)
            await anyio.wait_all_tasks_blocked()
            # "a" missed its renewals; "b" takes the item once the lease ran out
            clock.advance(31)
            assert [r.key for r in await store.claim("b", now=clock.utcnow(), lease=LEASE, limit=1)]
            assert await keeper.renew_now() == {JOB.key}
    assert stopped == [JOB.key]
    item = await store.get(JOB.key)
    assert item is not None
    assert item.lease_owner == "b"


async def test_the_keeper_renews_by_itself_every_third_of_the_lease(store: StateStore) -> None:
    clock = FakeClock(T0)
    keeper = LeaseKeeper(store, "a", clock, LEASE)
    await store.claim("a", now=T0, lease=LEASE, limit=1)
    with keeper.holding(JOB.key), anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(keeper.run)
            while clock.monotonic() < 100:  # FakeClock sleeps advance virtual time
                await anyio.sleep(0.01)
            tg.cancel_scope.cancel()
    assert clock.sleeps[:3] == [10.0, 10.0, 10.0]
    item = await store.get(JOB.key)
    assert item is not None
    assert item.lease_owner == "a"
    assert item.lease_expires_at is not None
    assert item.lease_expires_at >= T0 + timedelta(seconds=100)
