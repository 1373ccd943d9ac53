"""The one scheduler behind both drivers: batch (`once`) and the daemon (`run`).

It is a few small parts started in one task group, told apart by a `Policy`
rather than by flags:

- the claim loop (`_claims`) claims due items into free slots, waiting ones of a
  provider that can survey into the waiting room;
- the flight (`_flight`) works each claimed item in its own task;
- the lease keeper (`_leases`) renews the leases held, and cancels the work of an
  item whose lease was lost;
- the room's tender (`_room_tender`) surveys the waiters and hands back the done;
- the heartbeat (`_heartbeat`) beats after each lap of the claim loop;
- the source tender (`_sources`) lists the watchlist's sources when due.

`stop(grace)` ends claiming and lets the items in flight finish for `grace`
seconds (`move_on_after`); then their tasks are cancelled.  The transfer engine
saves its checkpoint on cancellation, and each task releases its lease as it ends.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from datetime import timedelta

import anyio
import structlog

from downloader.clock import Clock
from downloader.errors import StoreError
from downloader.items import ItemRef
from downloader.providers import SurveyAnswer
from downloader.runners._claims import BATCH_RECHECK, Claimer
from downloader.runners._flight import Flight, release
from downloader.runners._heartbeat import Beat, keep_beating
from downloader.runners._leases import keep_leases
from downloader.runners._pipeline import ItemWorker
from downloader.runners._policy import ONCE, RUN, Policy
from downloader.runners._room_tender import RoomTender
from downloader.runners._sources import SourceTender
from downloader.runners._waitroom import WaitingRoom
from downloader.sources import SourceRef
from downloader.store import ItemRecord, StateStore, SyncResult

__all__ = ["BATCH_RECHECK", "ONCE", "RUN", "Policy", "Scheduler"]

log = structlog.get_logger("downloader.scheduler")


class Scheduler:
    """Claims due items and works each one in its own task, up to `concurrency` at once."""

    def __init__(
        self,
        *,
        store: StateStore,
        worker: ItemWorker,
        clock: Clock,
        owner: str,
        concurrency: int,
        policy: Policy,
        lease: float = 120.0,
        heartbeat: Beat | None = None,
        heartbeat_interval: float | None = None,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.store, self.worker, self.clock, self.owner = store, worker, clock, owner
        self.policy = policy
        self.lease = timedelta(seconds=lease)
        self.heartbeat, self.heartbeat_interval = heartbeat, heartbeat_interval
        self._refs: dict[str, ItemRef] | None = None  # None: no watchlist read yet
        self._stop_grace: float | None = None
        self._room = WaitingRoom(lambda: worker.schedule.poll, rand)
        self.flight = Flight(
            store=store, worker=worker, owner=owner, concurrency=concurrency, on_end=self.wake
        )
        self.room_tender = RoomTender(
            room=self._room,
            store=store,
            worker=worker,
            clock=clock,
            owner=owner,
            lease=self.lease,
            refs=lambda: self._refs or {},
            wake_loop=self.wake,
        )
        self.claimer = Claimer(
            store=store,
            clock=clock,
            owner=owner,
            lease=self.lease,
            policy=policy,
            flight=self.flight,
            tender=self.room_tender,
            refs=lambda: self._refs,
        )
        self.tender = SourceTender(
            store=store,
            worker=worker,
            clock=clock,
            owner=owner,
            lease=self.lease,
            on_listed=self.add_listed,
            on_answer=self._heard,
            contain_errors=policy.contain_errors,
        )
        """Lists the watchlist's sources; kept going when the policy tends them."""

    @property
    def in_flight(self) -> frozenset[str]:
        """Keys of the items being worked right now."""
        return self.flight.members()

    @property
    def active_keys(self) -> frozenset[str]:
        """Keys of the items of the watchlist in use."""
        return frozenset(self._refs or ())

    @property
    def waiting_room(self) -> frozenset[str]:
        """Keys of the items waiting in the waiting room."""
        return self._room.members()

    @property
    def stopping(self) -> bool:
        return self._stop_grace is not None

    def wake(self) -> None:
        """Make the loop look again now (something changed)."""
        self.claimer.wake()

    def stop(self, grace: float) -> None:
        """Claim nothing more; give the items in flight `grace` seconds, then cancel them."""
        if self._stop_grace is None:
            self._stop_grace = grace
        self.claimer.stop()

    def cancel_all(self, reason: str = "interrupted") -> None:
        self.flight.cancel_all(reason)

    async def set_watchlist(
        self, refs: Iterable[ItemRef], sources: Iterable[SourceRef] = ()
    ) -> SyncResult:
        """Make `refs`, and what `sources` listed, the active items; the work of an item no
        longer listed, or listed with another definition (`SyncResult.redefined`), is
        cancelled.

        Its partial progress stays in the store and on disk for a later re-add, and an
        archived bag is never touched (the store only marks the item inactive).
        """
        wanted = {ref.key: ref for ref in refs}
        result = await self.tender.sync(wanted, sources)  # adds what the sources listed
        for key, reason in result.refused:  # never in the store: nothing to claim
            log.error("watchlist.refused", item=key, reason=reason)
            del wanted[key]
        self._refs = wanted
        for key in (*result.removed, *result.redefined):
            self.worker.forget(key)
        for key in self.flight.members():
            if key not in wanted:
                self.flight.cancel(key, "removed from the watchlist")
            elif key in result.redefined:  # claimed again, it is worked as now listed
                self.flight.cancel(key, "its definition changed in the watchlist")
        for key in self._room.members() - wanted.keys():
            self._room.remove(key)
            await release(self.store, self.owner, key)
        self.room_tender.turn_next &= wanted.keys()
        self.wake()
        return result

    def add_listed(self, refs: list[ItemRef]) -> None:
        """Items a source listed (now in the store): worked as if the watchlist named them."""
        if self._refs is None:
            return
        known = len(self._refs)
        for ref in refs:
            self._refs.setdefault(ref.key, ref)
        if len(self._refs) > known:  # a listing of what is known already changes nothing
            self.wake()

    async def _heard(self, listed: list[ItemRef], answer: SurveyAnswer, next_in: float) -> None:
        # a policy that lists sources only at its start never lists them again: their
        # waiting jobs keep their own schedule after that one listing
        again = next_in if self.policy.tends_sources else None
        await self.room_tender.heard(listed, answer, again)

    async def active_records(self) -> list[ItemRecord]:
        refs = self._refs or {}
        return [r for r in await self.store.list_items() if r.key in refs]

    async def run(self) -> None:
        """Work items until stopped, or (a policy `until_done`) until all are terminal."""
        if not self.policy.tends_sources:  # listed once, before the first claim
            await self.tender.list_due(every=True)
        async with anyio.create_task_group() as items, anyio.create_task_group() as side:
            side.start_soon(self._keep_leases)
            side.start_soon(self.room_tender.run)
            if self.heartbeat is not None and self.heartbeat_interval is not None:
                pulse = self.claimer.pulse
                side.start_soon(
                    keep_beating, self.heartbeat, self.heartbeat_interval, pulse, self.clock
                )
            if self.policy.tends_sources:
                side.start_soon(self.tender.run)
            await self.claimer.run(items)
            await self._drain()
            side.cancel_scope.cancel()
        if len(self._room):  # nothing of ours is in flight any more: one statement
            with anyio.CancelScope(shield=True):
                try:
                    await self.store.release_all(self.owner)
                except StoreError as exc:  # the leases then simply expire
                    log.warning("lease.release_failed", error=str(exc), items=len(self._room))
            self._room.clear()

    async def _keep_leases(self) -> None:
        await keep_leases(
            store=self.store,
            worker=self.worker,
            clock=self.clock,
            owner=self.owner,
            lease=self.lease,
            flight=self.flight,
            room=self._room,
        )

    async def _drain(self) -> None:
        if not len(self.flight):
            return
        grace = self._stop_grace or 0.0
        log.info("daemon.draining", items=len(self.flight), grace_period=grace)
        with anyio.move_on_after(grace):
            await self.flight.emptied()
        self.flight.cancel_all("grace period over")
        await self.flight.emptied()
