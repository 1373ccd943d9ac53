"""One bad item never takes the batch down: an exception of no kind of ours, raised
while one item is worked (here a platform answer holding a 5,000-digit integer, which
Python's `json` refuses to convert), fails or retries that item under its `[retry]`
budget, logged once per try with its traceback, while the rest of the batch goes on,
in `once` and in `run`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio

from downloader.emulator import Emulator, parse_scenario, start_emulator, write_client_files
from downloader.store import ItemState, open_store
from tests.support.daemon import Daemon

SCENARIO = """
[emulator]
seed = 7

[[pixxel.catalog]]
id = "good-1"
files = [{ name = "a.tif", size = 20000 }]

[[pixxel.catalog]]
id = "bad"
files = [{ name = "b.tif", size = 20000 }]
malformed = "huge_number"

[[pixxel.job]]
workflow_id = "wf"
job_id = "good-2"
files = [{ name = "c.tif", size = 30000 }]

[[scale.job]]
id = 17
files = [{ name = "d.kml", size = 1000 }]
"""
GOOD = ("pixxel:catalog:good-1", "pixxel:job:wf/good-2", "scale:job:17")
BAD = "pixxel:catalog:bad"
RETRY = '[retry]\nattempts = 2\ninitial_delay = "1s"\nmax_delay = "1s"\n'
FAST_POLL = '[poll]\ninitial_interval = "100ms"\nmax_interval = "200ms"\n'


def client_config(tmp_path: Path, base_url: str, extra: str) -> Path:
    scenario = parse_scenario(SCENARIO, source="scenario.toml")
    files = write_client_files(
        scenario,
        base_url,
        tmp_path / "client",
        archive_root=tmp_path / "archive",
        state_url=f"sqlite:///{tmp_path / 'state.db'}",
    )
    files.config.write_text(files.config.read_text() + "\n" + FAST_POLL + extra)
    return files.config


def events(text: str, name: str) -> list[dict[str, Any]]:
    found = []
    for line in text.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict) and event.get("event") == name:
            found.append(event)
    return found


async def records(tmp_path: Path) -> dict[str, Any]:
    async with open_store(f"sqlite:///{tmp_path / 'state.db'}") as store:
        return {r.key: r for r in await store.list_items()}


async def test_once_fails_only_the_item_whose_work_raised_and_archives_the_rest(
    tmp_path: Path,
) -> None:
    scenario = parse_scenario(SCENARIO, source="scenario.toml")
    async with await start_emulator(Emulator(scenario)) as running:
        config = client_config(tmp_path, running.base_url, RETRY)
        command = [sys.executable, "-m", "downloader", "once", "-c", str(config)]
        # in a thread: the emulator answers on this loop meanwhile
        done = await anyio.to_thread.run_sync(
            lambda: subprocess.run(command, capture_output=True, text=True, timeout=90)
        )
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    found = await records(tmp_path)
    assert {key: found[key].state for key in GOOD} == dict.fromkeys(GOOD, ItemState.ARCHIVED)
    bad = found[BAD]
    assert bad.state is ItemState.FAILED
    assert bad.error is not None
    assert bad.error.startswith("ItemCrashed: ValueError: ")
    assert "gave up after 2 attempts" in bad.error
    assert len(bad.error) < 600  # the answer is not copied into the error
    crashed = events(done.stdout, "item.crashed")
    assert [e["item"] for e in crashed] == [BAD, BAD]  # once per try
    assert all("Traceback" in e["exception"] and "ValueError" in e["exception"] for e in crashed)


async def test_run_retries_only_the_item_whose_work_raised_and_archives_the_rest(
    tmp_path: Path,
) -> None:
    scenario = parse_scenario(SCENARIO, source="scenario.toml")
    async with await start_emulator(Emulator(scenario)) as running:
        config = client_config(tmp_path, running.base_url, RETRY.replace("= 2", "= 0"))
        daemon = Daemon(config, tmp_path / "run.log")
        try:

            async def settled() -> bool:
                found = await records(tmp_path)
                archived = all(k in found and found[k].state is ItemState.ARCHIVED for k in GOOD)
                return archived and len(daemon.events("item.crashed")) >= 2

            await until_async(settled, what="the good items archived, the bad one tried twice")
            assert daemon.process.poll() is None, daemon.stderr  # still running
            bad = (await records(tmp_path))[BAD]
            assert bad.state is not ItemState.FAILED  # attempts = 0: never given up
            assert bad.attempts >= 2
            assert bad.error is not None
            assert bad.error.startswith("ItemCrashed: ValueError")
        finally:
            code = await daemon.stop()
    assert code == 0, daemon.stderr
    assert "Traceback" not in daemon.stderr
    assert {e["item"] for e in daemon.events("item.crashed")} == {BAD}


async def until_async(check: Any, *, what: str, timeout: float = 60.0) -> None:
    """Poll the coroutine function `check` until it is true."""
    result = False

    async def poll() -> None:
        nonlocal result
        while not (result := await check()):
            await anyio.sleep(0.2)

    with anyio.move_on_after(timeout):
        await poll()
    assert result, f"timed out waiting for {what}"
