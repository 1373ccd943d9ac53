"""One `ItemWorker` with real effects (SQLite store, engine, the real clock) for `http:file` items.

Used where a test needs the pipeline's own answer to a broken environment (a full or
read-only disk, TLS, unreachable hosts) without the 30 s retry delay of batch mode.
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import aiohttp
from anyio.abc import TaskGroup

from downloader.clock import Clock, SystemClock
from downloader.config import PollSettings, ProvidersSettings, RetrySettings
from downloader.items import ItemRef
from downloader.providers import build_providers
from downloader.runners._drive import drive
from downloader.runners._pipeline import ItemWorker
from downloader.store import ItemState, StateStore, open_store
from downloader.store._models import AssetRecord
from downloader.transfer import Limits, RetryPolicy, Timeouts, TransferEngine
from downloader.transfer._space import SpaceGuard

OWNER = "test-worker"


@dataclass
class Harness:
    store: StateStore
    engine: TransferEngine
    worker: ItemWorker
    root: Path

    clock: Clock

    async def work(self, ref: ItemRef) -> ItemState:
        """Claim `ref` (registering it first), work it once and release it, as batch mode
        would."""
        clock = self.clock
        await self.store.sync_watchlist([ref], now=clock.utcnow())
        claimed = await self.store.claim(
            OWNER, now=clock.utcnow(), lease=timedelta(minutes=5), limit=10
        )
        assert ref.key in {c.key for c in claimed}, claimed
        state = await self.worker.work(ref)
        await self.store.release(OWNER, ref.key)  # as the scheduler does after each turn
        return state

    def work_soon(self, tg: TaskGroup, ref: ItemRef) -> list[ItemState]:
        """Start `work(ref)` in `tg`; the list its end state is put in once it ends."""
        states: list[ItemState] = []

        async def work() -> None:
            states.append(await self.work(ref))

        tg.start_soon(work)
        return states

    async def leave(
        self, ref: ItemRef, states: Sequence[ItemState], assets: Iterable[AssetRecord]
    ) -> None:
        """The store as a process killed in `ref`'s turn leaves it: the item moved through
        `states` with `assets` recorded, and its lease given up as at the next start."""
        store, now = self.store, self.clock.utcnow()
        await store.sync_watchlist([ref], now=now)
        await store.claim(OWNER, now=now, lease=timedelta(minutes=5), limit=1)
        for state in states:
            await store.transition(ref.key, state, now=now, owner=OWNER)
        for record in assets:
            await store.save_asset(record, now=now)
        await store.release(OWNER, ref.key)


def http_item(url: str, name: str = "item") -> ItemRef:
    return ItemRef("http", "file", (name,), url=url)


@contextlib.asynccontextmanager
async def http_harness(
    tmp_path: Path,
    root: Path,
    *,
    min_free_space: int = 0,
    space_interval: float = 0.02,
    ssl_context: ssl.SSLContext | None = None,
    resolver: aiohttp.abc.AbstractResolver | None = None,
    retry: RetryPolicy | None = None,
    clock: Clock | None = None,
    repair_attempts: int = 3,
) -> AsyncIterator[Harness]:
    clock = clock or SystemClock()
    limits = Limits(segment_min_size=1 << 20, segments=2, min_free_space=min_free_space)
    connector = aiohttp.TCPConnector(
        limit=0, ssl=ssl_context if ssl_context is not None else True, resolver=resolver
    )
    async with (
        open_store(f"sqlite:///{tmp_path / 'state.db'}") as store,
        aiohttp.ClientSession(connector=connector, auto_decompress=False) as session,
    ):
        engine = TransferEngine(
            session,
            partial_root=root / ".partial",
            limits=limits,
            timeouts=Timeouts(connect=5, stall=5),
            retry=retry
            or RetryPolicy(
                attempts=2, backoff_base=0.01, backoff_cap=0.02, verify_attempts=repair_attempts
            ),
            clock=clock,
            space=SpaceGuard(root, min_free_space, clock, interval=space_interval),
        )
        worker = ItemWorker(
            store=store,
            engine=engine,
            providers=build_providers(
                ProvidersSettings(),
                session,
                clock,
                PollSettings(initial_interval=0.05),
                drive=drive,
            ),
            archive_root=root,
            clock=clock,
            owner=OWNER,
            retry=RetrySettings(initial_delay=0.0, max_delay=0.0),
            repair_attempts=repair_attempts,
        )
        yield Harness(store, engine, worker, root, clock)
