"""Where the worker links each filed bag from the archive's catalog: at once, or in
batches of one rewrite each.

The catalog is one JSON file read and written whole, so linking each bag as it is
filed costs a rewrite of every link so far: over 2,000 small items that is the
quadratic part of their cost.  Opened with `every` > 0, the links are gathered and
written together, by `run` at most `every` seconds after the first of a batch (sooner
when `BATCH` wait), and by `close` at the end.  A bag is reported archived before its
link is written only while this process's pending mark is durable
(`archive._catalog_pending`), so a crash leaves the catalog repaired at the next
`open`.  Not opened (a worker built alone, a test), each link is written at once.

A catalog that cannot be written is logged (`archive.catalog_not_updated`) rather than
made an item's failure: its bag is in place and complete without the link.
"""

from __future__ import annotations

from pathlib import PurePath, PurePosixPath

import anyio
import structlog

from downloader.archive._catalog import add_many_to_catalog
from downloader.archive._catalog_pending import PendingMark, mark_pending, repair_abandoned
from downloader.archive._commit import Syncer
from downloader.archive._stac import STAC_ITEM
from downloader.errors import PlantedLink
from downloader.jail import Jail
from downloader.runners._describe import link_in_catalog

__all__ = ["BATCH", "CatalogLinks"]

log = structlog.get_logger("downloader.archive")

BATCH = 512
"""Links that make a batch due before its `every` seconds are up."""


class CatalogLinks:
    def __init__(self, jail: Jail, *, every: float = 0.0, syncer: Syncer | None = None) -> None:
        self.jail = jail
        self.every = every
        self._syncer = syncer or Syncer()
        self._mark: PendingMark | None = None
        self._pending: list[tuple[PurePath, str]] = []
        self._owed = False  # a batch could not be written: the mark must stay
        self._due = anyio.Event()
        self._full = anyio.Event()
        self._writing = anyio.Lock()

    @property
    def pending(self) -> int:
        """Links gathered and not written yet."""
        return len(self._pending)

    async def open(self) -> None:
        """Repair what a crashed run left owed, then, when batching, make the mark.

        The start of the service's run: the descriptors held for the archive root stay
        open until its `close`."""
        self.jail.retain()
        try:
            found = await anyio.to_thread.run_sync(repair_abandoned, self.jail)
        except (OSError, PlantedLink) as exc:
            log.warning("archive.catalog_not_repaired", error=str(exc))
        else:
            if found:
                log.info("archive.catalog_repaired", marks=found)
        if self.every > 0:
            try:
                self._mark = await anyio.to_thread.run_sync(mark_pending, self.jail, self._syncer)
            except (OSError, PlantedLink) as exc:  # each bag is linked at once, as without
                log.warning("archive.catalog_batches_off", error=str(exc))

    async def link(self, relative_bag: PurePath, key: str, *, if_described: bool = False) -> None:
        """Link the bag at `relative_bag`; with `if_described` only when it holds a STAC
        Item (an adopted bag may come from before bags carried one)."""
        if self._mark is None:
            await link_in_catalog(self.jail, relative_bag, key, if_described=if_described)
            return
        if if_described:
            where = PurePosixPath(relative_bag.as_posix(), STAC_ITEM)
            if await anyio.to_thread.run_sync(self.jail.lstat, where) is None:
                return
        self._pending.append((relative_bag, key))
        self._due.set()
        if len(self._pending) >= BATCH:
            self._full.set()

    async def run(self) -> None:
        """Write each batch when it is due; runs until cancelled."""
        while True:
            await self._due.wait()
            with anyio.move_on_after(self.every):
                await self._full.wait()
            self._due, self._full = anyio.Event(), anyio.Event()
            await self.flush()

    async def flush(self) -> None:
        """Write every link gathered so far, in one rewrite of the catalog."""
        async with self._writing:
            batch, self._pending = self._pending, []
            if not batch:
                return
            try:
                with anyio.CancelScope(shield=True):
                    await anyio.to_thread.run_sync(add_many_to_catalog, self.jail, batch)
            except (OSError, PlantedLink) as exc:
                self._owed = True
                keys = [key for _, key in batch]
                log.warning("archive.catalog_not_updated", items=keys, error=str(exc))

    async def close(self) -> None:
        """Write what is gathered, then remove the mark (kept when links are owed).

        The end of the service's run: the descriptors held for the archive root (shared
        by every jail of it) are closed too, unless another run of it is still on."""
        with anyio.CancelScope(shield=True):
            await self.flush()
            mark, self._mark = self._mark, None
            if mark is not None:
                try:
                    await anyio.to_thread.run_sync(mark.keep if self._owed else mark.release)
                except OSError as exc:  # the next run repairs what needs none
                    log.warning("archive.catalog_mark_kept", error=str(exc))
            self.jail.release()
