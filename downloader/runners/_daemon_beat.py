"""What the daemon does at each beat of the scheduler: tell `/healthz` the loop lives,
ping the systemd watchdog, read the census for the item gauges and refresh STATUS=.

The scheduler beats only after a lap of its claim loop (`_heartbeat`), so a loop
stuck in the store goes quiet here too.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import structlog

from downloader.errors import StoreError
from downloader.metrics import Liveness, Metrics
from downloader.runners._compose import Service
from downloader.runners._daemon_core import Throughput, status_text
from downloader.runners._notify import Notifier
from downloader.store import ItemState

log = structlog.get_logger("downloader.daemon")

STATUS_EVERY = 5.0
"""Seconds between STATUS= refreshes."""
LIVENESS_BEATS = 3
"""Beats of the scheduler loop missed before `/healthz` says it is stuck."""
CENSUS_EVERY = 1.0
"""Seconds between readings of the store's census for the item gauges (with metrics on)."""


class DaemonBeat:
    """The daemon's heartbeat, called every `interval` seconds."""

    def __init__(
        self,
        service: Service,
        notifier: Notifier,
        *,
        watchdog: float | None,
        metrics: Metrics | None,
        stopping: Callable[[], bool],
    ) -> None:
        self.service, self.notifier = service, notifier
        self.watchdog, self.metrics = watchdog, metrics
        self._stopping = stopping
        self.throughput = Throughput()
        self._counts_seen: dict[ItemState, int] | None = None
        self._done = 0
        self._next_status = 0.0
        self._next_census = 0.0
        self.interval = min(watchdog or STATUS_EVERY, STATUS_EVERY)
        # the process's monotonic clock, not the injected one: a stuck loop is a fact of
        # real time, and /healthz reads it from another thread
        self.liveness = Liveness(time.monotonic, stale_after=LIVENESS_BEATS * self.interval)
        """What `/healthz` says: the loop beat within three of its beats (with a watchdog,
        1.5 times `WatchdogSec`, by when systemd has given up on it too)."""

    async def ready(self) -> None:
        """READY=1, with the first STATUS=."""
        self.notifier.ready(status=await self.status_text())
        self._next_status = self.service.clock.monotonic() + STATUS_EVERY

    async def __call__(self) -> None:
        self.liveness.beat()
        if self.watchdog is not None:
            self.notifier.watchdog()
        if self.metrics is not None and time.monotonic() >= self._next_census:
            self._next_census = time.monotonic() + CENSUS_EVERY
            await self._count_items(self.metrics)
        if self.service.clock.monotonic() >= self._next_status:
            self._next_status = self.service.clock.monotonic() + STATUS_EVERY
            self.notifier.status(await self.status_text())

    async def _count_items(self, metrics: Metrics) -> None:
        try:
            rows = await self.service.store.census()
        except StoreError as exc:  # the gauges keep their last values
            log.warning("metrics.census_failed", error=str(exc))
            return
        metrics.census(rows, self.service.clock.utcnow())

    async def status_text(self) -> str:
        store = self.service.store
        try:
            counts = await store.counts()
            # the byte total changes only while an item moves bytes or changes state:
            # listing every item at each beat cost an idle daemon with 10,000 waiting
            # items most of its CPU (bench W7), so the total is kept until then
            moving = counts[ItemState.DOWNLOADING] or counts[ItemState.VERIFYING]
            if moving or counts != self._counts_seen:
                self._done = sum(r.bytes_done for r in await store.list_items())
                self._counts_seen = counts
            done = self._done
        except StoreError as exc:  # a busy database must not stop the loop that works
            log.warning("daemon.status_failed", error=str(exc))
            return "state store busy"
        self.throughput.add(self.service.clock.monotonic(), done)
        if self.metrics is not None:
            self.metrics.set_rate(self.throughput.rate())
        return status_text(counts, self.throughput.rate(), stopping=self._stopping())
