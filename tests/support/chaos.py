"""Chaos runs: `downloader once` SIGKILLed at random moments of a run against the emulator.

`run_chaos` starts the emulator (in this process) with a scenario, runs `downloader once`
against it as a child process, kills it with SIGKILL after a random delay, starts it
again, and so on for `kills` kills; then one last run goes to the end.  The report says
whether every bag validates and holds exactly the files the emulator served, how many
bytes were fetched more than once, how many streams were cut short (by a kill or by a
fault), and how many platform API requests each item took.

`tests/test_crash.py` runs a reduced version in `make test`; `make chaos` runs
`python -m tests.support.chaos` (50 kills, about 2 GB, faults on).
"""

from __future__ import annotations

import argparse
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import bagit

from downloader.emulator import Emulator, ExpectedFile, parse_scenario
from downloader.emulator._filespec import RequestRecord
from downloader.emulator._state import ApiRecord
from downloader.store import open_store
from downloader.transfer import Limits
from downloader.transfer._plan import plan_segments
from tests.support.client import emulator_client

CATALOG_DOWNLOADS = "/v0/catalogs/download"
"""Pixxel catalog and order-item downloads: created by POST, polled by GET."""

MiB = 1 << 20
FAST_POLL = '\n[poll]\ninitial_interval = "200ms"\nmax_interval = "1s"\n'


@dataclass
class ChaosReport:
    kills: int = 0
    final_exit: int | None = None
    items: int = 0
    bags: int = 0
    total_bytes: int = 0
    served_bytes: int = 0
    interrupted_streams: int = 0
    cut_by_fault: int = 0
    """Of those, the streams the file host dropped on purpose (a `drop_after_bytes` fault)."""
    api_calls: dict[str, int] = field(default_factory=dict)
    downloads_created: dict[str, int] = field(default_factory=dict)
    downloads_unrecorded: dict[str, int] = field(default_factory=dict)
    """Per item, downloads the platform created that the client never asked about again:
    a kill landed between the platform's answer and the client's durable record of it.
    No client can avoid that without an idempotency key or a way to list downloads,
    and the Pixxel API offers neither; re-creating a download it *had* recorded
    would be a bug, and shows as created minus unrecorded above one."""
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0
    fault_answers: dict[str, int] = field(default_factory=dict)
    """Error answers served, as "files 503" or "api 429": the faults the run met."""

    @property
    def refetched(self) -> int:
        """Bytes served beyond one copy of every file."""
        return max(0, self.served_bytes - self.total_bytes)

    @property
    def refetched_per_interrupted_stream(self) -> float:
        return self.refetched / max(1, self.interrupted_streams)

    def lines(self) -> list[str]:
        calls = sorted(self.api_calls.values()) or [0]
        return [
            f"kills: {self.kills}; last run exit code: {self.final_exit}; {self.seconds:.0f} s",
            f"items: {self.items}; bags: {self.bags}; problems: {len(self.problems)}",
            *(f"  problem: {p}" for p in self.problems),
            f"bytes: {self.total_bytes / MiB:.1f} MiB archived, {self.served_bytes / MiB:.1f} MiB "
            f"served, {self.refetched / MiB:.1f} MiB fetched again",
            f"interrupted streams: {self.interrupted_streams} ({self.cut_by_fault} dropped by "
            f"a fault, {self.interrupted_streams - self.cut_by_fault} by a kill); fetched again "
            f"per interrupted stream: {self.refetched_per_interrupted_stream / MiB:.2f} MiB",
            f"platform API requests per item: min {calls[0]}, max {calls[-1]}, "
            f"mean {sum(calls) / len(calls):.1f}",
            *(f"  {key}: {n}" for key, n in sorted(self.api_calls.items())),
            "error answers served: "
            + ", ".join(f"{k} x{n}" for k, n in sorted(self.fault_answers.items())),
            "catalog and order downloads created: "
            + ", ".join(f"{k} x{n}" for k, n in sorted(self.downloads_created.items()) if n)
            + "; of them taken by a kill before they were recorded: "
            + (
                ", ".join(f"{k} x{n}" for k, n in sorted(self.downloads_unrecorded.items()))
                or "none"
            ),
        ]


