"""Keeping the leases of the items a runner works on, and letting go of lost ones.

A runner that claimed items works them under `keeper.holding(key)` while
`keeper.run()` renews every held lease each third of the lease.  When the store
answers that a lease is no longer ours (we were too slow, the database was
unreachable for longer than a lease, another host took the item over), the
work on that item is cancelled at once: two hosts must not write the same item.
The store fences the writes too (`LeaseLost`); this stops the bytes.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import anyio
import structlog

from downloader.clock import Clock
from downloader.errors import StoreError
from downloader.store import StateStore

__all__ = ["LeaseKeeper"]

log = structlog.get_logger("downloader.leases")


class LeaseKeeper:
    """Renews `owner`'s leases on the items being worked; cancels work whose lease is lost."""

    def __init__(self, store: StateStore, owner: str, clock: Clock, lease: timedelta) -> None:
        self.store, self.owner, self.clock, self.lease = store, owner, clock, lease
        self._scopes: dict[str, anyio.CancelScope] = {}

    @property
    def held(self) -> frozenset[str]:
        """The keys being worked right now."""
        return frozenset(self._scopes)

    @contextmanager
    def holding(self, key: str) -> Iterator[None]:
        """Work on `key` inside this block; it is cancelled if the lease is lost."""
        scope = anyio.CancelScope()
        self._scopes[key] = scope
        try:
            with scope:
                yield
        finally:
            if self._scopes.get(key) is scope:
                del self._scopes[key]

    async def run(self) -> None:
        """Renew every third of the lease, until cancelled."""
        period = max(0.05, self.lease.total_seconds() / 3)
        while True:
            await self.clock.sleep(period)
            try:
                await self.renew_now()
            except StoreError as exc:  # try again next period; the lease still runs
                log.warning("lease.renew_failed", owner=self.owner, error=str(exc))

    async def renew_now(self) -> frozenset[str]:
        """Renew the held leases now; returns the keys whose lease was lost (now cancelled)."""
        scopes = dict(self._scopes)
        if not scopes:
            return frozenset()
        kept = await self.store.renew(
            self.owner, list(scopes), now=self.clock.utcnow(), lease=self.lease
        )
        lost = frozenset(scopes) - kept
        for key in sorted(lost):
            log.warning("item.lease_lost", item=key, owner=self.owner)
            scopes[key].cancel()
        return lost
