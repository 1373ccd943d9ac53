"""The waiting room's tender: who waits in the room, and the surveys that ask about them.

An item that waits on its platform's job, of a provider that can answer for many
such items at once (`JobSurvey`), takes no slot while it waits: it goes to the
waiting room (`_waitroom`), whose tender asks about every waiter that is due in
one survey and hands a waiter whose job no longer runs back (its lease dropped,
marked for a turn), to be claimed for a turn of its own.  A source's listing that
shows its jobs' states (`Listing.answer`) answers for the waiters it shows
(`heard`), so their workflow is not asked about again in the same step.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta

import anyio
import structlog

from downloader.clock import Clock
from downloader.items import ItemRef
from downloader.providers import JobSurvey, SurveyAnswer, survey_of
from downloader.runners._flight import release
from downloader.runners._nap import nap
from downloader.runners._pipeline import ItemWorker
from downloader.runners._waitroom import WaitingRoom
from downloader.store import ItemRecord, ItemState, StateStore

log = structlog.get_logger("downloader.scheduler")

IDLE_RECHECK = 60.0
"""Longest sleep without a due time or a wake-up: a cheap safety re-check."""
INTAKE_EVERY = 5.0
"""While every slot is busy, how often due waiting items are claimed into the room."""
ROOM_INTAKE = 256
"""Waiting items claimed into the room at once while every slot is busy."""
ABSORB_AT_MOST = 5.0
"""Seconds a sweep of the waiting room may wait past its time while the loop is still
claiming waiting items into it (a fresh watchlist, a restart), so that they are all
asked about in one sweep rather than in several that never merge again."""
ABSORB_PACE = 0.05
"""Pause between claims that all went to the room while slots are free.  Hosts on one
watchlist share out its waiting items by who claims first; without a pause the first
host to look takes them all in a few milliseconds (before a peer that opened a moment
later, or whose SQLite busy handler is sleeping, gets one claim in), keeps surveying
them alone, and claims each handed back at once while the peer naps."""


def absorb_share(free: int, last: int) -> int:
    """How many waiting items the next paced claim into the room takes, after a claim
    of `last` that all went there with `free` slots free: growing from a slot's share
    so that a peer gets its part of a small watchlist, to ROOM_INTAKE so that a large
    one is taken in a few claims."""
    return min(ROOM_INTAKE, max(free, 2 * last))


class RoomTender:
    """Admits waiting items to the room, surveys them when due, hands back the done."""

    def __init__(
        self,
        *,
        room: WaitingRoom,
        store: StateStore,
        worker: ItemWorker,
        clock: Clock,
        owner: str,
        lease: timedelta,
        refs: Callable[[], Mapping[str, ItemRef]],
        wake_loop: Callable[[], None],
    ) -> None:
        self.room, self.store, self.worker, self.clock = room, store, worker, clock
        self.owner, self.lease = owner, lease
        self._refs, self._wake_loop = refs, wake_loop
        self._wake = anyio.Event()
        self.turn_next: set[str] = set()
        """Handed back by the room: their next claim starts a turn."""
        self._absorbing = False
        """The last claim was full and all went to the waiting room."""
        self._next_intake = clock.monotonic()
        self._surveys_off: set[str] = set()
        """Providers whose survey raised something of no tree: their waiting items are
        asked about one by one for the rest of the process."""

    def wants(self, ref: ItemRef, record: ItemRecord) -> bool:
        """Whether the claimed `record` waits in the room rather than in a slot."""
        if record.state is not ItemState.WAITING or ref.key in self.turn_next:
            return False
        survey = self._survey_of(ref.provider)
        return survey is not None and survey.can_survey(ref)

    def admit(self, ref: ItemRef) -> None:
        """Into the waiting room, its schedule going on from its earlier turns."""
        since = self.worker.waiting_since(ref.key)
        self.room.admit(ref.key, started=since, now=self.clock.monotonic())
        self._wake.set()

    def absorb(self, absorbing: bool) -> None:
        if self._absorbing and not absorbing:
            self._wake.set()  # the sweep held back for them can go now
        self._absorbing = absorbing

    def _survey_of(self, provider: str) -> JobSurvey | None:
        """The survey of `provider`, unless it crashed in this process."""
        if provider in self._surveys_off:
            return None
        return survey_of(self.worker.providers.get(provider))

    async def take_in(self) -> float:
        """With every slot busy, claim due waiting items into the room all the same (only
        those a survey can answer for); the seconds until that is worth doing again."""
        now = self.clock.monotonic()
        if now < self._next_intake:
            return self._next_intake - now
        self._next_intake = now + INTAKE_EVERY
        kinds = self._kinds()
        if not kinds:
            return INTAKE_EVERY
        if await self.intake(ROOM_INTAKE, kinds):  # more are likely due: go on at once
            self._next_intake = now
        return self._next_intake - now

    def _kinds(self) -> frozenset[str]:
        """The `provider:kind`s of waiting items a survey here can answer for."""
        return frozenset(
            f"{name}:{kind}"
            for name in self.worker.providers
            if (survey := self._survey_of(name)) is not None
            for kind in survey.surveyed_kinds()
        )

    async def intake(self, limit: int, kinds: frozenset[str] | None = None) -> bool:
        """Claim up to `limit` due waiting items into the room (only those a survey
        can answer for); whether all `limit` were taken in, so more are likely due."""
        kinds = self._kinds() if kinds is None else kinds
        if not kinds:
            self.absorb(False)
            return False
        claimed = await self.store.claim(
            self.owner, now=self.clock.utcnow(), lease=self.lease, limit=limit, waiting=kinds
        )
        refs = self._refs()
        admitted = 0
        for record in claimed:
            ref = refs.get(record.key)
            if ref is not None and self.wants(ref, record):
                self.admit(ref)
                admitted += 1
            else:  # not ours, or its turn is next: a claim for a free slot takes it
                await release(self.store, self.owner, record.key)
        more = len(claimed) == limit and admitted == len(claimed)
        self.absorb(more)
        return more

    async def run(self) -> None:
        """Ask about the waiters when a sweep is due; hand back those that go on."""
        while True:
            self._wake = anyio.Event()
            now = self.clock.monotonic()
            due = self.room.next_due()
            if due is None or due > now:
                await nap(self.clock, IDLE_RECHECK if due is None else due - now, self._wake)
                continue
            if self._absorbing and now < due + ABSORB_AT_MOST:
                await nap(self.clock, due + ABSORB_AT_MOST - now, self._wake)
                continue
            taken = self.room.take(now)
            if taken.expired:
                await self.hand_back(taken.expired)
            if taken.ask:
                await self._survey(taken.ask)

    async def _survey(self, keys: Sequence[str]) -> None:
        refs = self._refs()
        by_provider: dict[str, list[ItemRef]] = {}
        gone: list[str] = []
        for key in keys:
            ref = refs.get(key)
            if ref is None:  # left the watchlist while being asked about
                self.room.remove(key)
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
            self.room.answered(answer.running, now)
            self.room.answered(answer.unanswered, now, retry_after=answer.retry_after)
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
            await self.hand_back(gone)

    async def heard(
        self, listed: Sequence[ItemRef], answer: SurveyAnswer, next_in: float | None
    ) -> None:
        """A source's listing showed `listed`, `answer` saying which still run, and comes
        again in `next_in` seconds: the waiters it shows running count as asked about
        (`WaitingRoom.heard`, and so do those it shows running that come in soon
        after), the waiters it shows otherwise go to a turn of their own."""
        keys = [ref.key for ref in listed]
        gone = self.room.heard(
            [key for key in keys if key in answer.running],
            [key for key in keys if key not in answer.running],
            self.clock.monotonic(),
            next_in=next_in,
        )
        log.debug("scheduler.heard", listed=len(keys), gone=len(gone))
        if gone:
            await self.hand_back(gone)

    async def hand_back(self, keys: Sequence[str]) -> None:
        """Out of the room, to be claimed for a turn of its own (here or elsewhere)."""
        for key in keys:
            if not self.room.remove(key):
                continue  # removed meanwhile (watchlist, lost lease)
            self.turn_next.add(key)
            await release(self.store, self.owner, key)
        self._wake_loop()
