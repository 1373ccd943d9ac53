"""Crash safety: `downloader once` SIGKILLed at random moments, restarted each time.

At the end every bag validates, every payload equals its source, the bytes served
stay within 1.5 x the total, and no catalog or order-item download was created twice.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import anyio
import bagit

from downloader.emulator import Emulator, parse_scenario, start_emulator, write_client_files

MiB = 1 << 20
RATE = 2 * MiB  # per connection: the run outlasts ten kills, each landing mid-transfer

SCENARIO = f"""
[emulator]
seed = 77
pixxel_api_key = "px-crash-key-123"
scale_token = "sc-crash-token-123"
alteryx_client_id = "ayx-crash-id"
alteryx_client_secret = "ayx-crash-secret-123"

[[pixxel.job]]
workflow_id = "wf-c"
job_id = "job-c"
polls_until_done = 1
polls_until_ready = 1
files = [{{ name = "a.tif", size = {12 * MiB} }}, {{ name = "b.json", size = 3000 }}]
faults = {{ rate_bytes_per_s = {RATE} }}

[[pixxel.catalog]]
id = "cat-crash-1"
polls_until_ready = 2
files = [{{ name = "c.tif", size = {8 * MiB} }}]
faults = {{ rate_bytes_per_s = {RATE} }}

[[pixxel.order_item]]
id = "oi-crash-1"
polls_until_ready = 1
files = [{{ name = "o.tif", size = {6 * MiB} }}]
faults = {{ rate_bytes_per_s = {RATE} }}

[[scale.job]]
id = 501
polls_until_done = 1
files = [{{ name = "s1.tif", size = {5 * MiB} }}, {{ name = "s2.tif", size = {3 * MiB} }}]
faults = {{ rate_bytes_per_s = {RATE} }}

[[alteryx.job]]
id = "ayx-crash-1"
polls_until_done = 1
outputs = [{{ id = "o1", file_name = "out.csv", size = {4 * MiB}, formats = ["Raw"] }}]
faults = {{ rate_bytes_per_s = {RATE} }}
"""

FAST_POLL = '\n[poll]\ninitial_interval = "200ms"\nmax_interval = "1s"\n'


def start_once(config: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "downloader", "once", "-c", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def test_ten_sigkills_lose_nothing_and_redo_little(tmp_path: Path) -> None:
    scenario = parse_scenario(SCENARIO, source="crash.toml")
    emulator = Emulator(scenario)
    rng = random.Random(4)
    async with await start_emulator(emulator) as running:
        files = write_client_files(
            scenario,
            running.base_url,
            tmp_path / "client",
            archive_root=tmp_path / "archive",
            state_url=f"sqlite:///{tmp_path / 'state.db'}",
        )
        files.config.write_text(files.config.read_text() + FAST_POLL)
        kills = 0
        while kills < 10:
            child = start_once(files.config)
            await anyio.sleep(rng.uniform(0.3, 1.2))
            if child.poll() is not None:
                break  # finished before this kill: nothing left to interrupt
            os.kill(child.pid, signal.SIGKILL)
            await anyio.to_thread.run_sync(child.wait)
            kills += 1
        final = start_once(files.config)
        code = await anyio.to_thread.run_sync(lambda: final.wait(timeout=120))
        stats = emulator.stats()
        expected = emulator.expected()
    assert kills == 10, "the run ended before ten kills could land"
    assert code == 0
    total = sum(f.size for fs in expected.values() for f in fs)
    served = sum(s["bytes_served"] for s in stats.values())
    print(f"kills={kills} served={served} total={total} ratio={served / total:.3f}")
    print(
        {k: (v["bytes_served"], sum(f.size for f in expected.get(k, []))) for k, v in stats.items()}
    )
    assert served <= 1.5 * total, (served, total, kills)
    for key in ("pixxel:catalog:cat-crash-1", "pixxel:order_item:oi-crash-1"):
        assert stats[key]["downloads_created"] == 1, stats[key]
    archive = tmp_path / "archive"
    bags = [p.parent for p in archive.rglob("bagit.txt") if ".partial" not in p.parts]
    assert len(bags) == len(expected)
    for bag_dir in bags:
        bag = bagit.Bag(str(bag_dir))
        bag.validate()
        key = bag.info["External-Identifier"]
        sources = {f.sha256 for f in expected[key]}
        payload = {d["sha256"] for d in bag.payload_entries().values()}
        assert payload, key
        assert payload <= sources, key
