"""The shell of `downloader retry`: items parsed, the store opened, lines printed."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import anyio

from downloader.clock import SystemClock
from downloader.config import Settings
from downloader.errors import StoreError
from downloader.exits import EXIT_OK, EXIT_USAGE
from downloader.items import ItemRef
from downloader.runners._put_back import PutBack, put_back
from downloader.store import open_store

__all__ = ["run_retry"]


def run_retry(settings: Settings, items: Sequence[str], every_failed: bool) -> int:
    """Exit 0 when done, 2 on bad usage (no item, a malformed one) or an unknown item."""
    if not items and not every_failed:
        print("name the items to put back, or give --failed for every failed one", file=sys.stderr)
        return EXIT_USAGE
    try:
        keys = [ItemRef.parse(text).key for text in items]
    except ValueError as exc:
        print(f"bad item: {exc}", file=sys.stderr)
        return EXIT_USAGE

    async def work() -> PutBack:
        async with open_store(settings.state.url) as store:
            now = SystemClock().utcnow()
            return await put_back(store, keys, every_failed=every_failed, now=now)

    try:
        plan = anyio.run(work)
    except StoreError as exc:
        print(f"state store: {exc}", file=sys.stderr)
        return EXIT_USAGE
    for line in plan.lines():
        print(line, file=sys.stderr if line.endswith("unknown item") else sys.stdout)
    return EXIT_USAGE if plan.unknown else EXIT_OK
