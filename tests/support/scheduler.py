"""The runners of a composed `Service` as the tests drive them in-process: a daemon-style
`Scheduler` (owner "me", two at a time, the `run` policy) and a batch to the end."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import timedelta
from typing import Any

import anyio
from anyio.abc import TaskGroup

from downloader.items import ItemRef
from downloader.runners._batch import BatchResult, run_batch
from downloader.runners._compose import Service
from downloader.runners._scheduler import RUN, Scheduler
from downloader.sources import SourceRef
from downloader.store import StateStore


def scheduler_of(
    service: Service,
    owner: str = "me",
    *,
    concurrency: int = 2,
    store: StateStore | None = None,
    **options: Any,
) -> Scheduler:
    """A scheduler of `service`'s worker and clock, on its store unless given another."""
    return Scheduler(
        store=service.store if store is None else store,
        worker=service.worker,
        clock=service.clock,
        owner=owner,
        concurrency=concurrency,
        policy=RUN,
        **options,
    )


async def start_scheduler(
    tg: TaskGroup,
    service: Service,
    refs: Iterable[ItemRef] = (),
    sources: Iterable[SourceRef] = (),
    **options: Any,
) -> Scheduler:
    """`scheduler_of(service, **options)` given `refs` and `sources`, running in `tg`
    until stopped."""
    scheduler = scheduler_of(service, **options)
    await scheduler.set_watchlist(refs, sources)
    tg.start_soon(scheduler.run)
    return scheduler


@contextlib.asynccontextmanager
async def working(
    service: Service,
    refs: Iterable[ItemRef] = (),
    sources: Iterable[SourceRef] = (),
    **options: Any,
) -> AsyncIterator[Scheduler]:
    """A started scheduler (as `start_scheduler`) that is stopped with no grace when the
    block ends."""
    async with anyio.create_task_group() as tg:
        scheduler = await start_scheduler(tg, service, refs, sources, **options)
        try:
            yield scheduler
        finally:
            scheduler.stop(0)


async def batch_of(
    service: Service,
    refs: Sequence[ItemRef],
    *,
    owner: str,
    concurrency: int = 2,
    lease: timedelta | None = None,
) -> BatchResult:
    """`refs` worked to the end by `service` as `once` works them (with leases of
    `lease` when given, else the batch's own)."""
    run = run_batch if lease is None else functools.partial(run_batch, lease=lease)
    return await run(
        refs,
        store=service.store,
        worker=service.worker,
        clock=service.clock,
        owner=owner,
        concurrency=concurrency,
    )
