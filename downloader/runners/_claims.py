"""Claiming: due items into free slots, waiting ones into the waiting room.

The loop claims as many due items as there are free slots and starts each in its
own task at once, so a finished item's slot is refilled without waiting for the
others.  When there is nothing to claim it sleeps until the store's next due
time, or until it is woken: an item finished, the watchlist changed, a stop was
asked for, the heartbeat wants a lap.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta

import anyio
import structlog
from anyio.abc import TaskGroup

from downloader.clock import Clock
from downloader.errors import StoreError
from downloader.items import ItemRef
from downloader.runners._flight import Flight
from downloader.runners._heartbeat import Pulse
from downloader.runners._nap import nap
from downloader.runners._policy import Policy
from downloader.runners._room_tender import (
    ABSORB_PACE,
    IDLE_RECHECK,
    RoomTender,
    absorb_share,
)
from downloader.store import ItemRecord, StateStore, is_terminal

log = structlog.get_logger("downloader.scheduler")

MIN_WAIT = 0.05
"""Shortest sleep when the store says something is due but nothing could be claimed."""
STORE_RETRY = 5.0
"""Sleep after the store failed a claim (e.g. locked by another process too long)."""
FOREIGN_RECHECK = 1.0
"""Shortest sleep when all that was due belongs to another process's watchlist."""
BATCH_RECHECK = 2.0
"""Longest sleep of a batch run while other processes hold unfinished items: how soon
it sees that they are done (their leases may run for minutes)."""
PEER_RECHECK = 1.0
"""Longest sleep of a daemon with a free slot while another process holds unfinished
items: a room hands back an item whose job ended by dropping its lease, waking only
its own host's loop; a peer napping until that lease would run out (minutes) or for
IDLE_RECHECK leaves its slots idle while such items queue for the holder's slots."""


def wait_after_claim(
    *, claimed_any: bool, due_in: float | None, others_hold: bool, peers_hold: bool = False
) -> float:
    """Seconds to sleep after a claim that started nothing.

    `claimed_any`: it claimed only items another watchlist lists, which stay due;
    `due_in`: the store's next due time from now; `others_hold`: a batch whose
    remaining items other processes hold; `peers_hold`: a daemon, a slot free, while
    other processes hold unfinished items (in their rooms or slots)."""
    wait = BATCH_RECHECK if others_hold else IDLE_RECHECK
    if peers_hold:
        wait = min(wait, PEER_RECHECK)
    if due_in is not None:
        floor = FOREIGN_RECHECK if claimed_any else MIN_WAIT
        wait = min(wait, max(floor, due_in))
    return wait


class Claimer:
    """The claim loop; `run` returns when stopped or (`until_done`) all is terminal."""

    def __init__(
        self,
        *,
        store: StateStore,
        clock: Clock,
        owner: str,
        lease: timedelta,
        policy: Policy,
        flight: Flight,
        tender: RoomTender,
        refs: Callable[[], Mapping[str, ItemRef] | None],
    ) -> None:
        self.store, self.clock, self.owner, self.lease = store, clock, owner, lease
        self.policy, self.flight, self.tender = policy, flight, tender
        self._refs = refs
        self._wake = anyio.Event()
        self._share = 0
        """While waiting items are taken into the room with slots free: the next
        paced claim's size (`absorb_share`); 0 otherwise."""
        self.stopping = False
        self.pulse = Pulse(self.wake)

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self.stopping = True
        self.wake()

    async def run(self, items: TaskGroup) -> None:
        try:
            while not self.stopping:
                self._wake = anyio.Event()
                self.pulse.lapped()
                wait = await self._lap(items)
                if wait is None:
                    return
                await nap(self.clock, wait, self._wake)
        finally:
            self.pulse.free()

    async def _lap(self, items: TaskGroup) -> float | None:
        """One look at the store: the seconds to sleep, 0 to go on, None when done."""
        if self._refs() is None:  # no watchlist read yet
            return IDLE_RECHECK
        try:
            if self.flight.free == 0:
                return await self.tender.take_in()
            return await self._claim(items)
        except StoreError as exc:
            if not self.policy.contain_errors:
                raise
            log.warning("scheduler.store_error", error=str(exc))
            return STORE_RETRY

    async def _claim(self, items: TaskGroup) -> float | None:
        free = self.flight.free
        if self._share:  # taking waiting items in, a peer given room between claims
            share, self._share = self._share, 0
            if await self.tender.intake(share):
                self._share = absorb_share(free, share)
                return ABSORB_PACE
            return 0.0  # the rest due (if any) is for the slots: claim them at once
        claimed = await self.store.claim(
            self.owner, now=self.clock.utcnow(), lease=self.lease, limit=free
        )
        before = len(self.tender.room)
        started = await self._start(items, claimed)
        # a full claim that all went to the room: more are likely due
        absorbing = len(claimed) == free and len(self.tender.room) - before == free
        self.tender.absorb(absorbing)
        if absorbing:
            self._share = absorb_share(free, free)
            return ABSORB_PACE
        if started:
            return 0.0
        done = self.policy.until_done and not len(self.flight)
        if done and await self._all_terminal():
            return None
        due = await self.store.next_due(self.owner)
        # what is left may be another process's, which may end any time without
        # anything here hearing of it: look again soon
        others = done and not len(self.tender.room) and await self.store.held_elsewhere(self.owner)
        due_in = None if due is None else (due - self.clock.utcnow()).total_seconds()
        peers = (
            not self.policy.until_done
            and (due_in is None or due_in > PEER_RECHECK)
            and await self.store.held_elsewhere(self.owner)
        )
        return wait_after_claim(
            claimed_any=bool(claimed), due_in=due_in, others_hold=others, peers_hold=peers
        )

    async def _start(self, items: TaskGroup, claimed: list[ItemRecord]) -> bool:
        refs = self._refs() or {}
        started = False
        for record in claimed:
            ref = refs.get(record.key)
            if ref is None:  # listed in the store by another watchlist; not ours to work
                await self.store.release(self.owner, record.key)
                continue
            started = True
            if self.tender.wants(ref, record):
                self.tender.admit(ref)
                continue
            self.tender.turn_next.discard(ref.key)
            self.flight.start(items, ref, record)
        return started

    async def _all_terminal(self) -> bool:
        refs = self._refs() or {}
        return all(is_terminal(r.state) for r in await self.store.list_items() if r.key in refs)
