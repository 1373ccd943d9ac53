"""What the state store does with items: watchlist sync, claims and leases, transitions, records.

Every test runs against each backend (SQLite and PostgreSQL, see `state_url`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from downloader.errors import IllegalTransition, LeaseLost, StoreError
from downloader.items import ItemRef
from downloader.store import (
    AssetRecord,
    AssetState,
    ItemState,
    PackageRecord,
    StateStore,
    SyncResult,
    open_store,
)
from downloader.store._rows import from_micros, to_micros

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
LEASE = timedelta(seconds=30)
A = ItemRef.parse("pixxel:job:wf-1/job-1")
B = ItemRef.parse("scale:job:15096")
C = ItemRef.parse("http:file:bucket.example.org/scene.zip")


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.fixture
async def store(state_url: str) -> AsyncIterator[StateStore]:
    async with open_store(state_url) as opened:
        yield opened


async def state_of(store: StateStore, key: str) -> ItemState:
    item = await store.get(key)
    assert item is not None
    return item.state


async def walk(store: StateStore, key: str, *states: ItemState) -> None:
    for n, target in enumerate(states):
        await store.transition(key, target, now=at(n))


# -- the watchlist ------------------------------------------------------------------------


async def test_new_watchlist_entries_start_waiting_and_active(store: StateStore) -> None:
    result = await store.sync_watchlist([B, A], now=T0)
    assert result == SyncResult(added=(A.key, B.key))
    items = await store.list_items()
    assert [(i.key, i.provider, i.kind, i.state, i.active) for i in items] == [
        (A.key, "pixxel", "job", ItemState.WAITING, True),
        (B.key, "scale", "job", ItemState.WAITING, True),
    ]
    assert items[0].created_at == items[0].updated_at == items[0].state_since == T0
    assert [e.kind for e in await store.events(A.key)] == ["added"]


SIGNED = "https://bucket.example.org/scene.zip?X-Amz-Signature=one"


async def test_an_entry_listed_with_another_definition_is_worked_again_from_the_start(
    store: StateStore,
) -> None:
    old = ItemRef("http", "file", ("scene",), url=SIGNED)
    kept = ItemRef("http", "file", ("kept",), url=SIGNED)
    busy = ItemRef("http", "file", ("busy",), url=SIGNED)
    await store.sync_watchlist([old, kept, busy], now=T0)
    for ref in (old, kept, busy):
        await store.transition(ref.key, ItemState.DOWNLOADING, now=at(1))
        await store.save_package(PackageRecord(ref.key, "dl-1"), now=at(1))
        await store.save_asset(
            AssetRecord(ref.key, "f1", "scene.zip", size=10, bytes_done=4),
            now=at(1),
        )
        await store.set_progress(ref.key, 4, 10, now=at(1))
    await store.transition(old.key, ItemState.FAILED, now=at(2), error="sha256 mismatch")
    await store.transition(kept.key, ItemState.VERIFYING, now=at(2))
    await store.transition(kept.key, ItemState.ARCHIVED, now=at(3), archive_path="/a/kept")
    # the same three, one with a new URL, one with a digest, one with a fresh signature
    digest = "ab" * 32
    new = [
        ItemRef("http", "file", ("scene",), url=SIGNED.replace("one", "two")),
        ItemRef("http", "file", ("kept",), url=SIGNED, sha256=digest),
        ItemRef("http", "file", ("busy",), url=SIGNED.replace("one", "three")),
    ]
    result = await store.sync_watchlist(new, now=at(5))
    assert result == SyncResult(redefined=tuple(sorted(r.key for r in new)))
    scene, archived, busy_now = [await store.get(r.key) for r in new]
    assert scene is not None
    assert archived is not None
    assert busy_now is not None
    assert (scene.state, scene.error, scene.attempts, scene.bytes_done) == (
        ItemState.WAITING,
        None,
        0,
        0,
    )
    assert await store.assets(old.key) == []
    assert await store.get_package(old.key) is None
    assert (busy_now.state, busy_now.bytes_done, await store.assets(busy.key)) == (
        ItemState.DOWNLOADING,
        0,
        [],
    )
    # archived: its record, package and assets stay as they are
    assert (archived.state, archived.archive_path) == (ItemState.ARCHIVED, "/a/kept")
    assert [a.name for a in await store.assets(kept.key)] == ["scene.zip"]
    assert [e.detail for e in await store.events(kept.key) if e.kind == "redefined"] == [
        "definition changed in the watchlist; the archived bag is kept"
    ]
    # listed again as now: nothing more happens
    assert await store.sync_watchlist(new, now=at(6)) == SyncResult()


async def test_syncing_the_same_watchlist_again_changes_nothing(store: StateStore) -> None:
    await store.sync_watchlist([A, B], now=T0)
    assert await store.sync_watchlist([B, A], now=at(5)) == SyncResult()
    assert len(await store.events(A.key)) == 1


async def test_a_removed_entry_becomes_inactive_and_keeps_its_archived_data(
    store: StateStore,
) -> None:
    await store.sync_watchlist([A, B], now=T0)
    await store.save_package(PackageRecord(A.key, "dl-1"), now=T0)
    await store.save_asset(AssetRecord(A.key, "f1", "scene.tif", size=10), now=T0)
    await walk(
        store,
        A.key,
        ItemState.REQUESTED,
        ItemState.DOWNLOADING,
        ItemState.VERIFYING,
    )
    await store.transition(A.key, ItemState.ARCHIVED, now=at(9), archive_path="/a/pixxel/x")

    assert await store.sync_watchlist([B], now=at(10)) == SyncResult(removed=(A.key,))
    assert [i.key for i in await store.list_items()] == [B.key]
    kept = await store.get(A.key)
    assert kept is not None
    assert (kept.active, kept.state, kept.archive_path) == (
        False,
        ItemState.ARCHIVED,
        "/a/pixxel/x",
    )
    assert [i.key for i in await store.list_items(include_inactive=True)] == [A.key, B.key]
    assert (await store.counts())[ItemState.ARCHIVED] == 0

    assert await store.sync_watchlist([A, B], now=at(20)) == SyncResult(reactivated=(A.key,))
    back = await store.get(A.key)
    assert back is not None
    assert (back.active, back.state, back.archive_path) == (True, ItemState.ARCHIVED, "/a/pixxel/x")
    assert await store.get_package(A.key) == PackageRecord(A.key, "dl-1")
    assert [a.asset_key for a in await store.assets(A.key)] == ["f1"]
    assert [e.kind for e in await store.events(A.key)][-2:] == ["removed", "reactivated"]


async def test_re_adding_a_failed_entry_starts_it_over_as_waiting(store: StateStore) -> None:
    await store.sync_watchlist([A], now=T0)
    await store.transition(A.key, ItemState.FAILED, now=at(1), error="job failed remotely")
    await store.sync_watchlist([], now=at(2))
    assert await state_of(store, A.key) is ItemState.FAILED

    await store.sync_watchlist([A], now=at(3))
    item = await store.get(A.key)
    assert item is not None
    assert (item.state, item.error, item.active, item.state_since) == (
        ItemState.WAITING,
        None,
        True,
        at(3),
    )
    details = [e.detail for e in await store.events(A.key) if e.kind == "transition"]
    assert details == ["waiting -> failed: job failed remotely", "failed -> waiting"]


async def test_a_failed_entry_still_listed_stays_failed(store: StateStore) -> None:
    await store.sync_watchlist([A], now=T0)
    await store.transition(A.key, ItemState.FAILED, now=at(1), error="gone")
    assert await store.sync_watchlist([A], now=at(2)) == SyncResult()
    assert await state_of(store, A.key) is ItemState.FAILED


# -- claims and leases --------------------------------------------------------------------


async def test_claim_hands_out_only_due_unleased_unfinished_active_items(
    store: StateStore,
) -> None:
    later = ItemRef.parse("alteryx:job:66ebd18d")
    done = ItemRef.parse("pixxel:catalog:c-1")
    gone = ItemRef.parse("pixxel:order_item:o-1")
    await store.sync_watchlist([A, B, later, done, gone], now=T0)
    await store.schedule(later.key, at(60), now=T0)
    await store.transition(done.key, ItemState.FAILED, now=T0, error="no such catalog")
    await store.sync_watchlist([A, B, later, done], now=T0)

    claimed = await store.claim("host-1", now=at(1), lease=timedelta(minutes=5), limit=10)
    assert [i.key for i in claimed] == [A.key, B.key]
    assert all(i.lease_owner == "host-1" and i.lease_expires_at == at(301) for i in claimed)
    assert await store.claim("host-2", now=at(2), lease=LEASE, limit=10) == []
    assert [i.key for i in await store.claim("host-2", now=at(60), lease=LEASE, limit=10)] == [
        later.key
    ]


async def test_claim_honours_its_limit_and_gives_the_soonest_due_first(
    store: StateStore,
) -> None:
    await store.sync_watchlist([A, B, C], now=T0)
    await store.schedule(A.key, at(5), now=T0)
    await store.schedule(B.key, at(3), now=T0)
    first = await store.claim("w", now=at(10), lease=LEASE, limit=2)
    assert [i.key for i in first] == [C.key, B.key]
    rest = await store.claim("w", now=at(10), lease=LEASE, limit=2)
    assert [i.key for i in rest] == [A.key]
    assert await store.claim("w", now=at(10), lease=LEASE, limit=0) == []


async def test_a_claim_of_waiting_items_takes_only_those_of_the_kinds_named(
    store: StateStore,
) -> None:
    job2 = ItemRef.parse("pixxel:job:wf-1/job-2")
    task = ItemRef.parse("pixxel:task:wf-1/job-3/t-1")
    old = ItemRef.parse("scale:job:7")
    await store.sync_watchlist([A, B, C, job2, task, old], now=T0)
    await store.transition(job2.key, ItemState.REQUESTED, now=T0)  # no longer waiting
    await store.schedule(old.key, at(100), now=T0)  # not due
    # one leased by another, its lease run out: due all the same
    [theirs] = await store.claim("host-2", now=T0, lease=LEASE, limit=1, waiting={"pixxel:job"})
    assert theirs.key == A.key

    wanted = {"pixxel:job", "scale:job"}
    long = timedelta(minutes=5)
    claimed = await store.claim("host-1", now=at(30), lease=long, limit=10, waiting=wanted)
    assert sorted(i.key for i in claimed) == sorted([A.key, B.key])
    assert all(i.lease_owner == "host-1" for i in claimed)
    assert await store.claim("host-1", now=at(31), lease=LEASE, limit=10, waiting=wanted) == []
    assert await store.claim("host-1", now=at(31), lease=LEASE, limit=10, waiting=set()) == []
    # the rest is there for an ordinary claim, soonest due first
    rest = await store.claim("host-1", now=at(31), lease=long, limit=10)
    assert [i.key for i in rest] == sorted([C.key, job2.key, task.key])
    later = await store.claim("host-1", now=at(100), lease=LEASE, limit=1, waiting=wanted)
    assert [i.key for i in later] == [old.key]


async def test_held_elsewhere_tells_whether_another_owner_leases_unfinished_work(
    store: StateStore,
) -> None:
    await store.sync_watchlist([A, B], now=T0)
    assert not await store.held_elsewhere("host-1")
    await store.claim("host-2", now=T0, lease=LEASE, limit=1)  # A
    assert await store.held_elsewhere("host-1")
    assert not await store.held_elsewhere("host-2")
    await store.transition(A.key, ItemState.FAILED, now=at(1), owner="host-2", error="x")
    assert not await store.held_elsewhere("host-1")  # finished: the lease went with it


async def test_an_expired_lease_passes_to_another_owner_and_fences_the_first(
    store: StateStore,
) -> None:
    await store.sync_watchlist([A], now=T0)
    [mine] = await store.claim("host-1", now=T0, lease=LEASE, limit=1)
    await store.transition(A.key, ItemState.REQUESTED, now=at(1), owner="host-1")
    assert await store.claim("host-2", now=at(29), lease=LEASE, limit=1) == []

    [theirs] = await store.claim("host-2", now=at(30), lease=LEASE, limit=1)
    assert theirs.key == mine.key
    assert theirs.lease_owner == "host-2"
    with pytest.raises(LeaseLost) as caught:
        await store.transition(A.key, ItemState.PREPARING, now=at(31), owner="host-1")
    assert (caught.value.key, caught.value.owner, caught.value.holder) == (
        A.key,
        "host-1",
        "host-2",
    )
    with pytest.raises(LeaseLost):
        await store.set_progress(A.key, 5, 10, now=at(31), owner="host-1")
    with pytest.raises(LeaseLost):
        await store.schedule(A.key, at(40), now=at(31), owner="host-1")
    assert await store.renew("host-1", [A.key], now=at(31), lease=LEASE) == frozenset()
    item = await store.transition(A.key, ItemState.PREPARING, now=at(32), owner="host-2")
    assert item.state is ItemState.PREPARING


async def test_renewing_keeps_a_lease_that_would_otherwise_expire(store: StateStore) -> None:
    await store.sync_watchlist([A, B], now=T0)
    await store.claim("host-1", now=T0, lease=LEASE, limit=1)
    held = await store.renew("host-1", [A.key, B.key], now=at(25), lease=LEASE)
    assert held == frozenset({A.key})
    item = await store.get(A.key)
    assert item is not None
    assert item.lease_expires_at == at(55)
    assert [i.key for i in await store.claim("host-2", now=at(40), lease=LEASE, limit=5)] == [B.key]


async def test_release_frees_an_item_at_once_but_only_for_its_holder(store: StateStore) -> None:
    await store.sync_watchlist([A, B], now=T0)
    await store.claim("host-1", now=T0, lease=LEASE, limit=2)
    await store.release("host-2", A.key)
    assert await store.claim("host-2", now=at(1), lease=LEASE, limit=5) == []
    await store.release("host-1", A.key)
    assert [i.key for i in await store.claim("host-2", now=at(1), lease=LEASE, limit=5)] == [A.key]
    assert await store.release_all("host-1") == 1
    assert [i.key for i in await store.claim("host-3", now=at(2), lease=LEASE, limit=5)] == [B.key]


async def test_next_due_tells_when_another_item_can_be_claimed(store: StateStore) -> None:
    assert await store.next_due("w") is None
    await store.sync_watchlist([A, B, C], now=T0)
    await store.schedule(A.key, at(50), now=T0)
    await store.schedule(B.key, at(20), now=T0)
    await store.claim("other", now=at(0), lease=LEASE, limit=1)  # C, until at(30)
    assert await store.next_due("w") == at(20)
    await store.claim("w", now=at(20), lease=LEASE, limit=1)  # B, held by w itself
    assert await store.next_due("w") == at(30)
    await store.transition(C.key, ItemState.FAILED, now=at(21), owner="other")
    assert await store.next_due("w") == at(50)


# -- transitions --------------------------------------------------------------------------


async def test_an_illegal_transition_is_refused_and_changes_nothing(store: StateStore) -> None:
    await store.sync_watchlist([A], now=T0)
    await store.schedule(A.key, at(10), now=T0, error="job not found yet")
    before = await store.get(A.key)
    history = await store.events(A.key)
    with pytest.raises(IllegalTransition) as caught:
        await store.transition(A.key, ItemState.ARCHIVED, now=at(5), archive_path="/nowhere")
    assert (caught.value.current, caught.value.target) == ("waiting", "archived")
    assert await store.get(A.key) == before
    assert await store.events(A.key) == history


async def test_archived_items_never_move_again(store: StateStore) -> None:
    await store.sync_watchlist([A], now=T0)
    await walk(store, A.key, ItemState.DOWNLOADING, ItemState.VERIFYING, ItemState.ARCHIVED)
    for target in ItemState:
        with pytest.raises(IllegalTransition):
            await store.transition(A.key, target, now=at(10))
    with pytest.raises(StoreError, match="archived"):
        await store.schedule(A.key, at(20), now=at(10))


async def test_a_transition_records_an_event_and_starts_the_new_state_afresh(
    store: StateStore,
) -> None:
    await store.sync_watchlist([A], now=T0)
    await store.claim("w", now=T0, lease=LEASE, limit=1)
    await store.schedule(A.key, at(5), now=at(1), owner="w", error="HTTP 503")
    item = await store.transition(A.key, ItemState.REQUESTED, now=at(6), owner="w")
    # the failed try still counts against the item's [retry] budget
    assert (item.attempts, item.next_attempt_at, item.error, item.state_since) == (
        1,
        None,
        None,
        at(6),
    )
    assert item.lease_owner == "w"
    failed = await store.transition(
        A.key, ItemState.FAILED, now=at(7), owner="w", error="refused for good"
    )
    assert (failed.lease_owner, failed.lease_expires_at) == (None, None)
    assert failed.error == "refused for good"
    assert [(e.kind, e.detail, e.at) for e in await store.events(A.key)] == [
        ("added", "added to the watchlist", T0),
        ("retry", f"attempt 1: HTTP 503; next {at(5).isoformat()}", at(1)),
        ("transition", "waiting -> requested", at(6)),
        ("transition", "requested -> failed: refused for good", at(7)),
    ]


async def test_unknown_items_are_a_store_error(store: StateStore) -> None:
    assert await store.get(A.key) is None
    with pytest.raises(StoreError, match="no item"):
        await store.transition(A.key, ItemState.REQUESTED, now=T0)
    with pytest.raises(StoreError, match="no item"):
        await store.save_package(PackageRecord(A.key, "dl"), now=T0)
    with pytest.raises(StoreError, match="no item"):
        await store.record_event(A.key, "note", "x", now=T0)
    with pytest.raises(StoreError, match="no item"):
        await store.set_progress(A.key, 1, 2, now=T0)
    with pytest.raises(StoreError, match="no item"):
        await store.set_progress(A.key, 1, 2, now=T0, owner="host-1")
    with pytest.raises(StoreError, match="no item"):
        await store.save_asset(AssetRecord(A.key, "f1", "scene.tif", size=10), now=T0)
    with pytest.raises(StoreError, match="no item"):
        await store.schedule(A.key, at(5), now=T0)
    assert await store.assets(A.key) == []


async def test_naive_times_are_refused(store: StateStore) -> None:
    with pytest.raises(ValueError, match="naive datetime"):
        await store.sync_watchlist([A], now=datetime(2026, 1, 1))


# -- progress, schedule, packages, assets, events ---------------------------------------------


async def test_a_failed_item_put_back_starts_its_count_of_tries_afresh(
    store: StateStore,
) -> None:
    await store.sync_watchlist([A], now=T0)
    await store.schedule(A.key, at(5), now=at(1), error="HTTP 503")
    await store.transition(A.key, ItemState.DOWNLOADING, now=at(6))
    await store.schedule(A.key, at(8), now=at(7), error="HTTP 503")
    failed = await store.transition(A.key, ItemState.FAILED, now=at(9), error="HTTP 503")
    assert failed.attempts == 2
    again = await store.transition(A.key, ItemState.WAITING, now=at(10))
    assert (again.attempts, again.error, again.next_attempt_at) == (0, None, None)


async def test_a_wait_that_is_no_failure_is_not_counted(store: StateStore) -> None:
    await store.sync_watchlist([A], now=T0)
    parked = await store.schedule(A.key, at(5), now=at(1), counts=False)
    full = await store.schedule(A.key, at(2), now=at(2), error="disk full", counts=False)
    assert (parked.attempts, full.attempts, full.error) == (0, 0, "disk full")
    assert [e.kind for e in await store.events(A.key)] == ["added"]


async def test_schedule_counts_attempts_and_delays_the_next_claim(store: StateStore) -> None:
    await store.sync_watchlist([A], now=T0)
    await store.schedule(A.key, at(5), now=at(1))
    item = await store.schedule(A.key, at(15), now=at(6), error="HTTP 429")
    assert (item.attempts, item.next_attempt_at, item.error) == (2, at(15), "HTTP 429")
    assert [e.kind for e in await store.events(A.key)] == ["added", "retry"]
    assert await store.claim("w", now=at(14), lease=LEASE, limit=1) == []
    assert len(await store.claim("w", now=at(15), lease=LEASE, limit=1)) == 1


async def test_progress_and_counts_are_what_status_shows(store: StateStore) -> None:
    await store.sync_watchlist([A, B, C], now=T0)
    await store.transition(A.key, ItemState.DOWNLOADING, now=at(1))
    await store.set_progress(A.key, 1_048_576, 4_194_304, now=at(2))
    item = await store.get(A.key)
    assert item is not None
    assert (item.bytes_done, item.bytes_total, item.updated_at) == (1_048_576, 4_194_304, at(2))
    counts = await store.counts()
    assert counts == {s: 0 for s in ItemState} | {
        ItemState.WAITING: 2,
        ItemState.DOWNLOADING: 1,
    }


async def test_a_package_round_trips_and_is_replaced_when_saved_again(
    store: StateStore,
) -> None:
    await store.sync_watchlist([A], now=T0)
    assert await store.get_package(A.key) is None
    first = PackageRecord(A.key, "dl-1", "queued", data='{"poll": 1}')
    await store.save_package(first, now=T0)
    assert await store.get_package(A.key) == first
    second = PackageRecord(A.key, "dl-2", "ready", url_expires_at=at(3600), data='{"poll": 7}')
    await store.save_package(second, now=at(9))
    assert await store.get_package(A.key) == second


async def test_assets_round_trip_and_a_save_replaces_one(
    store: StateStore,
) -> None:
    await store.sync_watchlist([A], now=T0)
    big = AssetRecord(
        A.key,
        "b/big.tif",
        "big.tif",
        url_hint="https://files.example.org/big.tif",
        size=300,
        sha256="ab" * 32,
        state=AssetState.DOWNLOADING,
        bytes_done=150,
    )
    small = AssetRecord(A.key, "a/meta.json", "meta.json")
    await store.save_asset(big, now=T0)
    await store.save_asset(small, now=T0)
    assert await store.assets(A.key) == [small, big]

    finished = AssetRecord(
        A.key,
        "b/big.tif",
        "big.tif",
        size=300,
        sha256="ab" * 32,
        state=AssetState.DONE,
        bytes_done=300,
    )
    await store.save_asset(finished, now=at(5))
    assert await store.assets(A.key) == [small, finished]
    assert await store.assets(B.key) == []


def test_an_asset_refuses_a_url_hint_that_still_holds_its_signature() -> None:
    for url in (
        "https://bucket.example.org/x.zip?X-Amz-Signature=abc",
        "https://user:secret@bucket.example.org/x.zip",
        "https://bucket.example.org/x.zip#frag",
    ):
        with pytest.raises(ValueError, match="redacted"):
            AssetRecord(A.key, "x", "x.zip", url_hint=url)


async def test_recorded_events_come_back_in_order(store: StateStore) -> None:
    await store.sync_watchlist([A, B], now=T0)
    await store.record_event(A.key, "package", "requested download dl-1", now=at(1))
    await store.record_event(B.key, "note", "other item", now=at(1))
    await store.record_event(A.key, "package", "download dl-1 ready", now=at(2))
    assert [(e.item_key, e.kind, e.detail) for e in await store.events(A.key)] == [
        (A.key, "added", "added to the watchlist"),
        (A.key, "package", "requested download dl-1"),
        (A.key, "package", "download dl-1 ready"),
    ]


def test_a_time_past_the_calendars_end_reads_as_its_last_moment() -> None:
    # a lease set by hand to run out "never" (2**62 us): next_due was an OverflowError
    # that ended the claim loop
    assert from_micros(2**62) == datetime.max.replace(tzinfo=UTC)
    assert from_micros(-(2**62)) == datetime.min.replace(tzinfo=UTC)
    assert from_micros(to_micros(T0)) == T0
