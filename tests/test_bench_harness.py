"""The benchmark harness keeps its word: outputs are checked, floors are what they say.

No timing here (benchmarks are measured by `make bench`, not by tests): these tests
hold the parts that make a reported figure honest.  A check must refuse a wrong or
missing byte; the bare client's durable mode must leave whole files under their
names and no temporary ones; the targets table must read each floor from its own
row; and a second suite of a day must not overwrite the first one's results.
"""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import json
import sys
from pathlib import Path

import pytest
from aiohttp import web

from bench.__main__ import results_path
from bench.bare_client import fetch_all
from bench.harness import DURABLE, PLAIN, Contender, Workload
from bench.report import targets_table
from bench.service import idle_scenario
from bench.sources import expected_per_minute, scheduled_listings, window
from bench.timing import Timed
from bench.tools import Fetch
from bench.workloads import WrongBytes, check_bags, check_plain, nothing
from downloader.emulator import Emulator, parse_scenario, start_emulator
from tests.support.web import serve

BODIES = {f"f{i}.bin": bytes([i]) * (70_000 + i) for i in range(6)}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _fetches(base: str = "http://127.0.0.1:1") -> list[Fetch]:
    return [Fetch(f"{base}/{name}", name, _sha(body), name[:-4]) for name, body in BODIES.items()]


def _timed(wall: float) -> Timed:
    return Timed(wall=wall, cpu=wall, rss=10_000_000, stdout="", stderr="", code=0)


def test_the_plain_check_refuses_one_wrong_byte_and_a_missing_file(tmp_path: Path) -> None:
    fetches = _fetches()
    for name, body in BODIES.items():
        (tmp_path / name).write_bytes(body)
    assert check_plain(fetches)(tmp_path, _timed(1)) == {}

    wrong = bytearray(BODIES["f3.bin"])
    wrong[12_345] ^= 1
    (tmp_path / "f3.bin").write_bytes(bytes(wrong))
    with pytest.raises(WrongBytes, match=r"f3\.bin: sha256"):
        check_plain(fetches)(tmp_path, _timed(1))

    (tmp_path / "f3.bin").unlink()
    with pytest.raises(WrongBytes, match=r"f3\.bin is missing"):
        check_plain(fetches)(tmp_path, _timed(1))


def test_the_bag_check_wants_the_payload_and_its_manifest_line(tmp_path: Path) -> None:
    fetches = _fetches()
    for f in fetches:
        bag = tmp_path / "archive" / "http" / f.item_id
        (bag / "data").mkdir(parents=True)
        (bag / "data" / f.name).write_bytes(BODIES[f.name])
        (bag / "manifest-sha256.txt").write_text(f"{f.sha256}  data/{f.name}\n")
    assert check_bags(fetches)(tmp_path, _timed(1)) == {}

    # right bytes, but the bag does not vouch for them
    victim = tmp_path / "archive" / "http" / "f2" / "manifest-sha256.txt"
    victim.write_text(f"{'0' * 64}  data/f2.bin\n")
    with pytest.raises(WrongBytes, match="not in the bag's manifest"):
        check_bags(fetches)(tmp_path, _timed(1))


@pytest.mark.parametrize("durable", [False, True])
@pytest.mark.parametrize("beside", [False, True])
async def test_the_bare_client_writes_every_body_whole(
    tmp_path: Path, durable: bool, beside: bool
) -> None:
    async def body(request: web.Request) -> web.StreamResponse:
        return web.Response(body=BODIES[request.match_info["name"]])

    async with serve({"/{name}": body}) as base:
        fetches = _fetches(base)
        pairs = [(f.url, str(tmp_path / f.name)) for f in fetches]
        # the client runs its own loop, as in the benchmark's subprocess
        await asyncio.to_thread(asyncio.run, fetch_all(pairs, 3, beside, durable))

    check_plain(fetches)(tmp_path, _timed(1))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(BODIES)  # no `.part` left


async def test_the_bare_client_fails_on_an_error_status(tmp_path: Path) -> None:
    async def gone(request: web.Request) -> web.StreamResponse:
        return web.Response(status=410)

    async with serve({"/{name}": gone}) as base:
        pairs = [(f"{base}/x.bin", str(tmp_path / "x.bin"))]
        with pytest.raises(Exception, match="410"):
            await asyncio.to_thread(asyncio.run, fetch_all(pairs, 1, False, True))
    assert list(tmp_path.iterdir()) == []


def _row(
    name: str,
    wall: float,
    *,
    subject: bool = False,
    floor: str = "",
    extra: dict[str, float] | None = None,
) -> Contender:
    """A row of three runs around `wall` (median `wall`), each with the metrics `extra`."""
    row = Contender(name, lambda run: [], nothing, subject=subject, floor=floor)
    row.runs = [(_timed(w), dict(extra or {})) for w in (wall, wall + 0.5, wall - 0.5)]
    return row


