"""What a worker records in the store as an item travels: a provider's notes, its steps.

`StoreMemo` keeps a provider's notes about an item (a platform download id) in the
store; `StoreListener` moves the item through waiting, requested and preparing as
the provider reports, never backwards.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from downloader.clock import Clock
from downloader.providers._turn import Turn
from downloader.store import ItemState, StateStore
from downloader.store._models import PackageRecord
from downloader.store._outbox_models import OutboxRow

__all__ = ["StoreListener", "StoreMemo"]


class StoreMemo:
    """A provider's notes about an item (e.g. a platform download id), kept in the store."""

    def __init__(self, store: StateStore, key: str, clock: Clock) -> None:
        self._store, self._key, self._clock = store, key, clock

    async def load(self) -> Mapping[str, Any] | None:
        record = await self._store.get_package(self._key)
        return None if record is None else json.loads(record.data)

    async def save(self, data: Mapping[str, Any]) -> None:
        download_id = data.get("download_id")
        record = PackageRecord(
            item_key=self._key,
            download_id=None if download_id is None else str(download_id),
            status=str(data.get("status")) if data.get("status") is not None else None,
            data=json.dumps(dict(data)),
        )
        await self._store.save_package(record, now=self._clock.utcnow())


class StoreListener:
    """Moves the item through waiting → requested → preparing as the provider reports."""

    _ORDER = (ItemState.WAITING, ItemState.REQUESTED, ItemState.PREPARING)

    def __init__(
        self,
        store: StateStore,
        key: str,
        owner: str,
        clock: Clock,
        state: ItemState | None = None,
        turn: Turn | None = None,
    ) -> None:
        self._store, self._key, self._owner, self._clock = store, key, owner, clock
        self.state = state
        """The item's state as last read or written here; None when not known.  While
        the lease is held nobody else moves the item, so it need not be read again."""
        self.turn = turn
        """The turn being polled in, if any: it learns here when the state changes."""

    async def current(self) -> ItemState | None:
        """The item's state, read from the store only when not known here."""
        if self.state is None:
            record = await self._store.get(self._key)
            self.state = None if record is None else record.state
        return self.state

    async def phase(self, name: str, detail: str = "") -> None:
        target = ItemState(name)
        state = await self.current()
        if state is None or state == target:
            return
        if (
            target in self._ORDER
            and state in self._ORDER
            and self._ORDER.index(target) < self._ORDER.index(state)
        ):
            return  # never step backwards on a late report
        await self.move(target)

    async def move(
        self,
        target: ItemState,
        *,
        archive_path: str | None = None,
        outbox: Sequence[OutboxRow] = (),
        at: datetime | None = None,
    ) -> None:
        """Transition to `target` (the store checks that the move is allowed), with
        the `outbox` rows (hook events) it causes, at `at` (default: now)."""
        self.state = None  # unknown should the transition fail
        record = await self._store.transition(
            self._key,
            target,
            now=at or self._clock.utcnow(),
            owner=self._owner,
            archive_path=archive_path,
            outbox=outbox,
        )
        self.state = record.state
        if self.turn is not None:  # a new state: its waits start from the first
            self.turn.started = self._clock.monotonic()
