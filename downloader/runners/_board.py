"""What a run has done so far, kept in memory as the run goes: the progress board.

The store tells the board every item record it hands the process (claims,
transitions, retries, listings) and every progress report of a transfer, so the
live display and the summary read the board instead of the database.  Pure: time
comes in as arguments, nothing here does I/O.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime

from downloader.store import ItemRecord, ItemState

RATE_WINDOW = 10.0
"""Seconds of samples a rate is measured over: long enough to smooth the bursts of a
segmented transfer, short enough that a stalled one shows it within seconds."""

WAITING_STATES = (ItemState.WAITING, ItemState.REQUESTED, ItemState.PREPARING)
"""The states counted on the display's waiting line, in the order an item passes them."""


@dataclass
class Meter:
    """A growing byte count and the rate it grew at over the last `RATE_WINDOW` seconds."""

    samples: deque[tuple[float, int]] = field(default_factory=deque)

    def add(self, now: float, value: int) -> None:
        self.samples.append((now, value))
        while len(self.samples) > 2 and now - self.samples[1][0] >= RATE_WINDOW:
            self.samples.popleft()

    def rate(self, now: float) -> float | None:
        """Bytes per second over the window; None before two samples a moment apart."""
        if len(self.samples) < 2:
            return None
        (t0, v0), (t1, v1) = self.samples[0], self.samples[-1]
        span = max(now, t1) - t0
        return (v1 - v0) / span if span >= 0.2 else None


@dataclass
class Flight:
    """One item's transfer being worked by this process."""

    key: str
    resumed_at: int
    """Bytes already on disk when this process took the transfer up (0: from the start)."""
    done: int
    total: int | None
    meter: Meter = field(default_factory=Meter)

    def eta(self, now: float) -> float | None:
        speed = self.meter.rate(now)
        if self.total is None or not speed:
            return None
        return max(0, self.total - self.done) / speed


@dataclass(frozen=True)
class Retry:
    """An item waiting to try again after a passing failure."""

    key: str
    seconds: float
    attempts: int
    error: str


class ProgressBoard:
    """The items of a run, their transfers in flight and the bytes fetched, as last told."""

    def __init__(self, started: float, *, retry_limit: int | None = None) -> None:
        self.started = started
        self.retry_limit = retry_limit
        """Tries an item gets after passing failures, when limited: countdowns say `3/8`."""
        self.ended: float | None = None
        self.items: dict[str, ItemRecord] = {}
        self.flights: dict[str, Flight] = {}
        self.fetched = 0
        """Bytes this process fetched (a resumed transfer's earlier bytes not counted)."""
        self.meter = Meter()

    # -- told by the store -------------------------------------------------------------

    def seen(self, records: list[ItemRecord], now: float, *, claimed: bool = False) -> None:
        """Records the process read or wrote.  A claimed or newly downloading item whose
        transfer is not yet followed starts a flight from the bytes it has on disk."""
        for record in records:
            before = self.items.get(record.key)
            self.items[record.key] = record
            flight = self.flights.get(record.key)
            if not _in_flight(record):
                self.flights.pop(record.key, None)
            elif flight is not None:
                self.progress(record.key, record.bytes_done, record.bytes_total, now)
            elif claimed or before is None or before.state is not ItemState.DOWNLOADING:
                self.flights[record.key] = Flight(
                    record.key, record.bytes_done, record.bytes_done, record.bytes_total
                )

    def progress(self, key: str, done: int, total: int | None, now: float) -> None:
        """A transfer's bytes on disk (of all the item's assets together)."""
        flight = self.flights.get(key)
        if flight is None:  # its record went by as waiting to try again: on from there
            record = self.items.get(key)
            prior = 0 if record is None else record.bytes_done
            flight = self.flights[key] = Flight(key, prior, prior, total)
        if done > flight.done:
            self.fetched += done - flight.done
        flight.done = max(flight.done, done)
        flight.total = total if total is not None else flight.total
        flight.meter.add(now, flight.done)
        self.meter.add(now, self.fetched)

    # -- read by the display and the summary -------------------------------------------

    def bytes_done(self, key: str) -> int:
        flight = self.flights.get(key)
        record = self.items.get(key)
        on_record = record.bytes_done if record is not None else 0
        return max(on_record, flight.done) if flight is not None else on_record

    def bytes_total(self, key: str) -> int | None:
        flight = self.flights.get(key)
        if flight is not None and flight.total is not None:
            return flight.total
        record = self.items.get(key)
        return None if record is None else record.bytes_total

    def counts(self) -> dict[ItemState, int]:
        found = dict.fromkeys(ItemState, 0)
        for record in self.active():
            found[record.state] += 1
        return found

    def active(self) -> list[ItemRecord]:
        return [r for r in self.items.values() if r.active]

    def totals(self) -> tuple[int, int]:
        """Bytes done over every active item, and the bytes known to be wanted in all
        (an item whose size is not known yet counts what it has)."""
        done = wanted = 0
        for record in self.active():
            got = self.bytes_done(record.key)
            total = self.bytes_total(record.key)
            done += got
            wanted += got if total is None else max(total, got)
        return done, wanted

    def rate(self, now: float) -> float | None:
        return self.meter.rate(now)

    def eta(self, now: float) -> float | None:
        """Seconds until the bytes known to be wanted are all here, at the current rate."""
        speed = self.rate(now)
        if not speed:
            return None
        done, wanted = self.totals()
        return max(0, wanted - done) / speed

    def retries(self, utcnow: datetime) -> list[Retry]:
        """Items due again later after a passing failure, soonest first."""
        found = [
            Retry(r.key, (r.next_attempt_at - utcnow).total_seconds(), r.attempts, r.error or "")
            for r in self.active()
            if _retrying(r) and r.next_attempt_at is not None and r.next_attempt_at > utcnow
        ]
        return sorted(found, key=lambda retry: retry.seconds)

    def wall(self, now: float) -> float:
        return (self.ended if self.ended is not None else now) - self.started

    def mean_rate(self, now: float) -> float | None:
        """Bytes fetched by this process per second of the run; None when none were."""
        wall = self.wall(now)
        return self.fetched / wall if self.fetched and wall > 0 else None


def _retrying(record: ItemRecord) -> bool:
    """Whether the item waits to try again after a passing failure.  A wait that is due
    when it is written (a transfer paused for disk space) is no retry: it goes on."""
    return bool(record.error) and (
        record.next_attempt_at is not None and record.next_attempt_at > record.updated_at
    )


def _in_flight(record: ItemRecord) -> bool:
    """Whether the item's transfer is under way: downloading and not waiting to retry."""
    return record.state is ItemState.DOWNLOADING and not _retrying(record)
