"""Lease keeping: the leases of the items in flight and in the waiting room are
renewed every third of their length.

An item in flight whose lease passed to another owner has its work cancelled at
once (the other owner works it now, and a write from here would be refused
anyway); a waiter's simply leaves the room.
"""

from __future__ import annotations

from datetime import timedelta

import structlog

from downloader.clock import Clock
from downloader.errors import StoreError
from downloader.runners._flight import Flight
from downloader.runners._pipeline import ItemWorker
from downloader.runners._waitroom import WaitingRoom
from downloader.store import StateStore

log = structlog.get_logger("downloader.scheduler")


async def keep_leases(
    *,
    store: StateStore,
    worker: ItemWorker,
    clock: Clock,
    owner: str,
    lease: timedelta,
    flight: Flight,
    room: WaitingRoom,
) -> None:
    every = lease.total_seconds() / 3
    while True:
        await clock.sleep(every)
        waiting = room.members()
        keys = flight.held() + list(waiting)
        if not keys:
            continue
        try:
            held = await store.renew(owner, keys, now=clock.utcnow(), lease=lease)
        except StoreError as exc:
            log.warning("lease.renew_failed", error=str(exc), items=len(keys))
            continue
        for key in waiting - held:
            if room.remove(key):
                worker.observer.lease_lost()
                log.warning("item.lease_lost", item=key, where="waiting room")
        for key in keys:
            if key in held or key not in flight:
                continue
            try:
                record = await store.get(key)
            except StoreError:
                continue  # asked again at the next renewal
            holder = None if record is None else record.lease_owner
            if holder is None:
                continue  # released by its own worker as it finished: not lost
            flight.lose(key)
            worker.observer.lease_lost()
            log.warning("item.lease_lost", item=key, holder=holder)
