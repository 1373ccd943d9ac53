"""A plain URL item (`http:file`) as a step machine: no platform, so one step. Pure.

Nothing is asked: the item's own URL is fetched at once, or the item fails when it
has none.  Only I/O-free modules may be imported here.
"""

from __future__ import annotations

from typing import Any

from downloader.items import ItemRef
from downloader.providers._steps import Fail, Fetch, Memo

__all__ = ["http_step"]


def http_step(item: ItemRef, memo: Memo, answer: Any | None) -> Fetch | Fail:
    """Fetch `item`'s URL; its memo and answer (there is none) change nothing."""
    if item.provider != "http" or item.kind != "file":
        return Fail(f"{item.key} is not a plain URL item")
    if item.url is None:
        return Fail(f"{item.key} has no URL")
    return Fetch(item.url, None)
