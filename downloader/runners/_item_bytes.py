"""An item's bytes on disk as its assets stream side by side, told to the store (and so to
`status` and the progress board) as one sum.

`AssetTally` is the pure part: what each asset has on disk and its size when known.
`ItemBytes` writes the tally's sums to the store one write at a time, so the store
never sees an older sum after a newer one, and a write asked for while another is
under way is carried by the next one instead of costing a round trip of its own.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import anyio

from downloader.clock import Clock
from downloader.store import StateStore

__all__ = ["AssetTally", "ItemBytes"]


@dataclass
class AssetTally:
    """Per asset of an item, in package order: its bytes on disk and its size."""

    sizes: list[int | None]
    done: list[int]

    @classmethod
    def of(cls, sizes: Sequence[int | None]) -> AssetTally:
        """Nothing on disk yet; each size as the platform told it (None: not told)."""
        return cls(list(sizes), [0] * len(sizes))

    def kept(self, index: int, size: int) -> None:
        """Asset `index` is whole in the bag already."""
        self.sizes[index] = self.done[index] = size

    def sized(self, index: int, size: int) -> None:
        """The server's size of asset `index`, which overrides what the platform said."""
        self.sizes[index] = size

    def progressed(self, index: int, done: int) -> None:
        self.done[index] = done

    @property
    def bytes_done(self) -> int:
        return sum(self.done)

    @property
    def bytes_total(self) -> int | None:
        """The item's size: known once the size of every asset is."""
        if None in self.sizes:
            return None
        return sum(s for s in self.sizes if s is not None)


class ItemBytes:
    """The tally of one item's assets, written to the store as they report."""

    def __init__(
        self, store: StateStore, key: str, tally: AssetTally, *, owner: str, clock: Clock
    ) -> None:
        self.store, self.key, self.tally = store, key, tally
        self.owner, self.clock = owner, clock
        self._lock = anyio.Lock()
        self._asked = 0
        self._written = 0

    def sizer(self, index: int) -> Callable[[int], None]:
        """The `on_size` of asset `index`."""
        return lambda size: self.tally.sized(index, size)

    def reporter(self, index: int) -> Callable[[int], Awaitable[None]]:
        """The `on_progress` of asset `index`."""

        async def report(done: int) -> None:
            self.tally.progressed(index, done)
            await self.write()

        return report

    async def write(self) -> None:
        """The tally's sums in the store, as they are when the write is made."""
        self._asked += 1
        ask = self._asked
        async with self._lock:
            if self._written >= ask:  # a write begun after this ask carried it
                return
            self._written = self._asked
            tally = self.tally
            await self.store.set_progress(
                self.key,
                tally.bytes_done,
                tally.bytes_total,
                now=self.clock.utcnow(),
                owner=self.owner,
            )
