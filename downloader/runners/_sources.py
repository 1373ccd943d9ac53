"""The source tender: lists the watchlist's sources on the `[poll]` schedule.

It claims the sources that are due under a lease (`SourceBook.claim`), so one
process lists a source at a time and a dead one's sources are taken over when
its lease runs out; lists each through its provider (`providers._sources`),
page by page; records what the list showed (`add_listed`: an item enters the
store once, under the key its own entry would give it) and hands every listed
item to the scheduler (`on_listed`), and a list's word on which of its jobs still
run to the waiting room (`on_answer`: one request answers both); then keeps the
cursor and the error and says when the source is listed next (`finish`, which drops the lease).

The next listing comes `poll.initial_interval` after a listing that found
something new, the wait doubling while nothing new appears, up to
`poll.max_interval`; after a failed one, no sooner than the platform's
Retry-After.  `once` lists every source when it starts (`list_due(every=True)`);
`run` keeps the tender going beside the scheduler's loop.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import anyio
import structlog

from downloader.clock import Clock
from downloader.errors import LeaseLost, MalformedResponse, StoreError
from downloader.items import ItemRef
from downloader.providers import SurveyAnswer
from downloader.runners._pipeline import ItemWorker
from downloader.sources import SourceRef, next_interval
from downloader.store import StateStore, SyncResult
from downloader.store._sources_rows import ListingEnd, SourceRecord

if TYPE_CHECKING:
    from downloader.providers._sources import Listing

__all__ = ["SourceTender"]

log = structlog.get_logger("downloader.sources")

CLAIM_AT_ONCE = 16
"""Sources claimed in one go."""
IDLE_RECHECK = 60.0
"""Longest sleep with no source due: how soon a source another process stopped
listing (it died) is looked at, at the latest, beside its lease's expiry."""
STORE_RETRY = 5.0
_FAR_FUTURE = datetime(9999, 1, 1, tzinfo=UTC)


