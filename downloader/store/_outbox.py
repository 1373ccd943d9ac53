"""The outbox of hook events, as the rest of the program sees it.

Rows are inserted by `StateStore.transition` (its `outbox` argument), in the
transaction that records the item archived or failed, so an event exists
exactly when its transition does.  A deliverer takes them from here the way
workers take items: `claim` leases due rows to an owner (several hosts on one
PostgreSQL database never get the same row), and each claimed row ends its
turn `delivered` or `retry_later`.  A row whose lease ran out (its deliverer
died) is due again, so every event reaches its hook at least once.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Protocol

from downloader.store._outbox_models import OutboxRecord

__all__ = ["Outbox"]


class Outbox(Protocol):
    """Hook events waiting for delivery, kept across restarts."""

    async def claim(
        self, owner: str, *, now: datetime, lease: timedelta, limit: int
    ) -> list[OutboxRecord]:
        """Lease up to `limit` undelivered rows due by `now` (soonest first) to `owner`."""
        ...

    async def delivered(self, event_id: str, *, now: datetime) -> None:
        """Record the row delivered (whoever holds it: the receiver has it)."""
        ...

    async def retry_later(
        self, event_id: str, owner: str, *, now: datetime, at: datetime, error: str
    ) -> None:
        """One more failed delivery: try again at `at`; nothing when `owner` lost the row."""
        ...

    async def release_all(self, owner: str) -> int:
        """Drop every lease `owner` holds (a restart after a crash); returns how many."""
        ...

    async def next_due(self) -> datetime | None:
        """When the soonest undelivered row can be claimed; None when none is left."""
        ...

    async def pending(self, keys: Collection[str] | None = None) -> list[OutboxRecord]:
        """The undelivered rows (of the items `keys` only, when given), oldest first."""
        ...