def test_the_targets_table_reads_each_floor_from_its_own_row() -> None:
    # 2000 files; aria2c 2.0 s, so 3 x aria2c asks for at most 0.667 s
    w3 = Workload(
        "W3",
        "many files",
        [
            _row("downloader", 6.0, subject=True),
            _row("curl -Z --parallel-max 16", 0.2),
            _row("aria2c -j16 -i list", 2.0),
            _row("bare aiohttp client", 0.6, floor=PLAIN),
            _row("the same, each file fsynced and renamed", 1.2, floor=DURABLE),
        ],
        amount=2000,
        unit="files/s",
    )
    lines = targets_table({"W3": w3})
    header = lines[0]
    assert "bare aiohttp client (floor)" in header
    assert "each file made durable (floor)" in header
    w3_lines = [line for line in lines if line.startswith("| W3 |")]
    [aria2] = [line for line in w3_lines if "3 × aria2c" in line]
    cells = [c.strip() for c in aria2.strip("|").split("|")]
    # downloader 2.0 / 6.0; plain floor 2.0 / 0.6; durable floor 2.0 / 1.2
    assert cells[2:] == ["0.33", "**not met**", "3.33 (met)", "1.67 (not met)"]
    [curl] = [line for line in w3_lines if "1.0 × curl -Z" in line]
    assert curl.rstrip().endswith("| 0.33 (not met) | 0.17 (not met) |")
    # a workload that did not run says so, in every one of its targets
    assert all("not run" in line for line in lines if line.startswith("| W4 |"))


def test_a_second_suite_of_a_day_gets_its_own_results_file(tmp_path: Path) -> None:
    day = datetime.date(2026, 12, 3)
    first = results_path(tmp_path, day)
    assert first.name == "2026-12-03.md"
    first.write_text("the morning's suite and its analysis")
    second = results_path(tmp_path, day)
    assert second.name == "2026-12-03-2.md"
    second.write_text("x")
    assert results_path(tmp_path, day).name == "2026-12-03-3.md"
    assert first.read_text() == "the morning's suite and its analysis"


def test_a_floor_figure_given_by_construction_is_not_shown_as_met() -> None:
    w7 = Workload(
        "W7",
        "idle",
        [
            _row(
                "downloader run (idle)",
                70,
                subject=True,
                extra={"cpu %": 30.0, "items asked": 10_000},
            ),
            _row(
                "bare aiohttp client", 2, floor=PLAIN, extra={"cpu %": 4.2, "items asked": 10_000}
            ),
        ],
        compare=False,
    )
    lines = [line for line in targets_table({"W7": w7}) if line.startswith("| W7 |")]
    [cpu] = [line for line in lines if "CPU" in line]
    [asked] = [line for line in lines if "asked" in line]
    assert cpu.rstrip().endswith("| 30.00 | **not met** | 4.20 (not met) |  |")
    assert asked.rstrip().endswith("| 10000.00 | met |  |  |")


BARE_POLL = Path(__file__).resolve().parent.parent / "bench" / "bare_poll.py"


async def _bare_poll(tmp_path: Path, scenario: str, mode: str) -> tuple[int, dict[str, float]]:
    """Run `bench/bare_poll.py` in `mode` against an emulator of `scenario`'s 20 jobs."""
    key = tmp_path / "key"
    key.write_text("k\n")
    emulator = Emulator(parse_scenario(scenario, source="scenario.toml"))
    async with await start_emulator(emulator) as running:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(BARE_POLL),
            running.base_url,
            str(key),
            "20",
            "wf-idle",
            mode,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, _ = await proc.communicate()
        requests = len(emulator.log)
    assert proc.returncode is not None
    measured = json.loads(out) if proc.returncode == 0 else {}
    return proc.returncode, {**measured, "requests": requests}


@pytest.mark.parametrize(("mode", "questions"), [("get", 20), ("list", 10)])
async def test_the_bare_poll_client_asks_about_every_job_in_both_modes(
    tmp_path: Path, mode: str, questions: int
) -> None:
    code, measured = await _bare_poll(tmp_path, idle_scenario(20), mode)
    assert code == 0
    assert measured["questions"] == questions
    assert measured["requests"] == questions  # a list is one request for all 20 jobs
    assert measured["cpu ms each"] > 0


async def test_the_bare_list_client_fails_when_a_job_is_not_listed_as_running(
    tmp_path: Path,
) -> None:
    scenario = idle_scenario(20).replace(
        "seconds_until_done = 100000000", "polls_until_done = 0", 1
    )
    code, _ = await _bare_poll(tmp_path, scenario, "list")
    assert code != 0


def test_w8s_window_holds_exactly_the_listings_the_schedule_places_there() -> None:
    # listed at 0 (its jobs are new), 5, 15, 35, 75 s: the window opens 1 s after the
    # second listing and holds the third and fourth, far from either edge
    assert window(1, 60) == (6.0, 66.0)
    assert scheduled_listings(6.0, 66.0) == 2
    assert scheduled_listings(0.0, 76.0) == 5
    assert expected_per_minute(10, 1, 60) == pytest.approx(20.0)
    assert expected_per_minute(10, 1, 20) == pytest.approx(30.0)  # --quick: the third only