def _start_once(config: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "downloader", "once", "-c", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


_RANGE = re.compile(r"bytes=(\d+)-(\d*)$")


def _is_cut(record: RequestRecord, size: int, limits: Limits) -> bool:
    """Whether a body was cut short of what the client needed from it."""
    if record.status not in (200, 206):
        return False
    match = _RANGE.match(record.range or "")
    start, end = (0, size) if match is None else (int(match[1]), size)
    if match is not None and match[2]:
        end = int(match[2]) + 1
    elif start == 0 and record.status == 206:
        # the first request is open-ended on purpose; it is needed up to segment 0's end
        first = plan_segments(size, limits, ranges_supported=True)[0]
        end = first.end if first.end is not None else size
    return record.bytes_sent < end - start


async def run_chaos(
    workdir: Path,
    scenario_text: str,
    *,
    kills: int,
    seed: int,
    gap: tuple[float, float] = (0.3, 1.2),
    extra_config: str = "",
    final_timeout: float = 600.0,
) -> ChaosReport:
    """Kill `downloader once` `kills` times at random moments, then let it finish; a report."""
    started = time.monotonic()
    scenario = parse_scenario(scenario_text, source="chaos.toml")
    emulator = Emulator(scenario)
    rng = random.Random(seed)
    report = ChaosReport()
    client = emulator_client(emulator, workdir, config_tail=FAST_POLL + extra_config)
    async with client as (_, files):
        while report.kills < kills:
            child = _start_once(files.config)
            await anyio.sleep(rng.uniform(*gap))
            if child.poll() is not None:
                break  # finished before this kill: nothing left to interrupt
            os.kill(child.pid, signal.SIGKILL)
            await anyio.to_thread.run_sync(child.wait)
            report.kills += 1
        final = _start_once(files.config)
        report.final_exit = await anyio.to_thread.run_sync(
            lambda: final.wait(timeout=final_timeout)
        )
        stats = emulator.stats()
        for where, records in (("files", emulator.files.log), ("api", emulator.log)):
            for status in (r.status for r in records if r.status >= 400):
                name = f"{where} {status}"
                report.fault_answers[name] = report.fault_answers.get(name, 0) + 1
        expected = await anyio.to_thread.run_sync(emulator.expected)
        limits = Limits()
        for r in emulator.files.log:
            if _is_cut(r, emulator.files.spec(r.path).content.size, limits):
                report.interrupted_streams += 1
                drop_at = emulator.files.faults(r.path).drop_after_bytes
                report.cut_by_fault += r.bytes_sent == drop_at  # drops count from the body's start
    report.items = len(expected)
    report.total_bytes = sum(f.size for fs in expected.values() for f in fs)
    report.served_bytes = sum(s["bytes_served"] for s in stats.values())
    report.api_calls = {k: s["api_calls"] for k, s in stats.items() if k in expected}
    report.downloads_created = {k: s["downloads_created"] for k, s in stats.items()}
    report.downloads_unrecorded = _unrecorded_downloads(emulator.log)
    await anyio.to_thread.run_sync(_check_bags, workdir / "archive", expected, report)
    async with open_store(f"sqlite:///{workdir / 'state.db'}") as store:
        for record in await store.list_items():
            if record.error:
                report.problems.append(f"{record.key} ({record.state}): {record.error}")
    report.seconds = time.monotonic() - started
    return report


def _unrecorded_downloads(log: Sequence[ApiRecord]) -> dict[str, int]:
    """Per item, catalog downloads created and never polled before the next creation."""
    unrecorded: dict[str, int] = {}
    polled_since_creation: dict[str, bool] = {}
    for record in log:
        if record.item is None or CATALOG_DOWNLOADS not in record.path:
            continue
        if record.method == "POST" and record.status == 201:
            if polled_since_creation.get(record.item) is False:
                unrecorded[record.item] = unrecorded.get(record.item, 0) + 1
            polled_since_creation[record.item] = False
        elif record.method == "GET" and record.item in polled_since_creation:
            polled_since_creation[record.item] = True
    return unrecorded


def _check_bags(
    archive: Path, expected: dict[str, list[ExpectedFile]], report: ChaosReport
) -> None:
    bags = [p.parent for p in archive.rglob("bagit.txt") if ".partial" not in p.parts]
    report.bags = len(bags)
    seen = set()
    for bag_dir in bags:
        bag = bagit.Bag(str(bag_dir))
        try:
            bag.validate()
        except bagit.BagError as exc:
            report.problems.append(f"{bag_dir}: {exc}")
            continue
        key = bag.info["External-Identifier"]
        seen.add(key)
        sources = sorted(f.sha256 for f in expected.get(key, []))
        payload = sorted(d["sha256"] for d in bag.payload_entries().values())
        if payload != sources:
            report.problems.append(f"{key}: payload differs from what the emulator served")
    for key in sorted(set(expected) - seen):
        report.problems.append(f"{key}: no bag")


def chaos_scenario(total: int, *, rate: int, seed: int = 50) -> str:
    """Every platform and item kind, about `total` bytes, with faults switched on.

    Each file answers a burst of 5xx first and then drops two connections 3 MiB into
    their bodies; every item's first API calls are throttled with 429 and Retry-After;
    Pixxel's signed URLs expire after 5 s, Alteryx tokens after 30 s.
    """
    unit = total // 20
    faults = (
        f"faults = {{ rate_bytes_per_s = {rate}, drop_after_bytes = {3 * MiB}, "
        'drop_times = 2, error_statuses = [503, 500, 502], retry_after = "1" }'
    )
    knobs = f'throttle = 2\nretry_after = "1"\nurl_lifetime = 5\n{faults}'
    return f"""
[emulator]
seed = {seed}
pixxel_api_key = "px-chaos-key"
scale_token = "sc-chaos-token"
alteryx_client_id = "ayx-chaos-id"
alteryx_client_secret = "ayx-chaos-secret"
token_lifetime = 30
url_lifetime = 20

[[pixxel.job]]
workflow_id = "wf-chaos"
job_id = "job-1"
polls_until_done = 2
polls_until_ready = 2
files = [{{ name = "b04.tif", size = {3 * unit} }}, {{ name = "b08.tif", size = {2 * unit} }}]
{knobs}

[[pixxel.catalog]]
id = "cat-chaos-1"
polls_until_ready = 2
files = [{{ name = "l2a.tif", size = {3 * unit} }}, {{ name = "stac.json", size = 4096 }}]
{knobs}

[[pixxel.order_item]]
id = "oi-chaos-1"
polls_until_ready = 1
files = [{{ name = "order.tif", size = {2 * unit} }}]
{knobs}

[[scale.job]]
id = 9001
polls_until_done = 2
files = [{{ name = "s1.tif", size = {2 * unit} }}, {{ name = "s2.tif", size = {2 * unit} }},
         {{ name = "s3.json", size = 20000 }}]
{knobs}

[[scale.job]]
id = 9002
polls_until_done = 1
files = [{{ name = "t1.tif", size = {2 * unit} }}]
{knobs}

[[alteryx.job]]
id = "ayx-chaos-1"
polls_until_done = 2
outputs = [{{ id = "o1", file_name = "out.csv", size = {2 * unit}, formats = ["Raw"] }},
           {{ id = "o2", file_name = "out2.csv", size = {2 * unit}, formats = ["Raw"] }}]
{knobs}
"""


def _size(text: str) -> int:
    units = {"GiB": 1 << 30, "MiB": MiB, "GB": 10**9, "MB": 10**6}
    for suffix, factor in units.items():
        if text.endswith(suffix):
            return int(float(text[: -len(suffix)]) * factor)
    return int(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=50)
    parser.add_argument("--size", default="2GiB", help="bytes in the whole run")
    parser.add_argument("--rate", default="4MiB", help="per connection, so kills land mid-run")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--gap", type=float, nargs=2, default=(0.8, 3.0), metavar=("MIN", "MAX"))
    parser.add_argument("--limit", type=float, default=16.0, help="MiB fetched again per stream")
    args = parser.parse_args(argv)
    scenario = chaos_scenario(_size(args.size), rate=_size(args.rate))
    extra = '\n[transfer]\nmax_per_host = 8\nmin_free_space = "0"\n'
    with tempfile.TemporaryDirectory(prefix="downloader-chaos-") as tmp:
        report = anyio.run(
            lambda: run_chaos(
                Path(tmp),
                scenario,
                kills=args.kills,
                seed=args.seed,
                gap=tuple(args.gap),
                extra_config=extra,
                final_timeout=1800,
            )
        )
    print("\n".join(report.lines()))
    ok = (
        report.final_exit == 0
        and not report.problems
        and report.kills == args.kills
        and report.refetched_per_interrupted_stream <= args.limit * MiB
    )
    print("chaos: PASS" if ok else "chaos: FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
