"""An item's bytes on disk as its assets stream, told to the store (and so to `status`)."""

from __future__ import annotations

from collections.abc import Sequence

from downloader.clock import Clock
from downloader.store import StateStore
from downloader.transfer import AssetRequest


class ItemBytes:
    """The progress of one asset as the item's: the bytes of the assets before it, its
    own, and a total once its size is known (with those of the assets after it, when
    the platform told them; else no total)."""

    def __init__(
        self,
        store: StateStore,
        key: str,
        *,
        owner: str,
        clock: Clock,
        before: int,
        after: int | None,
    ) -> None:
        self.store, self.key, self.owner, self.clock = store, key, owner, clock
        self.before, self.after = before, after
        self.size: int | None = None

    def sized(self, size: int) -> None:
        self.size = size

    async def report(self, done: int) -> None:
        total = None
        if self.size is not None and self.after is not None:
            total = self.before + self.size + self.after
        await self.store.set_progress(
            self.key, self.before + done, total, now=self.clock.utcnow(), owner=self.owner
        )


def known_size(assets: Sequence[AssetRequest]) -> int | None:
    """The bytes of `assets` together, when the platform said the size of each."""
    sizes = [a.expected_size for a in assets]
    return None if None in sizes else sum(s for s in sizes if s is not None)
