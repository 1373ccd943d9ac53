"""The outbox of hook events in the state store, against each backend (`state_url`):
rows written with the transition that causes them or not at all, claimed under a
lease, delivered, or tried again later."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import anyio
import pytest

from downloader.errors import IllegalTransition, LeaseLost
from downloader.items import ItemRef
from downloader.store import ItemState, StateStore, open_store
from downloader.store._outbox_models import OutboxRow

T0 = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
LEASE = timedelta(seconds=30)
A = ItemRef.parse("scale:job:501")
B = ItemRef.parse("scale:job:502")


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def row(ref: ItemRef, hook: str = "ingest", kind: str = "archived") -> OutboxRow:
    document = json.dumps({"item": ref.key})
    return OutboxRow(f"{ref.key}-{hook}-{kind}", ref.key, hook, kind, document)


@pytest.fixture
async def store(state_url: str) -> AsyncIterator[StateStore]:
    async with open_store(state_url) as opened:
        await opened.sync_watchlist([A, B], now=T0)
        yield opened


async def archive(store: StateStore, ref: ItemRef, *rows: OutboxRow) -> None:
    for state in (ItemState.REQUESTED, ItemState.PREPARING, ItemState.DOWNLOADING):
        await store.transition(ref.key, state, now=T0)
    await store.transition(ref.key, ItemState.VERIFYING, now=T0)
    await store.transition(ref.key, ItemState.ARCHIVED, now=at(1), outbox=rows)


async def test_rows_are_written_with_the_transition_and_read_back_due_at_once(
    store: StateStore,
) -> None:
    await archive(store, A, row(A), row(A, "alarm"))
    pending = await store.outbox.pending()
    assert sorted((r.item_key, r.hook, r.kind) for r in pending) == [
        (A.key, "alarm", "archived"),
        (A.key, "ingest", "archived"),
    ]
    assert all(r.attempts == 0 and r.delivered_at is None for r in pending)
    assert {r.next_attempt_at for r in pending} == {at(1)}
    assert await store.outbox.next_due() == at(1)
    assert await store.outbox.pending([B.key]) == []


async def test_a_refused_transition_writes_no_row(store: StateStore) -> None:
    with pytest.raises(IllegalTransition):
        await store.transition(A.key, ItemState.ARCHIVED, now=T0, outbox=[row(A)])
    [claimed] = await store.claim("host-a", now=T0, lease=LEASE, limit=1)
    with pytest.raises(LeaseLost):
        await store.transition(
            claimed.key, ItemState.FAILED, now=T0, owner="host-b", outbox=[row(A, kind="failed")]
        )
    assert await store.outbox.pending() == []
    assert await store.outbox.next_due() is None


async def test_a_claimed_row_is_no_one_elses_until_its_lease_runs_out(store: StateStore) -> None:
    await archive(store, A, row(A))
    [mine] = await store.outbox.claim("host-a", now=at(2), lease=LEASE, limit=5)
    assert mine.lease_owner == "host-a"
    assert await store.outbox.claim("host-b", now=at(3), lease=LEASE, limit=5) == []
    # a leased row is due again when its lease runs out
    assert await store.outbox.next_due() == at(32)
    [again] = await store.outbox.claim("host-b", now=at(32), lease=LEASE, limit=5)
    assert again.event_id == mine.event_id
    assert again.lease_owner == "host-b"


async def test_a_failed_delivery_waits_its_turn_and_counts(store: StateStore) -> None:
    await archive(store, A, row(A))
    [mine] = await store.outbox.claim("host-a", now=at(2), lease=LEASE, limit=5)
    await store.outbox.retry_later(mine.event_id, "host-a", now=at(3), at=at(13), error="HTTP 503")
    [waiting] = await store.outbox.pending()
    assert (waiting.attempts, waiting.last_error, waiting.lease_owner) == (1, "HTTP 503", None)
    assert waiting.next_attempt_at == at(13)
    assert await store.outbox.claim("host-a", now=at(12), lease=LEASE, limit=5) == []
    [due] = await store.outbox.claim("host-a", now=at(13), lease=LEASE, limit=5)
    # one that lost its row to another host records nothing
    await store.outbox.retry_later(due.event_id, "host-b", now=at(14), at=at(99), error="late")
    [still] = await store.outbox.pending()
    assert (still.attempts, still.last_error) == (1, "HTTP 503")


async def test_a_delivered_row_leaves_the_pending_ones(store: StateStore) -> None:
    await archive(store, A, row(A))
    await archive(store, B, row(B))
    claimed = await store.outbox.claim("host-a", now=at(2), lease=LEASE, limit=1)
    assert len(claimed) == 1
    await store.outbox.delivered(claimed[0].event_id, now=at(3))
    [left] = await store.outbox.pending()
    assert left.event_id != claimed[0].event_id
    await store.outbox.delivered(left.event_id, now=at(4))
    assert await store.outbox.pending() == []
    assert await store.outbox.next_due() is None
    # a late failure report of a delivered row changes nothing
    await store.outbox.retry_later(left.event_id, "host-a", now=at(5), at=at(9), error="x")
    assert await store.outbox.pending() == []


async def test_a_restarted_deliverer_takes_back_its_own_rows_at_once(store: StateStore) -> None:
    await archive(store, A, row(A))
    await store.outbox.claim("host-a", now=at(2), lease=LEASE, limit=5)
    assert await store.outbox.release_all("host-a") == 1
    [again] = await store.outbox.claim("host-a", now=at(3), lease=LEASE, limit=5)
    assert again.item_key == A.key


async def test_concurrent_claimers_never_get_the_same_row(state_url: str) -> None:
    async with open_store(state_url) as one, open_store(state_url) as two:
        refs = [ItemRef.parse(f"scale:job:{n}") for n in range(600, 630)]
        await one.sync_watchlist(refs, now=T0)
        for ref in refs:
            await archive(one, ref, row(ref))
        got: dict[str, list[str]] = {"one": [], "two": []}

        async def claimer(store: StateStore, name: str) -> None:
            while batch := await store.outbox.claim(name, now=at(5), lease=LEASE, limit=3):
                got[name] += [r.event_id for r in batch]

        async with anyio.create_task_group() as tg:
            tg.start_soon(claimer, one, "one")
            tg.start_soon(claimer, two, "two")
        assert not set(got["one"]) & set(got["two"])
        assert len(got["one"]) + len(got["two"]) == len(refs)


async def test_secrets_in_an_events_error_and_a_deliverys_error_are_scrubbed_when_stored(
    store: StateStore,
) -> None:
    # the store's last guard, as for an item's own error: whatever a caller hands it
    signed = "https://files.example/a.tif?X-Amz-Signature=abc123secret"
    failed = json.dumps({"item": A.key, "error": f"HTTP 403 from {signed}", "files": []})
    plain = json.dumps({"item": A.key, "error": None, "archive_path": "/a/b"})
    for state in (ItemState.REQUESTED, ItemState.PREPARING):
        await store.transition(A.key, state, now=T0)
    await store.transition(
        A.key,
        ItemState.FAILED,
        now=at(1),
        outbox=[
            OutboxRow("e1", A.key, "ingest", "failed", failed),
            OutboxRow("e2", A.key, "alarm", "failed", plain),
        ],
    )
    by_id = {r.event_id: r for r in await store.outbox.pending()}
    assert "abc123secret" not in by_id["e1"].document
    assert json.loads(by_id["e1"].document)["error"].startswith("HTTP 403 from https://files")
    assert by_id["e2"].document == plain  # nothing to scrub: kept byte for byte
    [claimed, _] = await store.outbox.claim("host-a", now=at(2), lease=LEASE, limit=5)
    await store.outbox.retry_later(
        claimed.event_id,
        "host-a",
        now=at(3),
        at=at(13),
        error="POST http://u:pw123456@hooks.example/in?token=tok999 failed",
    )
    [kept] = [r for r in await store.outbox.pending() if r.event_id == claimed.event_id]
    assert kept.last_error is not None
    assert "pw123456" not in kept.last_error
    assert "tok999" not in kept.last_error
