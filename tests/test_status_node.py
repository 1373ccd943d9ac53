"""`status` names the node working an item: its lease owner while the lease runs."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from downloader.runners._status import item_json, lease_holder, render_text
from downloader.store import ItemRecord, ItemState

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)

RECORD = ItemRecord(
    key="scale:job:15096",
    provider="scale",
    kind="job",
    state=ItemState.DOWNLOADING,
    active=True,
    error=None,
    archive_path=None,
    bytes_done=10,
    bytes_total=100,
    attempts=0,
    next_attempt_at=None,
    lease_owner="node-b",
    lease_expires_at=T0 + timedelta(seconds=30),
    created_at=T0,
    updated_at=T0,
    state_since=T0,
)


def test_a_running_lease_names_its_owner_in_json_and_text() -> None:
    row = item_json(RECORD, T0 + timedelta(seconds=5))
    assert row["node"] == "node-b"
    assert row["state"] == "downloading"  # the contract's fields are unchanged
    assert "[node-b]" in render_text([row])


def test_an_expired_or_absent_lease_names_nobody() -> None:
    assert lease_holder(RECORD, T0 + timedelta(seconds=30)) is None
    free = replace(RECORD, lease_owner=None, lease_expires_at=None)
    row = item_json(free, T0)
    assert row["node"] is None
    assert "[" not in render_text([row])
