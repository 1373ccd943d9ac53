"""`downloader once` against an emulated platform, as the pipeline tests run it."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

from downloader.config import PollSettings, Settings, TransferSettings, load_config
from downloader.emulator import Emulator, RunningEmulator, parse_scenario
from downloader.items import ItemRef
from downloader.observe import Observer
from downloader.runners._compose import run_once
from downloader.transfer import Limits
from downloader.watchlist import load_watchlist
from tests.support.client import emulator_client

FAST_POLL = PollSettings(initial_interval=0.05, max_interval=0.1, give_up_after=60)


@contextlib.asynccontextmanager
async def emulated(
    tmp_path: Path, scenario_text: str, *, poll: PollSettings = FAST_POLL
) -> AsyncIterator[tuple[RunningEmulator, Settings, list[ItemRef]]]:
    """The emulator of `scenario_text`, and the settings and watchlist items of a client
    for it (archive in `tmp_path/archive`, SQLite state, polling on `poll`)."""
    emulator = Emulator(parse_scenario(scenario_text, source="scenario.toml"))
    async with emulator_client(emulator, tmp_path) as (running, files):
        settings = dataclasses.replace(load_config(files.config), poll=poll)
        yield running, settings, list(load_watchlist(files.watchlist).items)


@contextlib.asynccontextmanager
async def once_against(
    tmp_path: Path,
    scenario_text: str,
    *,
    extract: bool = False,
    poll: PollSettings = FAST_POLL,
    limits: Limits | None = None,
    observer: Observer | None = None,
) -> AsyncIterator[tuple[RunningEmulator, Settings]]:
    """Run every item of `scenario_text` once into `tmp_path/archive`, polling on `poll`
    (and with the transfer `limits`, if given); the emulator stays up inside the block,
    so a test can ask it what it served."""
    async with emulated(tmp_path, scenario_text, poll=poll) as (running, settings, refs):
        settings = dataclasses.replace(
            settings, archive=dataclasses.replace(settings.archive, extract=extract)
        )
        if limits is not None:
            settings = dataclasses.replace(settings, transfer=TransferSettings(limits=limits))
        await run_once(settings, refs, observer=observer)
        yield running, settings
