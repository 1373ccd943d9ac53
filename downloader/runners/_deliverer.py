"""The deliverer: hook events taken from the store's outbox and delivered, in the
background of a run.

It claims due outbox rows under a lease (so hosts sharing a database split
them, and a row whose deliverer died is due again when the lease runs out),
delivers each to its hook, and records it delivered, or tried again later with
the hook's backoff.  It is a task beside the scheduler, never in its way: a hook
that keeps failing costs the items nothing, and shows in `status` through its
rows' attempts and last error.  `drain` is how `once` ends: the events still
due delivered within a bounded wait, the count of those left returned.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING

import anyio
import structlog

from downloader.clock import Clock
from downloader.config import HookSettings
from downloader.errors import HookFailed, StoreError
from downloader.hooks._plan import delivery_delay
from downloader.store._outbox import Outbox
from downloader.store._outbox_models import OutboxRecord

if TYPE_CHECKING:
    import aiohttp

__all__ = ["Deliverer"]

log = structlog.get_logger("downloader.hooks")

IDLE_RECHECK = 5.0
"""Longest sleep with hooks configured and nothing due: rows another host recorded."""
STORE_BACKOFF = 2.0
"""Sleep after the store refused a question (e.g. locked by another process too long)."""
LEASE_MARGIN = 10.0
"""Seconds a claim on an outbox row lasts beyond the longest delivery's time limit."""
SLOTS = 4
"""Events delivered at once."""


class Deliverer:
    """Delivers the outbox's events to `hooks` for `owner`, until cancelled."""

    def __init__(
        self,
        *,
        outbox: Outbox,
        hooks: Sequence[HookSettings],
        session: aiohttp.ClientSession,
        clock: Clock,
        owner: str,
    ) -> None:
        self.outbox = outbox
        self.hooks = tuple(hooks)
        """The `[[hooks]]` in force (a reload replaces them, then calls `wake`)."""
        self.session = session
        self.clock = clock
        self.owner = owner
        self._wake = anyio.Event()
        self._finishing = False

    def finish(self) -> None:
        """Have `run` return once no undelivered row is left, as with `until_empty`:
        the end of a batch run, whose deliveries in flight go on undisturbed (cut
        short, one would be sent again)."""
        self._finishing = True
        self.wake()

    def wake(self) -> None:
        """Look at the outbox now (an event was just recorded, or the hooks changed)."""
        self._wake.set()

    def _lease(self) -> timedelta:
        # longer than any one delivery may take, so a live deliverer keeps its rows, and
        # no longer: the rows of a deliverer that died are due again soon after
        longest = max((hook.timeout for hook in self.hooks), default=0.0)
        return timedelta(seconds=longest + LEASE_MARGIN)

    async def run(self, *, until_empty: bool = False) -> None:
        """Deliver what is due, `SLOTS` at a time, sleeping until the next row is due
        or a slot frees; with `until_empty`, return once no undelivered row is left
        (whoever holds it).  A delivery that hangs until its time limit holds one
        slot, not the others."""
        await self._release()
        busy = 0

        async def deliver(record: OutboxRecord) -> None:
            nonlocal busy
            try:
                await self._deliver_one(record)
            except Exception as exc:  # of no tree: this event's, never the run's
                log.error("hook.crashed", event_id=record.event_id, exc_info=exc)
            finally:
                busy -= 1
                self.wake()

        async with anyio.create_task_group() as tg:
            while True:
                self._wake = anyio.Event()
                wait: float | None = None  # a slot to free, or a wake-up
                try:
                    if busy < SLOTS:
                        claimed = await self.outbox.claim(
                            self.owner,
                            now=self.clock.utcnow(),
                            lease=self._lease(),
                            limit=SLOTS - busy,
                        )
                        busy += len(claimed)
                        for record in claimed:
                            tg.start_soon(deliver, record)
                        if claimed:
                            continue
                        finishing = until_empty or self._finishing
                        if finishing and not busy and not await self.outbox.pending():
                            return
                        wait = await self._until_due()
                except StoreError as exc:  # deliveries wait; the items never do
                    log.warning("hook.store_failed", error=str(exc))
                    wait = STORE_BACKOFF
                except Exception as exc:  # of no tree: logged, and the run goes on
                    log.error("hook.deliverer_crashed", exc_info=exc)
                    wait = STORE_BACKOFF
                await self._sleep(wait)

    async def drain(self, within: float) -> int:
        """Deliver for up to `within` seconds or until nothing is left; how many
        undelivered events remain (the next run delivers them)."""
        with anyio.move_on_after(within):
            await self.run(until_empty=True)
        return await self.left()

    async def left(self) -> int:
        """How many events are not delivered yet (0 when the store cannot say)."""
        try:
            return len(await self.outbox.pending())
        except StoreError as exc:
            log.warning("hook.store_failed", error=str(exc))
            return 0

    async def _release(self) -> None:
        try:  # rows this owner leased before it was killed or cancelled
            await self.outbox.release_all(self.owner)
        except StoreError as exc:
            log.warning("hook.store_failed", error=str(exc))

    async def _until_due(self) -> float | None:
        due = await self.outbox.next_due()
        if due is None:
            return IDLE_RECHECK if self.hooks else None
        seconds = (due - self.clock.utcnow()).total_seconds()
        return min(max(seconds, 0.05), IDLE_RECHECK)

    async def _sleep(self, seconds: float | None) -> None:
        """Sleep `seconds` on the clock (None: until woken), or less if woken."""
        event = self._wake
        if event.is_set():
            await anyio.lowlevel.checkpoint()
            return
        async with anyio.create_task_group() as tg:
            if seconds is not None:

                async def timer() -> None:
                    await self.clock.sleep(seconds)
                    tg.cancel_scope.cancel()

                tg.start_soon(timer)
            await event.wait()
            tg.cancel_scope.cancel()

    async def _deliver_one(self, record: OutboxRecord) -> None:
        # the delivery (commands, posts) loads with a first event, not with every run
        from downloader.hooks._deliver import deliver

        hook = next((h for h in self.hooks if h.name == record.hook), None)
        bound = log.bind(hook=record.hook, item=record.item_key, event_id=record.event_id)
        try:
            if hook is None:
                raise HookFailed(record.hook, f"no hook named {record.hook!r} is configured")
            await deliver(hook, record, self.session)
        except HookFailed as exc:
            await self._failed(record, hook, str(exc))
            return
        except Exception as exc:  # of no tree: this event's, never the run's
            bound.error("hook.crashed", exc_info=exc)
            await self._failed(record, hook, f"{type(exc).__name__}: {exc}")
            return
        try:
            await self.outbox.delivered(record.event_id, now=self.clock.utcnow())
        except StoreError as exc:  # the lease runs out and it is delivered again
            bound.warning("hook.store_failed", error=str(exc))
            return
        bound.info("hook.delivered", kind=record.kind, attempts=record.attempts + 1)

    async def _failed(self, record: OutboxRecord, hook: HookSettings | None, error: str) -> None:
        attempts = record.attempts + 1
        delay = delivery_delay(attempts, hook) if hook is not None else 600.0
        now = self.clock.utcnow()
        try:
            await self.outbox.retry_later(
                record.event_id,
                self.owner,
                now=now,
                at=now + timedelta(seconds=delay),
                error=error,
            )
        except StoreError as exc:
            log.warning("hook.store_failed", error=str(exc))
        log.warning(
            "hook.failed",
            hook=record.hook,
            item=record.item_key,
            event_id=record.event_id,
            attempt=attempts,
            retry_in=delay,
            error=error,
        )
