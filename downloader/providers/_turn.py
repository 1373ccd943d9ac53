"""An item's turns at waiting: what the runner keeps between them, and what ends one. Pure.

A `Turn` is kept by the runner from one turn of an item to the next: since when it
has waited in its present state (which gives both its next wait, as the backoff
doubles, and what is left of `give_up_after`) and the answers it could not read.
Inside a turn, a wait of `PARK_AFTER` seconds or more is not slept: the poll
returns `Parked`, a value, and the runner parks the item in the store until then.
Only I/O-free modules may be imported here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["PARK_AFTER", "Parked", "Turn", "Unreadable"]

PARK_AFTER = 1.0
"""Seconds: inside a turn, a wait at least this long parks the item instead."""


@dataclass
class Unreadable:
    """An item's answers that could not be read: how many in a row, and the unknown
    status words already logged (each once per item)."""

    in_a_row: int = 0
    words: set[tuple[str, str]] = field(default_factory=set)

    def at_limit(self, limit: int) -> bool:
        """Count one more; whether that makes `limit` in a row (the count then starts
        again, so a retry of the item gets a fresh one)."""
        self.in_a_row += 1
        if self.in_a_row < limit:
            return False
        self.in_a_row = 0
        return True


class Turn:
    """Since when (`Clock.monotonic`) an item has waited in its present state.  The
    runner keeps it between the item's turns and moves it on when the state changes."""

    def __init__(self, started: float) -> None:
        self.started = started
        self.unreadable = Unreadable()


@dataclass(frozen=True)
class Parked:
    """The item should be asked again `delay` seconds from now, in a later turn.

    Not an error: the runner records the time in the store and ends the turn."""

    delay: float
    what: str
    last: str
    """What the platform said last ("last status: running")."""

    def __str__(self) -> str:
        return f"{self.what}: asking again in {self.delay:.3g}s ({self.last})"
