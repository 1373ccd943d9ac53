"""Load a config's watchlist into its state store, as a run does at start:
`python bench/load_items.py CONFIG`.  Prints how many items are active."""

from __future__ import annotations

import sys
from pathlib import Path

import anyio

from downloader.clock import SystemClock
from downloader.config import load_config
from downloader.store import open_store
from downloader.watchlist import load_watchlist


async def main(config: Path) -> None:
    settings = load_config(config)
    watchlist = load_watchlist(settings.watchlist.path, enabled_providers={"http"})
    async with open_store(settings.state.url) as store:
        await store.sync_watchlist(watchlist.items, now=SystemClock().utcnow())
        print(len(await store.list_items()))


if __name__ == "__main__":
    anyio.run(main, Path(sys.argv[1]))
