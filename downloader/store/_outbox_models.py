"""What the state store keeps of hook events: rows of the outbox.

An `OutboxRow` is written in the same transaction as the item's transition that
caused it (archived or failed), one per hook that wants the event; an
`OutboxRecord` is such a row as read back, with where its delivery stands.
Plain frozen values, the same for every backend; nothing here does I/O.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from downloader.redact import scrub
from downloader.store._rows import columns, reader

__all__ = ["OUTBOX_COLUMNS", "OutboxRecord", "OutboxRow", "outbox_from_row", "scrub_rows"]


@dataclass(frozen=True)
class OutboxRow:
    """One event for one hook, to be inserted with its item's transition."""

    event_id: str
    """Unique; the receiver's idempotency key, the same on every retry."""
    item_key: str
    hook: str
    """The name of the `[[hooks]]` entry that delivers it."""
    kind: str
    """`archived` or `failed`."""
    document: str
    """The JSON document the hook receives."""


@dataclass(frozen=True)
class OutboxRecord:
    """An outbox row as stored, with its delivery so far."""

    event_id: str
    item_key: str
    hook: str
    kind: str
    document: str
    created_at: datetime
    attempts: int
    """Deliveries tried and failed."""
    next_attempt_at: datetime
    delivered_at: datetime | None
    last_error: str | None
    lease_owner: str | None
    lease_expires_at: datetime | None


OUTBOX_COLUMNS = columns(OutboxRecord)
outbox_from_row = reader(OutboxRecord)


def scrub_rows(rows: Iterable[OutboxRow]) -> tuple[OutboxRow, ...]:
    """`rows` with the item's error in each document scrubbed of secrets: the store's
    last guard, as for the item's own error.  A document without an error is kept
    byte for byte."""
    return tuple(_scrub_row(row) for row in rows)


def _scrub_row(row: OutboxRow) -> OutboxRow:
    try:
        body = json.loads(row.document)
    except ValueError:
        return replace(row, document=scrub(row.document))
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, str) or scrub(error) == error:
        return row
    body["error"] = scrub(error)
    return replace(row, document=json.dumps(body, sort_keys=True))
