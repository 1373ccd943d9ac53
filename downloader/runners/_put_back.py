"""`downloader retry`: failed items put back, to be worked again from where they stopped.

The decision is pure (`plan_put_back`, from the items' states); `put_back` reads the
store, and writes only when every item named is known.  Only a failed item moves
(failed -> waiting, its count of tries afresh); its recorded package and assets stay,
so the next try goes on from them.  An archived item is never touched, nor its bag:
the store has no way out of `archived`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from downloader.errors import IllegalTransition
from downloader.store import ItemState, StateStore

__all__ = ["PutBack", "plan_put_back", "put_back"]


@dataclass(frozen=True)
class PutBack:
    """What `downloader retry` does, or would do, with the items asked about."""

    put_back: tuple[str, ...] = ()
    """Failed items that go back to waiting."""
    unknown: tuple[str, ...] = ()
    """Named items the store does not know: nothing is done then (exit 2)."""
    left: tuple[tuple[str, ItemState], ...] = ()
    """Named items that are not failed, with their state: left as they are."""

    def lines(self) -> list[str]:
        """What the command prints, one line per item."""
        return (
            [f"{key}: unknown item" for key in self.unknown]
            + [f"{key}: put back (waiting)" for key in self.put_back]
            + [f"{key}: {state}, left as it is" for key, state in self.left]
        )


def plan_put_back(
    states: Mapping[str, tuple[ItemState, bool]], named: Sequence[str], *, every_failed: bool
) -> PutBack:
    """Which items go back, given each known key's (state, active).

    `named` items go back when failed (active or not); `every_failed` adds every
    failed item of the watchlist in use.  Each key once, in order of key.
    """
    unknown = tuple(sorted({key for key in named if key not in states}))
    chosen = {key for key in named if key in states}
    if every_failed:
        chosen |= {key for key, (state, active) in states.items() if active and _failed(state)}
    return PutBack(
        put_back=tuple(sorted(key for key in chosen if _failed(states[key][0]))),
        unknown=unknown,
        left=tuple((key, states[key][0]) for key in sorted(chosen) if not _failed(states[key][0])),
    )


def _failed(state: ItemState) -> bool:
    return state is ItemState.FAILED


async def put_back(
    store: StateStore, named: Sequence[str], *, every_failed: bool, now: datetime
) -> PutBack:
    """Put the failed items of `plan_put_back` back to waiting; nothing when any is unknown."""
    records = await store.list_items(include_inactive=True)
    plan = plan_put_back(
        {r.key: (r.state, r.active) for r in records}, named, every_failed=every_failed
    )
    if plan.unknown:
        return plan
    moved: list[str] = []
    left = list(plan.left)
    for key in plan.put_back:
        try:
            await store.transition(key, ItemState.WAITING, now=now)
        except IllegalTransition:  # put back meanwhile, by another command or a re-add
            record = await store.get(key)
            left.append((key, ItemState.WAITING if record is None else record.state))
            continue
        moved.append(key)
    return PutBack(put_back=tuple(moved), left=tuple(left))
