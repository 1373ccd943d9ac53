"""One item, from its watchlist entry to a verified bag.

`ItemWorker.work` is the whole journey of a claimed item: the provider turns the
item into a package of assets (waiting for the remote job and polling as it must),
the engine fetches each asset, and the archive files them into a bag that appears
under its final path only when complete.  Every step is recorded in the store
before the next begins, so a restart continues where the last run stopped:
assets already fetched are kept and not asked for again.
"""

from __future__ import annotations

import dataclasses
import errno
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import structlog

from downloader.archive import BagBuilder, item_path
from downloader.clock import Clock
from downloader.config import PollSettings, RetrySettings
from downloader.errors import DownloaderError, FilesystemError, ItemCrashed
from downloader.items import ItemRef
from downloader.jail import Jail
from downloader.observe import NullObserver, Observer, counted_refresh
from downloader.providers import Provider
from downloader.providers._poll import Parked, Turn, polling_turn
from downloader.redact import describe
from downloader.runners._adoption import adopt_archived_bag
from downloader.runners._describe import link_in_catalog, stac_tag_files
from downloader.runners._item_bytes import ItemBytes, known_size
from downloader.runners._records import StoreListener, StoreMemo
from downloader.runners._retry import gave_up_text, next_try_delay
from downloader.runners._vet import Fetched, Vetter, url_hint
from downloader.store import ItemState, StateStore
from downloader.store._models import AssetRecord, AssetState
from downloader.transfer import AssetRequest, TransferEngine
from downloader.transfer._names import sanitize_filename

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
        self, ref: ItemRef, state: ItemState | None = None, *, park: bool = False
    ) -> ItemState:
        """Take `ref` as far as it can go now; returns the state it ends in.

        `state` is the item's state when its lease was taken (the claim reads it), so
        it is not read again; None has it read from the store.  With `park` this is one
        turn of the item: a long wait for the platform parks it in the store and ends
        the turn (the scheduler gives the slot to another item, and claims this one
        again when it is due); without, every wait is slept through.
        """
        bound = log.bind(item=ref.key, provider=ref.provider)
        started = self.clock.monotonic()
        turn = None
        if park:  # the schedule so far, unless the last turn ended otherwise
            turn = self._turns.pop(ref.key, None) or Turn(started)
        try:
            final = await self._work(ref, state, turn)
        except Parked as parked:
            if turn is not None:
                self._turns[ref.key] = turn
            return await self._park(ref, parked, bound)
        except DownloaderError as exc:
            return await self._failed(ref, exc, bound)
        except OSError as exc:  # the archive's disk: read-only, removed, full
            return await self._failed(ref, filesystem_error(exc), bound)
        except Exception as exc:  # of no tree: this item's alone, never the batch's
            return await self.crashed(ref, exc)
        bound.info(
            "item.archived",
            archive_path=str(final),
            seconds=round(self.clock.monotonic() - started, 3),
        )
        return ItemState.ARCHIVED

    async def _park(self, ref: ItemRef, parked: Parked, bound: Any) -> ItemState:
        now = self.clock.utcnow()
        due = now + timedelta(seconds=parked.delay)
        record = await self.store.schedule(ref.key, due, now=now, owner=self.owner, counts=False)
        bound.debug("item.parked", what=parked.what, until=due.isoformat(), state=parked.last)
        # as after a retry: the scheduler drops the lease, the store wakes it when due
        return record.state

    async def crashed(self, ref: ItemRef, exc: Exception) -> ItemState:
        """`exc`, of no kind of ours, escaped `ref`'s work: logged once, with its
        traceback, and the item tried again under its budget like any passing failure."""
        bound = log.bind(item=ref.key, provider=ref.provider)
        bound.error("item.crashed", exc_info=exc)
        return await self._failed(ref, ItemCrashed(exc), bound)

    async def _failed(self, ref: ItemRef, exc: DownloaderError, bound: Any) -> ItemState:
        now = self.clock.utcnow()
        message = describe(exc)
        if exc.retryable:
            record = await self.store.get(ref.key)
            tries = (0 if record is None else record.attempts) + 1
            retry_after = getattr(exc, "retry_after", None)
            delay = next_try_delay(tries, self.retry, retry_after=retry_after)
            if delay is not None:
                self.observer.retried(ref.provider, "item")
                record = await self.store.schedule(
                    ref.key,
                    now + timedelta(seconds=delay),
                    now=now,
                    owner=self.owner,
                    error=message,
                )
                bound.warning("item.retry_later", error=message, attempt=tries, delay=delay)
                # the lease is dropped by whoever claimed the item (the scheduler), as for
                # every item that ends its turn short of archived or failed
                return record.state
            message = gave_up_text(message, tries)
        await self.store.transition(
            ref.key,
            ItemState.FAILED,
            now=now,
            owner=self.owner,
            error=message,
            counts=exc.retryable,
        )
        bound.error("item.failed", error=message)
        return ItemState.FAILED

    async def _work(self, ref: ItemRef, state: ItemState | None, turn: Turn | None) -> Path:
        provider = self.providers.get(ref.provider)
        if provider is None:
            raise DownloaderError(f"provider {ref.provider!r} is not configured")
        memo = StoreMemo(self.store, ref.key, self.clock)
        listener = StoreListener(self.store, ref.key, self.owner, self.clock, state, turn)
        adopted = await adopt_archived_bag(self.store, self.jail, ref, listener, self.clock.utcnow)
        if adopted is not None:  # a crash after its rename, or a lost state database
            # the crash may have come before its link in the catalog was added
            await link_in_catalog(self.jail, item_path(ref), ref.key, if_described=True)
            return adopted
        # only the platform's answers park the item: a signed URL refreshed during the
        # download is waited for in the turn, with the bytes already fetched at hand
        with polling_turn(turn):
            package = await provider.prepare(ref, memo, listener)
        current = await listener.current()
        if current is not None and current is not ItemState.DOWNLOADING:
            await listener.move(ItemState.DOWNLOADING)
        # its folders are made by the first write into it, in a worker thread
        bag = BagBuilder.in_archive(self.root, ref, clock=self.clock, create=False)
        done = {a.asset_key: a for a in await self.store.assets(ref.key)}
        taken: set[str] = set()
        fetched: list[Fetched] = []
        total_done = 0
        for index, asset in enumerate(package.assets):
            record = done.get(asset.key)
            if (
                record is not None
                and record.state is AssetState.DONE
                and record.sha256
                and bag.payload_size(record.name) == record.size
            ):
                size = record.size or 0
                fetched.append(Fetched(asset, record.name, size, record.sha256))
                taken.add(record.name)
                total_done += size
                continue
            told = ItemBytes(
                self.store,
                ref.key,
                owner=self.owner,
                clock=self.clock,
                before=total_done,
                after=known_size(package.assets[index + 1 :]),
            )
            asset = dataclasses.replace(
                asset,
                on_progress=told.report,
                on_size=told.sized,
                on_wait=self._waiting(ref),
                on_refetch=self.vetter.refetch_noter(ref, asset.key),
                on_retry=lambda _why: self.observer.retried(ref.provider, "transfer"),
                refresh_url=counted_refresh(
                    asset.refresh_url, lambda: self.observer.url_refreshed(ref.provider)
                ),
            )
            one = await self._fetch(ref, asset, bag, taken)
            fetched.append(one)
            taken.add(one.name)
            await self.store.save_asset(
                AssetRecord(
                    item_key=ref.key,
                    asset_key=asset.key,
                    name=one.name,
                    url_hint=url_hint(asset),
                    size=one.size,
                    sha256=one.sha256,
                    state=AssetState.DONE,
                    bytes_done=one.size,
                ),
                now=self.clock.utcnow(),
            )
            total_done += one.size
            if index < len(package.assets) - 1:  # after the last one, the total is set below
                await self.store.set_progress(
                    ref.key, total_done, None, now=self.clock.utcnow(), owner=self.owner
                )
        await self.store.set_progress(
            ref.key, total_done, total_done, now=self.clock.utcnow(), owner=self.owner
        )
        # the item was moved to downloading above, and nothing but this worker moves it
        await self.store.transition(
            ref.key, ItemState.VERIFYING, now=self.clock.utcnow(), owner=self.owner
        )
        sources: dict[str, str] = {}
        for one in fetched:
            for entry in await self.vetter.vet(ref, one, bag):
                bag.add_payload(*entry)
                sources[entry[0]] = url_hint(one.asset) or ""
        info: dict[str, str] = {}
        if package.download_id:
            info["External-Description"] = f"{package.description} {package.download_id}".strip()
        await self.engine.space.room_for(0, self._waiting(ref), key=ref.key)
        relative = item_path(ref)
        tag_files = stac_tag_files(
            ref, package, bag.payload, sources, relative_bag=relative, bagged_at=self.clock.utcnow()
        )
        final = await bag.finish(
            self.root / relative, info=info, tag_files=tag_files, tags=package.tag_files
        )
        await link_in_catalog(self.jail, relative, ref.key)
        await self.store.transition(
            ref.key,
            ItemState.ARCHIVED,
            now=self.clock.utcnow(),
            owner=self.owner,
            archive_path=str(final),
        )
        return final

    def _waiting(self, ref: ItemRef) -> Callable[[str | None], Awaitable[None]]:
        """Show why the item waits (a full disk) as its error text; clear it after."""

        async def note(reason: str | None) -> None:
            now = self.clock.utcnow()
            await self.store.schedule(
                ref.key, now, now=now, owner=self.owner, error=reason, counts=False
            )

        return note

    async def _fetch(
        self, ref: ItemRef, asset: AssetRequest, bag: BagBuilder, taken: set[str]
    ) -> Fetched:
        # straight into the bag, under a name no other asset of the item has taken
        result = await self.engine.fetch(asset, bag.data_dir, rename=lambda n: _unique(n, taken))
        bag.note_coding(result.name, result.content_encoding)  # kept as sent: the bag says so
        self.observer.fetched(ref.provider, result.bytes_received)
        return Fetched.of(asset, result)


# not worth trying again until someone changes the permissions or the mount
_PERMANENT_ERRNOS = frozenset({errno.EACCES, errno.EPERM, errno.EROFS})


def filesystem_error(exc: OSError) -> FilesystemError:
    """`exc` as the project's error: what the filesystem said, where, and whether to retry."""
    path = exc.filename if isinstance(exc.filename, str) else None
    return FilesystemError(
        f"archive filesystem: {exc.strerror or exc}",
        path=path,
        errno=exc.errno,
        retryable=exc.errno not in _PERMANENT_ERRNOS,
    )


def _unique(name: str, taken: set[str]) -> str:
    if name not in taken:
        return name
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    for n in range(2, 10_000):
        candidate = sanitize_filename(f"{stem}-{n}{'.' + ext if ext else ''}")
        if candidate not in taken:
            return candidate
    raise DownloaderError(f"too many files named {name!r}")
