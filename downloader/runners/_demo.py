"""`downloader demo`: the whole service against the built-in emulator, on loopback.

Starts the emulator with the bundled scenario (every kind of item, jobs that
finish and packages that become ready after a few polls), writes a config and
watchlist pointing at it, runs batch mode into the target folder with the live
display, and prints what was archived, where, and how fast.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

from downloader.config import PollSettings, load_config
from downloader.emulator import Emulator, parse_scenario, start_emulator, write_client_files
from downloader.emulator.scenarios import demo_scenario_text
from downloader.runners._batch import BatchResult
from downloader.runners._compose import run_once
from downloader.runners._progress import show_progress
from downloader.store import ItemState, open_store
from downloader.watchlist import load_watchlist

# polls come quickly in the demo: it shows the dance, not the waiting
DEMO_POLL = PollSettings(initial_interval=0.5, max_interval=2.0, give_up_after=600.0)


async def run_demo(target: Path) -> BatchResult:
    """Run the demo into `target` (an existing, absolute folder)."""
    scenario = parse_scenario(demo_scenario_text(), source="demo.toml")
    async with await start_emulator(Emulator(scenario)) as running:
        files = write_client_files(
            scenario,
            running.base_url,
            target / ".demo",
            archive_root=target,
            state_url=f"sqlite:///{target / '.demo' / 'state.db'}",
        )
        settings = dataclasses.replace(load_config(files.config), poll=DEMO_POLL)
        watchlist = load_watchlist(
            files.watchlist, enabled_providers=set(settings.providers.enabled) | {"http"}
        )
        print(f"emulator on {running.base_url}; {len(watchlist.items)} items", file=sys.stderr)
        started = time.monotonic()
        result = await run_once(settings, watchlist.items, progress=show_progress)
        elapsed = time.monotonic() - started
        async with open_store(settings.state.url) as store:
            records = await store.list_items()
    total = sum(r.bytes_done for r in records if r.state is ItemState.ARCHIVED)
    print(f"\n{result.archived} archived, {result.failed} failed in {elapsed:.1f} s", end="")
    print(f" ({total / 2**20:.0f} MiB, {total / 2**20 / max(elapsed, 1e-9):.0f} MiB/s)")
    for record in records:
        where = record.archive_path or record.error or ""
        print(f"  {record.key:45} {record.state:9} {where}")
    print(f"archive: {target}   check it with: downloader verify -c {files.config}")
    return result
