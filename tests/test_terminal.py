"""`downloader once` as a user sees it: on an 80-column terminal, and off any terminal."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import anyio

from downloader.emulator import Emulator, parse_scenario
from downloader.runners import _human as human
from tests.support.cli import downloader
from tests.support.client import emulator_client
from tests.support.terminal import run_on_terminal

# Two packages served slowly enough (about 4 s) for the display to show them streaming.
SCENARIO = """
[emulator]
seed = 7
pixxel_api_key = "px-term-key"

[[pixxel.job]]
workflow_id = "wf-t"
job_id = "job-t"
polls_until_done = 1
polls_until_ready = 1
files = [{ name = "scene.tif", size = 6291456 }]
faults = { rate_bytes_per_s = 1500000 }

[[pixxel.catalog]]
id = "cat-term-with-a-rather-long-identifier-0123456789abcdef"
polls_until_ready = 1
files = [{ name = "hyper.tif", size = 4194304 }]
faults = { rate_bytes_per_s = 1000000 }
"""

FAST_POLL = '\n[poll]\ninitial_interval = "100ms"\nmax_interval = "200ms"\n'
RATE = re.compile(r"\d+(\.\d)? (B|KiB|MiB|GiB)/s")
ETA = re.compile(r"eta (\d+[smhd])+")


def _payload_bytes(archive: Path) -> int:
    """The payload octets of every bag under `archive`, from their Payload-Oxum."""
    total = 0
    for info in archive.rglob("bag-info.txt"):
        (oxum,) = re.findall(r"^Payload-Oxum: (\d+)\.\d+$", info.read_text(), re.M)
        total += int(oxum)
    return total


async def test_once_on_an_80_column_terminal_shows_rate_eta_and_a_true_last_frame(
    tmp_path: Path,
) -> None:
    emulator = Emulator(parse_scenario(SCENARIO, source="scenario.toml"))
    async with emulator_client(emulator, tmp_path, config_tail=FAST_POLL) as (_, files):
        config = files.config
        argv = [sys.executable, "-m", "downloader", "once", "-c", str(config)]
        run = await anyio.to_thread.run_sync(lambda: run_on_terminal(argv, columns=80))

    assert run.returncode == 0, "\n".join(run.last)
    overall = [line for frame in run.frames for line in frame if " items " in line]
    assert any(RATE.search(line) and ETA.search(line) for line in overall), overall
    # the catalog's long id is cut in its middle, its tail kept
    assert any(re.search(r"catalog:.*….*abcdef +\d+%", line) for f in run.frames for line in f)
    too_wide = [line for frame in run.frames for line in frame if len(line) > 80]
    assert too_wide == []
    payload = _payload_bytes(tmp_path / "archive")
    assert payload >= 6291456 + 4194304  # the job's package is a ZIP of its file
    (last_overall,) = [line for line in run.last if " items " in line]
    assert "2/2 items" in last_overall
    # bytes done of bytes wanted, the unit written once: "10.1/10.1 MiB"
    number = human.size(payload).split()[0]
    assert re.search(rf" {number}/{human.size(payload)}( |$)", last_overall), run.last
    assert any(line.startswith("2 archived, 0 failed") for line in run.last), run.last


QUICK = re.sub(r"faults = .*\n", "", SCENARIO)


def _once(*args: str) -> subprocess.CompletedProcess[str]:
    return downloader(*args, stdin=subprocess.DEVNULL)


async def test_once_off_a_terminal_logs_json_on_stderr_and_the_summary_alone_on_stdout(
    tmp_path: Path,
) -> None:
    emulator = Emulator(parse_scenario(QUICK, source="scenario.toml"))
    async with emulator_client(emulator, tmp_path, config_tail=FAST_POLL) as (_, files):
        config = files.config
        plain = await anyio.to_thread.run_sync(lambda: _once("once", "-c", str(config)))
        # again, with -c before the command: everything is there, nothing is fetched
        again = await anyio.to_thread.run_sync(lambda: _once("-c", str(config), "once", "--json"))

    assert plain.returncode == 0, plain.stderr
    events = [json.loads(line) for line in plain.stderr.splitlines()]
    assert all(isinstance(event, dict) for event in events)
    assert [e["event"] for e in events].count("item.archived") == 2
    (summary,) = plain.stdout.splitlines()
    summary_form = r"2 archived, 0 failed: .* MiB in [\d.]+ s; fetched .* MiB at .*/s"
    assert re.fullmatch(summary_form, summary)

    assert again.returncode == 0, again.stderr
    result = json.loads(again.stdout)
    assert (result["archived"], result["failed"], result["bytes_fetched"]) == (2, 0, 0)
    assert result["bytes_archived"] == _payload_bytes(tmp_path / "archive")
    assert result["mean_rate"] == 0
    assert all(isinstance(json.loads(line), dict) for line in again.stderr.splitlines())
