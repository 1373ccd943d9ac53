"""Sources end to end: each kind listed from the emulator, its items archived once.

`once` lists every source of the watchlist when it starts and works what they list;
a second `once` lists them again and fetches nothing; `status --json` and
`bag-info.txt` name the source of each item.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import bagit

from downloader.config import Settings
from downloader.emulator import RunningEmulator
from downloader.runners._batch import BatchResult
from downloader.runners._compose import run_once
from downloader.runners._pipeline import SOURCE_FIELD
from downloader.runners._status import collect_status
from downloader.sources import SourceRef
from downloader.store import open_store
from downloader.watchlist import parse_watchlist
from tests.support.once import emulated


def sources_of(text: str) -> tuple[SourceRef, ...]:
    parse = parse_watchlist(text, file="watchlist.toml")
    assert not parse.problems, parse.problems
    return parse.sources


@contextlib.asynccontextmanager
async def platform(
    tmp_path: Path, scenario: str
) -> AsyncIterator[tuple[RunningEmulator, Settings]]:
    async with emulated(tmp_path, scenario) as (running, settings, _):
        yield running, settings


async def once(settings: Settings, watchlist: str) -> BatchResult:
    return await run_once(settings, [], sources=sources_of(watchlist))


async def status(settings: Settings) -> dict[str, dict[str, object]]:
    async with open_store(settings.state.url) as store:
        return {row["item"]: row for row in await collect_status(store, verbose=False)}


def downloads(running: RunningEmulator) -> int:
    """Requests for package bytes (or downloads asked for) so far."""
    stats = running.emulator.stats()
    served = sum(int(one["bytes_served"] > 0) for one in stats.values())
    return served + sum(
        1
        for r in running.emulator.log
        if r.method in ("PUT", "POST") or "/output/" in r.path or r.path.startswith("/v6/files")
    )


def pixxel_jobs(workflow: str, count: int, extra: str = "") -> str:
    return "\n".join(
        f'[[pixxel.job]]\nworkflow_id = "{workflow}"\njob_id = "j{i:03d}"\n{extra}\n'
        f'files = [{{ name = "scene.tif", size = {1000 + i} }}]'
        for i in range(count)
    )


HEAD = '[emulator]\nseed = 5\npixxel_api_key = "k"\n'


async def test_a_pixxel_workflow_source_archives_its_jobs_once(tmp_path: Path) -> None:
    scenario = HEAD + pixxel_jobs("wf-a", 3, "polls_until_done = 1") + "\n" + pixxel_jobs("wf-b", 2)
    watchlist = '[[pixxel.workflow]]\nworkflow_id = "wf-a"\n'
    async with platform(tmp_path, scenario) as (running, settings):
        result = await once(settings, watchlist)
        assert (result.archived, result.failed) == (3, 0)
        rows = await status(settings)
        assert sorted(rows) == [f"pixxel:job:wf-a/j{i:03d}" for i in range(3)]
        assert {row["source"] for row in rows.values()} == {"pixxel:workflow:wf-a"}
        for i in range(3):
            bag = bagit.Bag(str(settings.archive.root / "pixxel" / "jobs" / "wf-a" / f"j{i:03d}"))
            bag.validate()
            assert bag.info[SOURCE_FIELD] == "pixxel:workflow:wf-a"
        served = downloads(running)
        again = await once(settings, watchlist)
        assert (again.archived, again.failed) == (3, 0)
        assert downloads(running) == served  # listed again, nothing fetched again
        lists = [r for r in running.emulator.log if r.path.endswith("/wf-a/jobs")]
        assert len(lists) >= 2
