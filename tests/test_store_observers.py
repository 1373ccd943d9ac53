"""The store tells its subscribers of every item record it hands out (and the board is one).

Every test runs against each backend (SQLite and PostgreSQL, see `state_url`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta

import pytest

from downloader.errors import IllegalTransition
from downloader.items import ItemRef
from downloader.runners._board import ProgressBoard
from downloader.runners._board_store import BoardWatch
from downloader.store import ItemRecord, ItemState, StateStore, open_store

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
LEASE = timedelta(seconds=30)
A = ItemRef.parse("scale:job:15096")
B = ItemRef.parse("http:file:bucket.example.org/scene.zip")


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


class Heard:
    """A subscriber that writes down what it is told."""

    def __init__(self) -> None:
        self.told: list[tuple[str, object]] = []

    def seen(self, records: Sequence[ItemRecord], *, claimed: bool) -> None:
        self.told.append(("claimed" if claimed else "seen", [(r.key, r.state) for r in records]))

    def progress(self, key: str, bytes_done: int, bytes_total: int | None) -> None:
        self.told.append(("progress", (key, bytes_done, bytes_total)))

    def active(self, records: Sequence[ItemRecord]) -> None:
        self.told.append(("active", sorted(r.key for r in records)))


@pytest.fixture
async def store(state_url: str) -> AsyncIterator[StateStore]:
    async with open_store(state_url) as opened:
        yield opened


async def test_subscribers_hear_of_every_record_handed_out_after_it_is_stored(
    store: StateStore,
) -> None:
    heard = Heard()
    await store.sync_watchlist([A, B], now=T0)
    store.subscribe(heard)
    [claimed] = await store.claim("me", now=at(1), lease=LEASE, limit=1)
    key = claimed.key
    assert key == B.key  # the older of the two by key: created together
    await store.transition(key, ItemState.DOWNLOADING, now=at(2), owner="me")
    await store.set_progress(key, 10, 40, now=at(3), owner="me")
    await store.schedule(key, at(9), now=at(4), owner="me", counts=False)
    await store.get(A.key)
    assert await store.get("scale:job:none") is None
    await store.list_items()
    await store.sync_watchlist([A], now=at(5))
    await store.list_items(include_inactive=True)
    assert heard.told == [
        ("claimed", [(key, ItemState.WAITING)]),
        ("seen", [(key, ItemState.DOWNLOADING)]),
        ("progress", (key, 10, 40)),
        ("seen", [(key, ItemState.DOWNLOADING)]),
        ("seen", [(A.key, ItemState.WAITING)]),
        ("active", sorted([A.key, B.key])),
        ("seen", [(B.key, ItemState.DOWNLOADING), (A.key, ItemState.WAITING)]),
    ]


async def test_nothing_is_heard_of_a_write_the_store_refused(store: StateStore) -> None:
    heard = Heard()
    await store.sync_watchlist([A], now=T0)
    store.subscribe(heard)
    with pytest.raises(IllegalTransition):
        await store.transition(A.key, ItemState.ARCHIVED, now=at(1))
    assert heard.told == []


async def test_the_board_follows_the_store_it_subscribed_to(store: StateStore) -> None:
    board = ProgressBoard(started=0.0)
    clock = iter(float(n) for n in range(100))
    store.subscribe(BoardWatch(board, lambda: next(clock)))
    await store.sync_watchlist([A, B], now=T0)
    await store.transition(A.key, ItemState.DOWNLOADING, now=at(1))
    claimed = await store.claim("me", now=at(2), lease=LEASE, limit=2)
    assert sorted(r.key for r in claimed) == sorted([A.key, B.key])
    await store.set_progress(A.key, 30, 100, now=at(3), owner="me")
    assert (board.fetched, board.bytes_done(A.key), board.bytes_total(A.key)) == (30, 30, 100)
    await store.list_items()
    assert set(board.items) == {A.key, B.key}
    await store.sync_watchlist([A], now=at(4))  # B leaves the watchlist
    await store.list_items()
    assert set(board.items) == {A.key}
