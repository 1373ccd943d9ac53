"""The one scheduler loop behind both drivers: batch (`once`) and the daemon (`run`).

A slot is a token of a `CapacityLimiter`; each item in flight holds one, on
behalf of its key, from claim to the end of its task.  The loop claims as many
due items as there are free slots and starts each in its own task at once, so
a finished item's slot is refilled without waiting for the others.  When there
is nothing to claim it sleeps until the store's next due time, or until it is
woken: an item finished, the watchlist changed, a stop was asked for.

An item that waits on its platform's job, of a provider that can answer for many
such items at once (`JobSurvey`), takes no slot while it waits: it goes to the
waiting room (`_waitroom`), whose tender asks about every waiter that is due in
one survey, keeps the lease of each, and hands a waiter whose job no longer runs
back (its lease dropped, marked for a turn), to be claimed for a turn of its own.

Leases are renewed every third of their length for the items in flight and in
the waiting room.  An
item whose lease passed to another owner has its task cancelled at once: the
other owner works it now, and a write from here would be refused anyway.

The loop also beats: `heartbeat` is awaited from inside it every
`heartbeat_interval` seconds (the daemon pings the systemd watchdog there), so
a loop that hangs stops the pings.

`stop(grace)` ends claiming and lets the items in flight finish for `grace`
seconds; then their tasks are cancelled.  The transfer engine saves its
checkpoint on cancellation, and each task releases its lease as it ends.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import timedelta

import anyio
import structlog
from anyio.abc import TaskGroup

from downloader.clock import Clock
from downloader.errors import LeaseLost, StoreError
from downloader.items import ItemRef
from downloader.providers import JobSurvey, survey_of
from downloader.runners._pipeline import ItemWorker
from downloader.runners._waitroom import WaitingRoom
from downloader.store import ItemRecord, ItemState, StateStore, SyncResult, is_terminal

log = structlog.get_logger("downloader.scheduler")

Heartbeat = Callable[[], Awaitable[None]]

IDLE_RECHECK = 60.0
"""Longest sleep without a due time or a wake-up: a cheap safety re-check."""
MIN_WAIT = 0.05
"""Shortest sleep when the store says something is due but nothing could be claimed."""
STORE_RETRY = 5.0
"""Sleep after the store failed a claim (e.g. locked by another process too long)."""
FOREIGN_RECHECK = 1.0
"""Shortest sleep when all that was due belongs to another process's watchlist."""
BATCH_RECHECK = 2.0
"""Longest sleep of a batch run while other processes hold unfinished items: how soon
it sees that they are done (their leases may run for minutes)."""
INTAKE_EVERY = 5.0
"""While every slot is busy, how often due waiting items are claimed into the room."""
ROOM_INTAKE = 256
"""Waiting items claimed into the room at once while every slot is busy."""
ABSORB_AT_MOST = 5.0
"""Seconds a sweep of the waiting room may wait past its time while the loop is still
claiming waiting items into it (a fresh watchlist, a restart), so that they are all
asked about in one sweep rather than in several that never merge again."""


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
        lease: float = 120.0,
        contain_errors: bool = False,
        heartbeat: Heartbeat | None = None,
        heartbeat_interval: float | None = None,
        surveys: bool = True,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.store, self.worker, self.clock, self.owner = store, worker, clock, owner
        self.lease = timedelta(seconds=lease)
        self.contain_errors = contain_errors
        self.heartbeat = heartbeat
        self.heartbeat_interval = heartbeat_interval
        self._limiter = anyio.CapacityLimiter(concurrency)
        self._refs: dict[str, ItemRef] | None = None  # None: no watchlist read yet
        self._in_flight: dict[str, anyio.CancelScope] = {}
        self._why_cancelled: dict[str, str] = {}
        self._lost: set[str] = set()
        self._wake = anyio.Event()
        self._stop_grace: float | None = None
        self._next_beat = clock.monotonic()
        self.surveys = surveys
        """Whether waiting items of a `JobSurvey` provider go to the waiting room."""
        self._room = WaitingRoom(lambda: worker.poll, rand)
        self._room_wake = anyio.Event()
        self._turn_next: set[str] = set()
        """Handed back by the waiting room: their next claim starts a turn."""
        self._absorbing = False
        """The last claim was full and all went to the waiting room."""
        self._next_intake = clock.monotonic()
        self._surveys_off: set[str] = set()
        """Providers whose survey raised something of no tree: their waiting items are
        asked about one by one for the rest of the process."""

    @property
    def in_flight(self) -> frozenset[str]:
        """Keys of the items being worked right now."""
        return frozenset(self._in_flight)

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
        self._wake.set()

    def stop(self, grace: float) -> None:
        """Claim nothing more; give the items in flight `grace` seconds, then cancel them."""
        if self._stop_grace is None:
            self._stop_grace = grace
        self.wake()

    def cancel_all(self, reason: str = "interrupted") -> None:
        for key in list(self._in_flight):
            self._cancel(key, reason)

    async def set_watchlist(self, refs: Iterable[ItemRef]) -> SyncResult:
        """Make `refs` the active items; the work of an item no longer listed, or listed
        with another definition (`SyncResult.redefined`), is cancelled.

        Its partial progress stays in the store and on disk for a later re-add, and an
        archived bag is never touched (the store only marks the item inactive).
        """
        wanted = {ref.key: ref for ref in refs}
        result = await self.store.sync_watchlist(wanted.values(), now=self.clock.utcnow())
        for key, reason in result.refused:  # never in the store: nothing to claim
            log.error("watchlist.refused", item=key, reason=reason)
            del wanted[key]
        self._refs = wanted
        for key in (*result.removed, *result.redefined):
            self.worker.forget(key)
        for key in list(self._in_flight):
            if key not in wanted:
                self._cancel(key, "removed from the watchlist")
            elif key in result.redefined:  # claimed again, it is worked as now listed
                self._cancel(key, "its definition changed in the watchlist")
        for key in self._room.members() - wanted.keys():
            self._room.remove(key)
            await self._release(key)
        self._turn_next &= wanted.keys()
        self.wake()
        return result

    async def active_records(self) -> list[ItemRecord]:
        refs = self._refs or {}
        return [r for r in await self.store.list_items() if r.key in refs]

    async def run(self, *, until_done: bool) -> None:
        """Work items until stopped, or (with `until_done`) until every item is terminal."""
        async with anyio.create_task_group() as items, anyio.create_task_group() as side:
            side.start_soon(self._renew_leases)
            side.start_soon(self._tend_room)
            await self._loop(items, until_done=until_done)
            await self._drain()
            side.cancel_scope.cancel()
        if len(self._room):  # nothing of ours is in flight any more: one statement
            with anyio.CancelScope(shield=True):
                try:
                    await self.store.release_all(self.owner)
                except StoreError as exc:  # the leases then simply expire
                    log.warning("lease.release_failed", error=str(exc), items=len(self._room))
            self._room.clear()

    # -- the loop -----------------------------------------------------------------------

    async def _loop(self, items: TaskGroup, *, until_done: bool) -> None:
        while not self.stopping:
            self._wake = anyio.Event()
            await self._beat_if_due()
            free = int(self._limiter.available_tokens)
            wait = IDLE_RECHECK
            if free == 0 and self._refs is not None:
                try:
                    wait = await self._take_in_waiting()
                except StoreError as exc:
                    if not self.contain_errors:
                        raise
                    log.warning("scheduler.store_error", error=str(exc))
                    wait = STORE_RETRY
            if free > 0 and self._refs is not None:
                try:
                    claimed = await self.store.claim(
                        self.owner, now=self.clock.utcnow(), lease=self.lease, limit=free
                    )
                    before = len(self._room)
                    started = await self._start(items, claimed)
                    # a full claim that all went to the room: more are likely due
                    self._absorb(len(claimed) == free and len(self._room) - before == free)
                    if started:
                        continue
                    if until_done and not self._in_flight and await self._all_terminal():
                        return
                    due = await self.store.next_due(self.owner)
                    # what is left may be another process's, which may end any time
                    # without anything here hearing of it: look again soon
                    idle = until_done and not self._in_flight and not len(self._room)
                    if idle and await self.store.held_elsewhere(self.owner):
                        wait = BATCH_RECHECK
                except StoreError as exc:
                    if not self.contain_errors:
                        raise
                    log.warning("scheduler.store_error", error=str(exc))
                    claimed, due = [], None
                    wait = STORE_RETRY
                if due is not None:
                    # items listed by another watchlist stay due; look again in a while
                    floor = FOREIGN_RECHECK if claimed else MIN_WAIT
                    wait = min(wait, max(floor, (due - self.clock.utcnow()).total_seconds()))
            await self._wait(min(wait, self._until_beat()))

    async def _start(self, items: TaskGroup, claimed: list[ItemRecord]) -> bool:
        started = False
        for record in claimed:
            ref = (self._refs or {}).get(record.key)
            if ref is None:  # listed in the store by another watchlist; not ours to work
                await self.store.release(self.owner, record.key)
                continue
            started = True
            if self._can_wait_in_room(ref, record):
                self._admit(ref)
                continue
            self._turn_next.discard(ref.key)
            scope = anyio.CancelScope()
            self._in_flight[ref.key] = scope
            self._limiter.acquire_on_behalf_of_nowait(ref.key)
            items.start_soon(self._work_one, ref, scope, record, name=f"item {ref.key}")
        return started

    def _admit(self, ref: ItemRef) -> None:
        """Into the waiting room, its schedule going on from its earlier turns."""
        since = self.worker.waiting_since(ref.key)
        self._room.admit(ref.key, started=since, now=self.clock.monotonic())
        self._room_wake.set()

    def _can_wait_in_room(self, ref: ItemRef, record: ItemRecord) -> bool:
        if not self.surveys or record.state is not ItemState.WAITING:
            return False
        if ref.key in self._turn_next:
            return False
        survey = self._survey_of(ref.provider)
        return survey is not None and survey.can_survey(ref)

    def _survey_of(self, provider: str) -> JobSurvey | None:
        """The survey of `provider`, unless it crashed in this process."""
        if provider in self._surveys_off:
            return None
        return survey_of(self.worker.providers.get(provider))

    async def _all_terminal(self) -> bool:
        return all(is_terminal(r.state) for r in await self.active_records())

    async def _drain(self) -> None:
        if not self._in_flight:
            return
        grace = self._stop_grace or 0.0
        deadline = self.clock.monotonic() + grace
        log.info("daemon.draining", items=len(self._in_flight), grace_period=grace)
        while self._in_flight and self.clock.monotonic() < deadline:
            self._wake = anyio.Event()
            await self._beat_if_due()
            await self._wait(min(deadline - self.clock.monotonic(), self._until_beat()))
        self.cancel_all("grace period over")
        while self._in_flight:
            self._wake = anyio.Event()
            await self._beat_if_due()
            await self._wait(self._until_beat())

    async def _wait(self, seconds: float, event: anyio.Event | None = None) -> None:
        """Sleep `seconds` on the injected clock, or less if woken (by `event`, or
        the loop's own wake-up)."""
        event = event or self._wake
        if event.is_set() or seconds <= 0:
            await anyio.lowlevel.checkpoint()
            return
        async with anyio.create_task_group() as tg:

            async def timer() -> None:
                await self.clock.sleep(seconds)
                tg.cancel_scope.cancel()

            tg.start_soon(timer)
            await event.wait()
            tg.cancel_scope.cancel()

    def _until_beat(self) -> float:
        if self.heartbeat is None or self.heartbeat_interval is None:
            return IDLE_RECHECK
        return max(0.0, self._next_beat - self.clock.monotonic())

    async def _beat_if_due(self) -> None:
        if self.heartbeat is None or self.heartbeat_interval is None:
            return
        now = self.clock.monotonic()
        if now >= self._next_beat:
            self._next_beat = now + self.heartbeat_interval
            await self.heartbeat()

    # -- one item -----------------------------------------------------------------------

    def _cancel(self, key: str, reason: str) -> None:
        scope = self._in_flight.get(key)
        if scope is not None and not scope.cancel_called:
            self._why_cancelled[key] = reason
            scope.cancel()

    async def _work_one(self, ref: ItemRef, scope: anyio.CancelScope, claimed: ItemRecord) -> None:
        key = ref.key
        state: ItemState | None = None
        try:
            with scope:
                state = await self.worker.work(ref, claimed.state, park=True)
            if scope.cancelled_caught:
                log.info("item.stopped", item=key, reason=self._why_cancelled.get(key, ""))
        except LeaseLost as exc:
            self._lost.add(key)
            self.worker.observer.lease_lost()
            log.warning("item.lease_lost", item=key, holder=exc.holder)
        except Exception as exc:  # escaped the worker's own net: this item's, still
            with anyio.CancelScope(shield=True):
                try:
                    state = await self.worker.crashed(ref, exc)
                except Exception as again:  # the store too: the lease runs out, it comes back
                    log.warning("item.schedule_failed", item=key, error=str(again))
        finally:
            del self._in_flight[key]
            self._why_cancelled.pop(key, None)
            self._limiter.release_on_behalf_of(key)
            # the transition to archived or failed dropped the lease with it: one store
            # call fewer per finished item
            if key not in self._lost and (state is None or not is_terminal(state)):
                with anyio.CancelScope(shield=True):
                    await self._release(key)
            self._lost.discard(key)
            self.wake()

    async def _release(self, key: str) -> None:
        try:
            await self.store.release(self.owner, key)
        except StoreError as exc:  # the lease then simply expires
            log.warning("lease.release_failed", item=key, error=str(exc))

    async def _renew_leases(self) -> None:
        every = self.lease.total_seconds() / 3
        while True:
            await self.clock.sleep(every)
            waiting = self._room.members()
            keys = [k for k in self._in_flight if k not in self._lost] + list(waiting)
            if not keys:
                continue
            try:
                held = await self.store.renew(
                    self.owner, keys, now=self.clock.utcnow(), lease=self.lease
                )
            except StoreError as exc:
                log.warning("lease.renew_failed", error=str(exc), items=len(keys))
                continue
            for key in waiting - held:
                if self._room.remove(key):
                    self.worker.observer.lease_lost()
                    log.warning("item.lease_lost", item=key, where="waiting room")
            for key in keys:
                if key in held or key not in self._in_flight:
                    continue
                try:
                    record = await self.store.get(key)
                except StoreError:
                    continue  # asked again at the next renewal
                holder = None if record is None else record.lease_owner
                if holder is None:
                    continue  # released by its own worker as it finished: not lost
                self._lost.add(key)
                self._cancel(key, "lease lost")
                self.worker.observer.lease_lost()
                log.warning("item.lease_lost", item=key, holder=holder)

    # -- the waiting room ---------------------------------------------------------------

    async def _take_in_waiting(self) -> float:
        """With every slot busy, claim due waiting items into the room all the same (only
        those a survey can answer for); the seconds until that is worth doing again."""
        now = self.clock.monotonic()
        if not self.surveys:
            return IDLE_RECHECK
        if now < self._next_intake:
            return self._next_intake - now
        self._next_intake = now + INTAKE_EVERY
        kinds = frozenset(
            f"{name}:{kind}"
            for name in self.worker.providers
            if (survey := self._survey_of(name)) is not None
            for kind in survey.surveyed_kinds()
        )
        if not kinds:
            return INTAKE_EVERY
        claimed = await self.store.claim(
            self.owner, now=self.clock.utcnow(), lease=self.lease, limit=ROOM_INTAKE, waiting=kinds
        )
        refs = self._refs or {}
        admitted = 0
        for record in claimed:
            ref = refs.get(record.key)
            if ref is not None and self._can_wait_in_room(ref, record):
                self._admit(ref)
                admitted += 1
            else:  # not ours, or its turn is next: a claim for a free slot takes it
                await self._release(record.key)
        more = len(claimed) == ROOM_INTAKE and admitted == len(claimed)
        self._absorb(more)
        if more:  # more are likely due: go on at once
            self._next_intake = now
        return self._next_intake - now

    def _absorb(self, absorbing: bool) -> None:
        if self._absorbing and not absorbing:
            self._room_wake.set()  # the sweep held back for them can go now
        self._absorbing = absorbing

    async def _tend_room(self) -> None:
        """Ask about the waiters when a sweep is due; hand back those that go on."""
        while True:
            self._room_wake = anyio.Event()
            now = self.clock.monotonic()
            due = self._room.next_due()
            if due is None or due > now:
                wait = IDLE_RECHECK if due is None else due - now
                await self._wait(wait, self._room_wake)
                continue
            if self._absorbing and now < due + ABSORB_AT_MOST:
                await self._wait(due + ABSORB_AT_MOST - now, self._room_wake)
                continue
            taken = self._room.take(now)
            if taken.expired:
                await self._hand_back(taken.expired)
            if taken.ask:
                await self._survey(taken.ask)

    async def _survey(self, keys: Sequence[str]) -> None:
        refs = self._refs or {}
        by_provider: dict[str, list[ItemRef]] = {}
        gone: list[str] = []
        for key in keys:
            ref = refs.get(key)
            if ref is None:  # left the watchlist while being asked about
                self._room.remove(key)
            else:
                by_provider.setdefault(ref.provider, []).append(ref)
        for name, members in by_provider.items():
            survey = self._survey_of(name)
            if survey is None:  # unconfigured by a reload
                gone += [ref.key for ref in members]
                continue
            try:
                answer = await survey.still_running(members)
            except Exception:  # of no tree: not asked again; its items go one by one
                self._surveys_off.add(name)
                log.exception("scheduler.survey_crashed", provider=name, items=len(members))
                gone += [ref.key for ref in members]
                continue
            now = self.clock.monotonic()
            self._room.answered(answer.running, now)
            self._room.answered(answer.unanswered, now, retry_after=answer.retry_after)
            settled = answer.running | answer.unanswered
            gone += [key for ref in members if (key := ref.key) not in settled]
            log.debug(
                "scheduler.survey",
                provider=name,
                asked=len(members),
                running=len(answer.running),
                unanswered=len(answer.unanswered),
            )
        if gone:
            await self._hand_back(gone)

    async def _hand_back(self, keys: Sequence[str]) -> None:
        """Out of the room, to be claimed for a turn of its own (here or elsewhere)."""
        for key in keys:
            if not self._room.remove(key):
                continue  # removed meanwhile (watchlist, lost lease)
            self._turn_next.add(key)
            await self._release(key)
        self.wake()
