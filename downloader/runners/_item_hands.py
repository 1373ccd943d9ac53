"""What a worker lends the parts of an item's journey for one turn: its effects.

`ItemHands` is taken from the `ItemWorker` at the start of each turn, so a reload
(or a test) that replaces the worker's engine or hooks is seen by the next turn and
never halfway through one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from downloader.clock import Clock
from downloader.config import HookSettings
from downloader.jail import Jail
from downloader.observe import Observer
from downloader.providers._schedule import ItemSchedule
from downloader.runners._vet import Vetter
from downloader.store import StateStore
from downloader.transfer import TransferEngine

__all__ = ["ItemHands", "Waiting"]

Waiting = Callable[[str | None], Awaitable[None]]
"""Told why an item waits (a full disk), shown as its error text; None clears it."""


@dataclass(frozen=True)
class ItemHands:
    store: StateStore
    engine: TransferEngine
    clock: Clock
    owner: str
    observer: Observer
    vetter: Vetter
    root: Path
    jail: Jail
    hooks: tuple[HookSettings, ...]
    outbox_written: Callable[[], None]
    schedule: ItemSchedule
    """Every wait of the item: its polls and its tries after passing failures."""

    def waiting(self, key: str) -> Waiting:
        """Show why `key` waits as its error text; clear it after.  Not a try."""

        async def note(reason: str | None) -> None:
            now = self.clock.utcnow()
            await self.store.schedule(
                key, now, now=now, owner=self.owner, error=reason, counts=False
            )

        return note