class SourceTender:
    """Lists this process's sources when they are due (see the module doc)."""

    def __init__(
        self,
        *,
        store: StateStore,
        worker: ItemWorker,
        clock: Clock,
        owner: str,
        lease: timedelta,
        on_listed: Callable[[list[ItemRef]], None],
        on_answer: Callable[[list[ItemRef], SurveyAnswer, float], Awaitable[None]] | None = None,
        contain_errors: bool = False,
    ) -> None:
        self.store, self.worker, self.clock, self.owner = store, worker, clock, owner
        self.lease = lease
        self.on_listed = on_listed
        self.on_answer = on_answer
        """Told which listed items' jobs still run, and when the source is listed next."""
        self.contain_errors = contain_errors
        self._sources: dict[str, SourceRef] = {}
        self._wake = anyio.Event()
        self._released = False
        self._known: dict[str, set[str]] = {}
        """Per source, the items this process saw it list (and the store has)."""

    def set_sources(self, sources: Iterable[SourceRef]) -> None:
        """The sources of the watchlist in use; new ones are listed at once."""
        self._sources = {ref.key: ref for ref in sources}
        self._wake.set()

    async def sync(self, wanted: dict[str, ItemRef], sources: Iterable[SourceRef]) -> SyncResult:
        """Sync the store with `wanted` and `sources` (`SourceBook.sync`), add to `wanted`
        what the sources listed before, and make `sources` the ones this tender lists."""
        chosen = list(sources)
        book = self.store.sources()
        result, listed = await book.sync(chosen, wanted.values(), now=self.clock.utcnow())
        for ref in listed:
            wanted.setdefault(ref.key, ref)
        self.set_sources(chosen)
        return result

    @property
    def sources(self) -> frozenset[str]:
        return frozenset(self._sources)

    async def list_due(self, *, every: bool = False) -> int:
        """List each of our sources that is due (with `every`: each one not being listed
        elsewhere, due or not); how many were listed."""
        if not self._sources:
            return 0
        book = self.store.sources()
        if not self._released:  # a listing this owner left behind (a crash) is over
            await book.release_all(self.owner)
            self._released = True
        listed = 0
        while True:
            now = self.clock.utcnow()
            claimed = await book.claim(
                self.owner,
                now=now,
                lease=self.lease,
                limit=CLAIM_AT_ONCE,
                due_by=_FAR_FUTURE if every else None,
            )
            for record in claimed:
                await self._list_one(record)
            listed += len(claimed)
            if len(claimed) < CLAIM_AT_ONCE:
                return listed

    async def run(self) -> None:
        """List sources as they come due, until cancelled."""
        book = self.store.sources()
        while True:
            self._wake = anyio.Event()
            wait = IDLE_RECHECK
            try:
                await self.list_due()
                due = await book.next_due(self.owner) if self._sources else None
                if due is not None:
                    wait = min(wait, max(0.0, (due - self.clock.utcnow()).total_seconds()))
            except StoreError as exc:
                if not self.contain_errors:
                    raise
                log.warning("source.store_error", error=str(exc))
                wait = STORE_RETRY
            await self._sleep(wait)

    async def _sleep(self, seconds: float) -> None:
        if self._wake.is_set():
            return
        async with anyio.create_task_group() as tg:

            async def timer() -> None:
                await self.clock.sleep(seconds)
                tg.cancel_scope.cancel()

            tg.start_soon(timer)
            await self._wake.wait()
            tg.cancel_scope.cancel()

    async def _list_one(self, record: SourceRecord) -> None:
        book = self.store.sources()
        poll = self.worker.poll
        first, most = timedelta(seconds=poll.initial_interval), timedelta(seconds=poll.max_interval)
        ref = self._sources.get(record.key)
        if ref is None:  # another process's watchlist names it: not ours to list
            end = ListingEnd(self.clock.utcnow() + first, record.interval or first, None)
            await book.finish(record.key, self.owner, end, now=self.clock.utcnow())
            return
        listing = await self._listing(ref, record)
        known = self._known.setdefault(ref.key, set())
        fresh = [item for item in listing.items if item.key not in known]
        added: list[str] = []
        try:
            # a listing that shows nothing this process has not seen it show costs no
            # write: an idle daemon lists thousands of waiting jobs at every step
            if fresh:
                added = await book.add_listed(ref.key, self.owner, fresh, now=self.clock.utcnow())
        except LeaseLost as exc:
            log.warning("source.lease_lost", source=ref.key, holder=exc.holder)
            return
        known.update(item.key for item in fresh)
        interval = next_interval(record.interval, bool(added), first=first, most=most)
        wait = interval.total_seconds()
        if ref.key in self._sources:  # not removed from the watchlist meanwhile
            self.on_listed(listing.items)
            answer = listing.answer if listing.error is None else None
            if answer is not None and self.on_answer is not None:
                await self.on_answer(listing.items, answer, wait)
        error = None if listing.error is None else str(listing.error)
        if listing.error is not None:
            wait = max(wait, listing.retry_after or 0.0)
            log.warning(
                "source.list_failed",
                source=ref.key,
                error=error,
                pages=listing.pages,
                found=len(listing.items),
                retry_in=wait,
            )
        else:
            log.info(
                "source.listed",
                source=ref.key,
                pages=listing.pages,
                found=len(listing.items),
                added=len(added),
                next_in=wait,
            )
        now = self.clock.utcnow()
        cursor = listing.cursor if listing.error is None else None
        end = ListingEnd(now + timedelta(seconds=wait), interval, cursor, error, len(added))
        await book.finish(ref.key, self.owner, end, now=now)

    async def _keep_lease(self, key: str) -> None:
        """Renew the source's lease every third of it while a long list is read; a lost
        one is found out when what the list showed is added (`LeaseLost`)."""
        book = self.store.sources()
        while True:
            await self.clock.sleep(self.lease.total_seconds() / 3)
            try:
                held = await book.renew(key, self.owner, now=self.clock.utcnow(), lease=self.lease)
            except StoreError as exc:
                log.warning("source.renew_failed", source=key, error=str(exc))
                continue
            if not held:
                return

    async def _listing(self, ref: SourceRef, record: SourceRecord) -> Listing:
        # the listers and their parsers load with a first source, not with every run
        from downloader.providers._sources import Listing, list_source

        provider = self.worker.providers.get(ref.provider)
        if provider is None:  # unconfigured by a reload
            reason = f"provider {ref.provider} is not configured"
            return Listing(error=MalformedResponse(reason))
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._keep_lease, ref.key)
                listing = await list_source(provider, ref, record.cursor)
                tg.cancel_scope.cancel()
            return listing
        except Exception as exc:
            if not self.contain_errors:
                raise
            log.exception("source.list_crashed", source=ref.key)
            return Listing(error=MalformedResponse(f"{type(exc).__name__}: {exc}"))
