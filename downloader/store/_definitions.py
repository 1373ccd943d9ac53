"""What the store does with an item listed again under its key with another definition
(`ItemRef.definition`: another URL, another expected digest).  The rule once, for
both backends; each fills in its own placeholder (`?` or `%s`).

The item is worked again from the start: its recorded package, assets and segment
cursors are dropped, its progress set to 0, and a failed item goes back to waiting.
An archived item keeps its state and its bag: nothing ever leaves `archived`.  Pure:
no I/O here.
"""

from __future__ import annotations

from dataclasses import dataclass

from downloader.store._lifecycle import ItemState

__all__ = ["DefinitionSql", "redefined_event"]


@dataclass(frozen=True)
class DefinitionSql:
    """The statements of a redefinition, in one dialect's placeholder."""

    record: str
    """Sets the definition: (definition, key)."""
    restart: tuple[str, ...]
    """Drop what was recorded of the item, each with (key,); packages and assets hold
    no lease, so the dropping is not fenced: a worker still on it is cancelled."""
    reset_progress: str
    """(now, key)."""

    @classmethod
    def of(cls, p: str) -> DefinitionSql:
        """The statements with `p` (the driver's placeholder, never a value) in them."""
        return cls(
            record=f"UPDATE items SET definition = {p} WHERE key = {p}",  # noqa: S608
            restart=(
                # segments: rows an older version kept; nothing writes them now
                f"DELETE FROM segments WHERE item_key = {p}",  # noqa: S608
                f"DELETE FROM assets WHERE item_key = {p}",  # noqa: S608
                f"DELETE FROM packages WHERE item_key = {p}",  # noqa: S608
            ),
            reset_progress=(
                "UPDATE items SET bytes_done = 0, bytes_total = NULL,"  # noqa: S608
                f" updated_at = {p} WHERE key = {p}"
            ),
        )


def redefined_event(state: ItemState) -> str:
    """The history line of a redefinition of an item in `state`."""
    if state is ItemState.ARCHIVED:
        return "definition changed in the watchlist; the archived bag is kept"
    return "definition changed in the watchlist; worked again from the start"
