"""One item, from its watchlist entry to a verified bag.

`ItemWorker.work` is the whole journey of a claimed item: the provider turns the
item into a package of assets (waiting for the remote job and polling as it must),
the engine fetches each asset, and the archive files them into a bag that appears
under its final path only when complete.  Every step is recorded in the store
before the next begins, so a restart continues where the last run stopped:
assets already fetched are kept and not asked for again.

The parts are modules of their own: the assets fetched into the bag
(`_fetch_assets`), the bag filed and the item archived (`_bagging`), a turn that
ends short of a bag recorded (`_turn_end`), each lent the worker as its
`ItemHands`; this one holds the turns together.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import structlog

from downloader.archive import BagBuilder, item_path, staging_path
from downloader.archive._commit import Syncer
from downloader.clock import Clock
from downloader.config import HookSettings, PollSettings, RetrySettings
from downloader.errors import DownloaderError
from downloader.items import ItemRef
from downloader.jail import Jail
from downloader.observe import NullObserver, Observer
from downloader.providers import Provider
from downloader.providers._schedule import ItemSchedule
from downloader.providers._turn import Parked, Turn
from downloader.runners._adoption import adopt_archived_bag
from downloader.runners._bagging import SOURCE_FIELD, file_bag
from downloader.runners._catalog_links import CatalogLinks
from downloader.runners._fetch_assets import fetch_assets
from downloader.runners._item_hands import Waiting
from downloader.runners._records import StoreListener, StoreMemo
from downloader.runners._turn_end import crashed, failed, filesystem_error, parked
from downloader.runners._vet import Vetter
from downloader.store import ItemState, StateStore
from downloader.transfer import TransferEngine

__all__ = ["SOURCE_FIELD", "ItemWorker", "filesystem_error"]

log = structlog.get_logger("downloader.pipeline")


class ItemWorker:
    """Works claimed items to the end; one instance serves a whole run."""

    def __init__(
        self,
        *,
        store: StateStore,
        engine: TransferEngine,
        providers: Mapping[str, Provider],
        archive_root: Path,
        clock: Clock,
        owner: str,
        extract: bool = False,
        poll: PollSettings | None = None,
        retry: RetrySettings | None = None,
        repair_attempts: int = 3,
        observer: Observer | None = None,
    ) -> None:
        self.store = store
        self.engine = engine
        self.providers = providers
        self.root = archive_root
        self.jail = Jail(archive_root)
        # each bag linked at once, unless the service lends a batching one
        self.catalog = CatalogLinks(self.jail)
        self.clock = clock
        self.owner = owner
        self.observer: Observer = observer or NullObserver()
        self.vetter = Vetter(
            store=store,
            engine=engine,
            clock=clock,
            repair_attempts=repair_attempts,
            extract=extract,
            observer=self.observer,
        )
        self.poll = poll or PollSettings()
        """The `[poll]` settings the providers were built with (a reload changes both)."""
        self.retry = retry or RetrySettings()
        """The `[retry]` budget of every item after a passing failure."""
        self._turns: dict[str, Turn] = {}
        """The poll schedule of each parked item, for its next turn."""
        self.syncer: Syncer | None = None
        """What makes each bag durable at its finish (None: `os.fsync`)."""
        self.hooks: tuple[HookSettings, ...] = ()
        """The `[[hooks]]` whose events are recorded with each item's end (a reload
        replaces them)."""
        self.outbox_written: Callable[[], None] = lambda: None
        """Told after an item's end, which may have recorded hook events (wakes their
        deliverer; cheap when there are none)."""

    @property
    def schedule(self) -> ItemSchedule:
        """Every wait of an item, as the settings say now: its polls (its own turn's
        and the waiting room's) and its tries after passing failures."""
        return ItemSchedule.of(self.poll, self.retry)

    def waiting(self, key: str) -> Waiting:
        """Show why `key` waits (a full disk) as its error text; clear it after.  Not a
        try."""

        async def note(reason: str | None) -> None:
            now = self.clock.utcnow()
            await self.store.schedule(
                key, now, now=now, owner=self.owner, error=reason, counts=False
            )

        return note

    def forget(self, key: str) -> None:
        """Drop what is kept of `key` between its turns (it left the watchlist)."""
        self._turns.pop(key, None)

    def waiting_since(self, key: str) -> float:
        """Since when (`Clock.monotonic`) `key` has waited in its state, as its next turn
        will count it: kept from its earlier turns, else from now on."""
        turn = self._turns.get(key)
        if turn is None:
            turn = self._turns[key] = Turn(self.clock.monotonic())
        return turn.started

    async def work(
        self,
        ref: ItemRef,
        state: ItemState | None = None,
        *,
        park: bool = False,
        fetched: Callable[[], None] | None = None,
    ) -> ItemState:
        """Take `ref` as far as it can go now; returns the state it ends in.

        `state` is the item's state when its lease was taken (the claim reads it), so
        it is not read again; None has it read from the store.  With `park` this is one
        turn of the item: a long wait for the platform parks it in the store and ends
        the turn (the scheduler gives the slot to another item, and claims this one
        again when it is due); without, every wait is slept through.  `fetched` is
        told once the item's files are all fetched, before its bag is filed (the
        flight then gives its slot to the next claim).
        """
        bound = log.bind(item=ref.key, provider=ref.provider)
        started = self.clock.monotonic()
        turn = None
        if park:  # the schedule so far, unless the last turn ended otherwise
            turn = self._turns.pop(ref.key, None) or Turn(started)
        try:
            final = await self._work(ref, state, turn, fetched or _nothing)
        except DownloaderError as exc:
            return await failed(self, ref, exc, bound)
        except OSError as exc:  # the archive's disk: read-only, removed, full
            return await failed(self, ref, filesystem_error(exc), bound)
        except Exception as exc:  # of no tree: this item's alone, never the batch's
            return await crashed(self, ref, exc)
        if isinstance(final, Parked):
            if turn is not None:
                self._turns[ref.key] = turn
            return await parked(self, ref, final, bound)
        bound.info(
            "item.archived",
            archive_path=str(final),
            seconds=round(self.clock.monotonic() - started, 3),
        )
        return ItemState.ARCHIVED

    async def crashed(self, ref: ItemRef, exc: Exception) -> ItemState:
        """`exc`, of no kind of ours, escaped `ref`'s work: logged once, with its
        traceback, and the item tried again under its budget like any passing failure."""
        return await crashed(self, ref, exc)

    async def _work(
        self, ref: ItemRef, state: ItemState | None, turn: Turn | None, fetched: Callable[[], None]
    ) -> Path | Parked:
        provider = self.providers.get(ref.provider)
        if provider is None:
            raise DownloaderError(f"provider {ref.provider!r} is not configured")
        memo = StoreMemo(self.store, ref.key, self.clock)
        listener = StoreListener(self.store, ref.key, self.owner, self.clock, state, turn)
        adopted = await adopt_archived_bag(
            self.store, self.jail, ref, listener, self.clock.utcnow, hooks=self.hooks
        )
        if adopted is not None:  # a crash after its rename, or a lost state database
            self.outbox_written()
            # the crash may have come before its link in the catalog was added
            await self.catalog.link(item_path(ref), ref.key, if_described=True)
            return adopted
        # only the platform's answers park the item: a signed URL refreshed during the
        # download is waited for in the turn, with the bytes already fetched at hand
        package = await provider.prepare(ref, memo, listener, turn)
        if isinstance(package, Parked):
            return package
        current = await listener.current()
        if current is not None and current is not ItemState.DOWNLOADING:
            await listener.move(ItemState.DOWNLOADING)
        # its folders are made by the first write into it, in a worker thread
        bag = BagBuilder(
            self.root / staging_path(ref),
            ref,
            clock=self.clock,
            create=False,
            jail=Jail(self.root),
            syncer=self.syncer,
        )
        files = await fetch_assets(self, ref, package, bag)
        fetched()
        return await file_bag(self, ref, package, bag, files)


def _nothing() -> None:
    pass
