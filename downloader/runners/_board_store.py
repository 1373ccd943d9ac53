"""The progress board as a subscriber of the state store.

Whatever the process reads or writes of an item goes through its store, so the
board learns of each change as it happens, at the cost of a dictionary update,
and the display never asks the database again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from downloader.runners._board import ProgressBoard
from downloader.store import ItemRecord

__all__ = ["BoardWatch"]


class BoardWatch:
    """Shows `board` every item record its store hands out (a `StoreObserver`)."""

    def __init__(self, board: ProgressBoard, monotonic: Callable[[], float]) -> None:
        self._board, self._monotonic = board, monotonic

    def seen(self, records: Sequence[ItemRecord], *, claimed: bool) -> None:
        self._board.seen(list(records), self._monotonic(), claimed=claimed)

    def progress(self, key: str, bytes_done: int, bytes_total: int | None) -> None:
        self._board.progress(key, bytes_done, bytes_total, self._monotonic())

    def active(self, records: Sequence[ItemRecord]) -> None:
        # the active set: items gone from it are no longer shown
        for key in self._board.items.keys() - {r.key for r in records}:
            del self._board.items[key]
        self.seen(records, claimed=False)
