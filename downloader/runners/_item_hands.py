"""What the parts of an item's journey are lent by the worker: its effects.

`ItemHands` is what `_fetch_assets`, `_bagging` and `_turn_end` may use of the
`ItemWorker`, which is handed to them as it is: a reload (or a test) that replaces
the worker's engine, hooks or settings is seen by the next use.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Protocol

from downloader.clock import Clock
from downloader.config import HookSettings
from downloader.jail import Jail
from downloader.observe import Observer
from downloader.providers._schedule import ItemSchedule
from downloader.runners._catalog_links import CatalogLinks
from downloader.runners._vet import Vetter
from downloader.store import StateStore
from downloader.transfer import TransferEngine

__all__ = ["ItemHands", "Waiting"]

Waiting = Callable[[str | None], Awaitable[None]]
"""Told why an item waits (a full disk), shown as its error text; None clears it."""


class ItemHands(Protocol):
    store: StateStore
    engine: TransferEngine
    clock: Clock
    owner: str
    observer: Observer
    vetter: Vetter
    root: Path
    jail: Jail
    catalog: CatalogLinks
    hooks: tuple[HookSettings, ...]
    outbox_written: Callable[[], None]

    @property
    def schedule(self) -> ItemSchedule:
        """Every wait of the item: its polls and its tries after passing failures."""
        ...

    def waiting(self, key: str) -> Waiting:
        """Show why `key` waits as its error text; clear it after.  Not a try."""
        ...
