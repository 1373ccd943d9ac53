"""Sources end to end: each kind listed from the emulator, its items archived once.

`once` lists every source of the watchlist when it starts and works what they list;
a second `once` lists them again and fetches nothing; `status --json` and
`bag-info.txt` name the source of each item.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import bagit

from downloader.config import Settings
from downloader.emulator import RunningEmulator
from downloader.runners._batch import BatchResult
from downloader.runners._compose import run_once
from downloader.runners._pipeline import SOURCE_FIELD
from downloader.runners._status import collect_status, status_output
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
        if (r.method in ("PUT", "POST") and not r.path.endswith("/oauth2/token"))
        or "/output/" in r.path
        or "/v6/files" in r.path
    )


def verify(config: Path, *items: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "downloader", "verify", "-c", str(config), *items]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


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
        async with open_store(settings.state.url) as store:
            text = (await status_output(store, as_json=False, verbose=False)).text
        assert text.count("<pixxel:workflow:wf-a>") == 3
        for i in range(3):
            bag = bagit.Bag(str(settings.archive.root / "pixxel" / "jobs" / "wf-a" / f"j{i:03d}"))
            bag.validate()
            assert bag.info[SOURCE_FIELD] == "pixxel:workflow:wf-a"
            stac = json.loads((Path(bag.path) / "stac-item.json").read_text())
            assert stac["properties"]["downloader:source"] == "pixxel:workflow:wf-a"
        served = downloads(running)
        again = await once(settings, watchlist)
        assert (again.archived, again.failed) == (3, 0)
        assert downloads(running) == served  # listed again, nothing fetched again
        lists = [r for r in running.emulator.log if r.path.endswith("/wf-a/jobs")]
        assert len(lists) >= 2
        # a source on the command line stands for the items it listed
        config = tmp_path / "client" / "config.toml"
        done = await anyio.to_thread.run_sync(verify, config, "pixxel:workflow:wf-a")
        assert done.returncode == 0, done.stderr
        assert all(f"wf-a/j{i:03d}" in done.stdout for i in range(3))
        unknown = await anyio.to_thread.run_sync(verify, config, "pixxel:workflow:nope")
        assert unknown.returncode == 1
        assert "pixxel:workflow:nope: a source that listed no item" in unknown.stdout


async def test_a_pixxel_order_source_archives_each_item_once_it_is_fulfilled(
    tmp_path: Path,
) -> None:
    scenario = HEAD + "\n".join(
        f'[[pixxel.order_item]]\nid = "oi-{i}"\norder_id = "{order}"\npolls_until_done = 2\n'
        f'files = [{{ name = "scene.tif", size = {2000 + i} }}]'
        for i, order in enumerate(["ord-1", "ord-1", "ord-2"])
    )
    async with platform(tmp_path, scenario) as (running, settings):
        result = await once(settings, '[[pixxel.order]]\nid = "ord-1"\n')
        assert (result.archived, result.failed) == (2, 0)
        rows = await status(settings)
        assert sorted(rows) == ["pixxel:order_item:oi-0", "pixxel:order_item:oi-1"]
        assert {row["source"] for row in rows.values()} == {"pixxel:order:ord-1"}
        for key in ("oi-0", "oi-1"):
            bagit.Bag(str(settings.archive.root / "pixxel" / "order-items" / key)).validate()
            # each waited for its fulfilment: asked about until FULFILLED
            assert running.emulator.stats()[f"pixxel:order_item:{key}"]["job_polls"] >= 3
        served = downloads(running)
        assert (await once(settings, '[[pixxel.order]]\nid = "ord-1"\n')).archived == 2
        assert downloads(running) == served


async def test_a_scale_jobs_source_archives_its_jobs_and_shows_a_failed_one_failed(
    tmp_path: Path,
) -> None:
    jobs = [(1, "ingest", ""), (2, "ingest", 'fail = "out of memory"'), (3, "other", "")]
    scenario = HEAD + "\n".join(
        f'[[scale.job]]\nid = {i}\njob_type_name = "{kind}"\n{extra}\n'
        'files = [{ name = "a.bin", size = 100 }]'
        for i, kind, extra in jobs
    )
    async with platform(tmp_path, scenario) as (running, settings):
        result = await once(settings, '[[scale.jobs]]\njob_type_name = "ingest"\n')
        assert (result.archived, result.failed) == (1, 1)
        rows = await status(settings)
        assert sorted(rows) == ["scale:job:1", "scale:job:2"]
        assert rows["scale:job:2"]["state"] == "failed"
        assert "out of memory" in str(rows["scale:job:2"]["error"])
        assert rows["scale:job:2"]["source"] == "scale:jobs:job_type_name=ingest"
        bagit.Bag(str(settings.archive.root / "scale" / "jobs" / "1")).validate()
        served = downloads(running)
        again = await once(settings, '[[scale.jobs]]\njob_type_name = "ingest"\n')
        assert (again.archived, again.failed) == (1, 1)
        assert downloads(running) == served


async def test_an_alteryx_workflow_source_archives_its_jobs_and_one_named_twice_is_one_item(
    tmp_path: Path,
) -> None:
    scenario = HEAD + "\n".join(
        f'[[alteryx.job]]\nid = "job-{i}"\napp_id = "{app}"\n'
        'outputs = [{ id = "o1", file_name = "r.csv", size = 100 }]'
        for i, app in enumerate(["wf-1", "wf-1", "wf-2"])
    )
    watchlist = '[[alteryx.workflow]]\nid = "wf-1"\n[[alteryx.job]]\nid = "job-0"\n'
    parse = parse_watchlist(watchlist, file="watchlist.toml")
    async with platform(tmp_path, scenario) as (running, settings):
        result = await run_once(settings, list(parse.items), sources=parse.sources)
        assert (result.archived, result.failed) == (2, 0)
        rows = await status(settings)
        assert sorted(rows) == ["alteryx:job:job-0", "alteryx:job:job-1"]
        assert rows["alteryx:job:job-1"]["source"] == "alteryx:workflow:wf-1"
        for key in ("job-0", "job-1"):
            bagit.Bag(str(settings.archive.root / "alteryx" / "jobs" / key)).validate()
        served = downloads(running)
        again = await run_once(settings, list(parse.items), sources=parse.sources)
        assert (again.archived, again.failed) == (2, 0)
        assert downloads(running) == served


async def test_a_restart_asks_the_platform_only_for_what_is_new_since_its_cursor(
    tmp_path: Path,
) -> None:
    scenario = HEAD + "\n".join(
        f'[[scale.job]]\nid = {i}\njob_type_name = "ingest"\nfiles = [{{ name = "a", size = 10 }}]'
        for i in (1, 2)
    )
    watchlist = '[[scale.jobs]]\njob_type_name = "ingest"\n'
    async with platform(tmp_path, scenario) as (running, settings):
        assert (await once(settings, watchlist)).archived == 2
        async with open_store(settings.state.url) as store:
            (record,) = await store.sources().list_sources()
        assert record.cursor is not None
        assert record.items_listed == 2
        again = await once(settings, watchlist)  # a new process: the cursor is in the store
        assert again.archived == 2
        queries = [r.query for r in running.emulator.log if r.path.endswith("/v6/jobs/")]
        assert "started" not in queries[0]  # the first listing reads the whole history
        assert f"started={record.cursor}" in queries[-1].replace("%3A", ":")


async def test_a_list_the_platform_refuses_is_recorded_on_the_source_and_once_still_ends(
    tmp_path: Path,
) -> None:
    scenario = (
        HEAD
        + "alteryx_job_lists = false\n"
        + (
            '[[alteryx.job]]\nid = "a1"\napp_id = "wf"\n'
            'outputs = [{ id = "o1", file_name = "r.csv", size = 10 }]'
        )
    )
    async with platform(tmp_path, scenario) as (_, settings):
        result = await once(settings, '[[alteryx.workflow]]\nid = "wf"\n')
        assert (result.archived, result.failed) == (0, 0)
        async with open_store(settings.state.url) as store:
            (record,) = await store.sources().list_sources()
            shown = (await status_output(store, as_json=False, verbose=True)).text
        assert record.error is not None
        assert "HTTP 404" in record.error
        # no item carries it: `status -v` shows the source with its error
        assert shown.startswith("source alteryx:workflow:wf: 0 items listed, next listing: ")
        assert "; last listing failed: " in shown
        assert "HTTP 404" in shown
        assert record.next_listing_at is not None
