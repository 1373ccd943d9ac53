"""The composition root: real effects wired together from settings, in one place."""

from __future__ import annotations

import dataclasses
import signal
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import anyio

from downloader.clock import Clock, SystemClock
from downloader.config import Settings
from downloader.items import ItemRef
from downloader.jail import Jail
from downloader.observe import NullObserver, Observer
from downloader.providers import build_providers
from downloader.runners._batch import BatchResult, run_batch
from downloader.runners._board import ProgressBoard
from downloader.runners._board_store import BoardWatch
from downloader.runners._catalog_links import CatalogLinks
from downloader.runners._deliverer import Deliverer
from downloader.runners._drive import drive
from downloader.runners._pipeline import ItemWorker, filesystem_error
from downloader.runners._session import LazySession, lazy_session
from downloader.sources import SourceRef
from downloader.store import StateStore, open_store
from downloader.transfer import RetryPolicy, TransferEngine
from downloader.transfer._tls import tls_context

if TYPE_CHECKING:
    import aiohttp

CATALOG_EVERY = 1.0
"""Seconds a filed bag's link may wait to be written with others: the catalog is
rewritten whole, so one rewrite per bag made 2,000 small items quadratic."""


class Interrupted(Exception):
    """SIGINT or SIGTERM arrived before the batch was done."""


@dataclass
class Service:
    """The real effects one run works with: clock, store, HTTP session and the worker."""

    clock: Clock
    store: StateStore
    session: aiohttp.ClientSession
    worker: ItemWorker
    observer: Observer
    deliverer: Deliverer
    catalog: CatalogLinks

    def use_providers(self, settings: Settings) -> None:
        """Items started from now on talk to the platforms as `settings` say."""
        self.worker.providers = build_providers(
            settings.providers,
            self.session,
            self.clock,
            settings.poll,
            observer=self.observer,
            retry_after_cap=settings.retry.max_delay,
            drive=drive,
        )
        self.worker.poll = settings.poll
        self.worker.retry = settings.retry

    def use_hooks(self, settings: Settings) -> None:
        """Events recorded from now on go to `settings.hooks`, and are delivered so."""
        self.worker.hooks = self.deliverer.hooks = settings.hooks
        self.deliverer.wake()


@asynccontextmanager
async def open_service(
    settings: Settings,
    owner: str,
    board: ProgressBoard | None = None,
    *,
    observer: Observer | None = None,
) -> AsyncIterator[Service]:
    """Open the store and an HTTP session, and build the worker, for `owner`; with a
    `board`, every item record the store hands out is shown to it; `observer` is told
    what happens (the metrics)."""
    clock = SystemClock()
    observer = observer or NullObserver()
    limits = settings.transfer.limits
    # without a private CA, aiohttp's verifying context (made when aiohttp is imported)
    # serves the API calls and the engine makes its own on a first https body: loading
    # the system CAs once more here cost some 30-50 ms before the first request
    ca_file = settings.transfer.ca_file
    trust = tls_context(ca_file) if ca_file is not None else None
    holder = LazySession(limit_per_host=limits.max_per_host, trust=trust)
    session = lazy_session(holder)
    root = settings.archive.root
    try:
        root.mkdir(parents=True, exist_ok=True, mode=0o750)
    except OSError as exc:  # read-only, not allowed, a file in the way since check-config
        raise filesystem_error(exc) from None
    async with open_store(settings.state.url, observer=observer) as store:
        if board is not None:
            store.subscribe(BoardWatch(board, clock.monotonic))
        engine = TransferEngine(
            session,
            partial_root=root / ".partial",
            limits=limits,
            timeouts=settings.transfer.timeouts,
            # a wrong digest or size is repaired by the engine's re-downloads, within
            # the same budget as the repairs of a ZIP's members
            retry=RetryPolicy(
                verify_attempts=settings.transfer.repair_attempts,
                retry_after_cap=settings.retry.max_delay,
            ),
            clock=clock,
            ssl_context=trust,
            keep_connections=True,  # closed with the service, below
        )
        providers = build_providers(
            settings.providers,
            session,
            clock,
            settings.poll,
            observer=observer,
            retry_after_cap=settings.retry.max_delay,
            drive=drive,
        )
        worker = ItemWorker(
            store=store,
            engine=engine,
            providers=providers,
            archive_root=root,
            clock=clock,
            owner=owner,
            extract=settings.archive.extract,
            poll=settings.poll,
            repair_attempts=settings.transfer.repair_attempts,
            observer=observer,
            retry=settings.retry,
        )
        deliverer = Deliverer(
            outbox=store.outbox, hooks=settings.hooks, session=session, clock=clock, owner=owner
        )
        worker.hooks = settings.hooks
        worker.outbox_written = deliverer.wake
        catalog = CatalogLinks(Jail(root), every=CATALOG_EVERY)
        await catalog.open()
        worker.catalog = catalog
        try:
            yield Service(clock, store, session, worker, observer, deliverer, catalog)
        finally:
            try:
                await catalog.close()
            finally:
                engine.close()
                await holder.aclose()


async def run_once(
    settings: Settings,
    items: Sequence[ItemRef],
    *,
    sources: Sequence[SourceRef] = (),
    board: ProgressBoard | None = None,
    progress: Callable[[ProgressBoard], Coroutine[Any, Any, None]] | None = None,
    observer: Observer | None = None,
) -> BatchResult:
    """Batch mode with real effects; raises `Interrupted` on SIGINT/SIGTERM.  With a
    `board`, the run's progress is kept there, and `progress` (a display) is shown it."""
    owner = f"{settings.service.node_id}:once"
    interrupted = False
    async with (
        open_service(settings, owner, board, observer=observer) as service,
        anyio.create_task_group() as tg,
    ):

        async def watch_signals() -> None:
            nonlocal interrupted
            with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                async for _ in signals:
                    interrupted = True
                    tg.cancel_scope.cancel()
                    return

        tg.start_soon(watch_signals)
        tg.start_soon(service.catalog.run)
        if progress is not None and board is not None:
            tg.start_soon(progress, board)
        # hook events are delivered while the items are worked, beside them
        delivering = anyio.CancelScope()
        delivered = anyio.Event()

        async def deliver() -> None:
            with delivering:
                await service.deliverer.run()
            delivered.set()

        tg.start_soon(deliver)
        result = await run_batch(
            items,
            sources=sources,
            store=service.store,
            worker=service.worker,
            clock=service.clock,
            owner=owner,
            concurrency=settings.transfer.limits.max_concurrent,
            lease=timedelta(seconds=settings.service.lease_duration),
        )
        if board is not None:
            board.ended = service.clock.monotonic()
        # what the run recorded and could not deliver yet gets a bounded wait, from the
        # deliverer already running (a delivery in flight is not cut short to be sent
        # again); the next run delivers the rest
        service.deliverer.finish()
        with anyio.move_on_after(settings.service.hook_wait):
            await delivered.wait()
        delivering.cancel()
        left = await service.deliverer.left()
        result = dataclasses.replace(result, hooks_left=left)
        tg.cancel_scope.cancel()
    if interrupted:
        raise Interrupted
    return result
