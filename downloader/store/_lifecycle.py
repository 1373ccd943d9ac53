"""The life cycle of an item, as a transition table.

Pure: states, the table and two predicates.  Nothing here may import sqlite3,
anyio, aiohttp or touch a file; the store calls `check_transition` inside the
same transaction that writes the new state, so the table is the single source
of truth for what may follow what.

There are no self-loops.  Work that does not change what the item *is* stays in
its state without a transition: polling a job that is not finished (waiting),
polling a package that is not built (preparing), refreshing an expired signed
URL or resuming after a restart (downloading).  The store records such steps
with `schedule`, `set_progress`, packages and assets, never by re-entering the
state.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType

from downloader.errors import IllegalTransition

__all__ = [
    "TERMINAL",
    "TRANSITIONS",
    "ItemState",
    "check_transition",
    "is_terminal",
    "starts_afresh",
]


class ItemState(StrEnum):
    """Where an item is on its way from the platform into the archive."""

    WAITING = "waiting"
    """The remote job is not finished (or not yet looked at)."""
    REQUESTED = "requested"
    """A package (download) was asked for; its platform id is recorded."""
    PREPARING = "preparing"
    """The platform is building the package; we poll."""
    DOWNLOADING = "downloading"
    """The files are being fetched into `<root>/.partial/`."""
    VERIFYING = "verifying"
    """Every file is on disk; sizes and digests are checked and the bag is assembled."""
    ARCHIVED = "archived"
    """The bag is in its final place.  Nothing ever leaves this state."""
    FAILED = "failed"
    """Gave up, with an error; only a retry by the user brings the item back."""


_S = ItemState

TRANSITIONS: Mapping[ItemState, frozenset[ItemState]] = MappingProxyType(
    {
        # waiting -> requested:    the remote job finished and a package was asked for.
        # waiting -> downloading:  nothing to ask for: a plain URL, or a platform whose
        #                          outputs can be fetched as soon as the job is done.
        # waiting -> failed:       the platform says the job failed, or it does not exist.
        _S.WAITING: frozenset({_S.REQUESTED, _S.DOWNLOADING, _S.FAILED}),
        # requested -> preparing:   the platform accepted the request and builds the package.
        # requested -> downloading: the package was ready at once.
        # requested -> failed:      the request was refused for good.
        _S.REQUESTED: frozenset({_S.PREPARING, _S.DOWNLOADING, _S.FAILED}),
        # preparing -> downloading: the package is ready; its links are recorded.
        # preparing -> requested:   the package vanished or expired before it was ready,
        #                           so it is asked for again (a new download id).
        # preparing -> failed:      the platform reports the build failed, or poll.give_up_after.
        _S.PREPARING: frozenset({_S.DOWNLOADING, _S.REQUESTED, _S.FAILED}),
        # downloading -> verifying: every asset is on disk.
        # downloading -> requested: the package expired and fresh links need a new request.
        # downloading -> failed:    retries exhausted, object changed too often, URL expired.
        _S.DOWNLOADING: frozenset({_S.VERIFYING, _S.REQUESTED, _S.FAILED}),
        # verifying -> archived:    the bag is complete and in its final place.
        # verifying -> downloading: a file did not verify; fetch it again.
        # verifying -> failed:      verification failed more often than allowed, or the
        #                           bag could not be assembled.
        _S.VERIFYING: frozenset({_S.ARCHIVED, _S.DOWNLOADING, _S.FAILED}),
        # archived: terminal.  Removing and re-adding the entry never re-downloads it.
        _S.ARCHIVED: frozenset(),
        # failed -> waiting: a retry by the user, or the entry re-added to the watchlist;
        #                    the item starts over and what was recorded is looked at again.
        _S.FAILED: frozenset({_S.WAITING}),
    }
)
"""For each state, the states that may follow it (reasons in the comments above)."""

TERMINAL: frozenset[ItemState] = frozenset({ItemState.ARCHIVED, ItemState.FAILED})
"""States in which no work is claimed; `downloader once` stops when every item is in one."""


def is_terminal(state: ItemState) -> bool:
    """True when nothing more happens to an item in `state` without a user's say."""
    return state in TERMINAL


def check_transition(current: ItemState, target: ItemState) -> None:
    """Raise `IllegalTransition` unless the table allows `current -> target`."""
    if target not in TRANSITIONS[current]:
        raise IllegalTransition(current.value, target.value)


def starts_afresh(current: ItemState, target: ItemState) -> bool:
    """Whether `current -> target` starts the item over, its count of failed tries at 0.

    Only a failed item put back (by `downloader retry`, or its entry re-added or
    changed) does.  Every other move keeps the count: the `[retry]` budget is of
    the item's tries, and a try that fails after moving the item on (verifying, then
    downloading again) must not earn it a fresh budget each time.
    """
    return current is ItemState.FAILED and target is ItemState.WAITING
