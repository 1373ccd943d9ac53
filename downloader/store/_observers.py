"""Who hears of the item records a store hands out: a small observer seam.

A process that shows its progress (the terminal's board) subscribes to its store
instead of wrapping it: every record the store reads or writes of an item, and
every byte count it records, is told to each subscriber as it happens, on the
caller's event loop, after the transaction has committed.  A subscriber only
looks: it must be quick, and it cannot change what the store does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from downloader.store._models import ItemRecord

__all__ = ["Observers", "StoreObserver"]


class StoreObserver(Protocol):
    """Told of what a store hands out (see the module's docstring)."""

    def seen(self, records: Sequence[ItemRecord], *, claimed: bool) -> None:
        """Item records read or written; `claimed`: just leased to this process."""
        ...

    def progress(self, key: str, bytes_done: int, bytes_total: int | None) -> None:
        """An item's bytes on disk, as recorded."""
        ...

    def active(self, records: Sequence[ItemRecord]) -> None:
        """Every active item, as just read: the others are gone from the watchlist."""
        ...


class Observers:
    """A store's subscribers, told in the order they subscribed."""

    def __init__(self) -> None:
        self._each: list[StoreObserver] = []

    def add(self, observer: StoreObserver) -> None:
        self._each.append(observer)

    def seen(self, records: list[ItemRecord], *, claimed: bool = False) -> list[ItemRecord]:
        for observer in self._each:
            observer.seen(records, claimed=claimed)
        return records

    def one(self, record: ItemRecord) -> ItemRecord:
        self.seen([record])
        return record

    def progress(self, key: str, bytes_done: int, bytes_total: int | None) -> None:
        for observer in self._each:
            observer.progress(key, bytes_done, bytes_total)

    def active(self, records: list[ItemRecord]) -> list[ItemRecord]:
        for observer in self._each:
            observer.active(records)
        return records
