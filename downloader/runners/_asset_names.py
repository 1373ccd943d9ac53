"""The names of an item's assets in its bag: unique within the item, whatever order the
assets finish in.

A name is reserved the moment the engine asks for it (just before the verified file
is moved into the bag), so two assets fetched side by side never take the same one.
An asset whose name is known before it is fetched (the platform named the file) has
it reserved before any fetch begins, in package order: of two assets the platform
names alike, the first in the package gets the plain name, however the fetches race.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from downloader.errors import DownloaderError
from downloader.transfer import AssetRequest
from downloader.transfer._names import sanitize_filename

__all__ = ["AssetNames", "predicted_name", "unique_name"]


def unique_name(name: str, taken: set[str]) -> str:
    """`name`, or `name-2`, `name-3` ... before its extension: the first not `taken`."""
    if name not in taken:
        return name
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    for n in range(2, 10_000):
        candidate = sanitize_filename(f"{stem}-{n}{'.' + ext if ext else ''}")
        if candidate not in taken:
            return candidate
    raise DownloaderError(f"too many files named {name!r}")


def predicted_name(asset: AssetRequest) -> str | None:
    """The name the engine will ask for `asset` by, when the request fixes it (the
    engine prefers the request's `filename` to anything the server says)."""
    return (asset.filename and sanitize_filename(asset.filename)) or None


class AssetNames:
    """The names taken in one item's bag, and those reserved for assets not yet in it."""

    def __init__(self, kept: Iterable[str]) -> None:
        self.taken: set[str] = set(kept)

    def take(self, wanted: str) -> str:
        name = unique_name(wanted, self.taken)
        self.taken.add(name)
        return name

    def plan(self, wanted: Iterable[str | None]) -> list[str | None]:
        """A name reserved for each name known ahead, in the order given; None for the
        others (named when the engine asks)."""
        return [None if w is None else self.take(w) for w in wanted]

    def renamer(self, predicted: str | None, planned: str | None) -> Callable[[str], str]:
        """The engine's `rename` for one asset: its reserved name when the engine asks
        by the name foreseen, else the first free one at that moment."""

        def rename(name: str) -> str:
            if planned is not None and name == predicted:
                return planned
            return self.take(name)

        return rename
