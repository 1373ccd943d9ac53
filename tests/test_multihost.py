"""Three hosts, one PostgreSQL database, one emulator, one shared archive root.

Each "host" is a `downloader run` daemon (or, in batch mode, a `downloader once`
process) with its own `[service] node_id` (its leases are held as `<node_id>:run`
or `<node_id>:once`);
they share the watchlist through the database and split it by leases.  The
emulator's counters tell how often each file was served: every asset once,
and after one host is SIGKILLed mid-transfer, its item finishes on another host
that resumes from the saved offsets once the lease has run out.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from functools import partial
from pathlib import Path

import anyio
import bagit
import pytest

from downloader.emulator import (
    Emulator,
    ExpectedFile,
    parse_scenario,
    start_emulator,
    write_client_files,
)
from downloader.store import ItemState, PostgresStore
from tests.support.daemon import status_json
from tests.support.pgserver import PASSWORD

MiB = 1 << 20
RATE = 2 * MiB  # per connection; four segments make an item of 16 MiB last about 2 s
SIZE = 16 * MiB
NODES = ("node-a", "node-b", "node-c")
MODES = ("run", "once")
"""The daemon, and batch mode: both claim and keep work the same way."""


def owners(mode: str) -> dict[str, str]:
    """The lease owner of each node's process, as status shows it, to the node."""
    return {f"{node}:{mode}": node for node in NODES}


SLACK = 4 * MiB
"""What the first, open-ended stream of a file may run past its segment before it is cut:
what loopback socket buffers hold when a loaded machine is slow to read (mostly < 1 MiB)."""

SCENARIO = f"""
[emulator]
seed = 91
pixxel_api_key = "px-multi-key-123"
scale_token = "sc-multi-token-123"
alteryx_client_id = "ayx-multi-id"
alteryx_client_secret = "ayx-multi-secret-123"

[[pixxel.job]]
workflow_id = "wf-m"
job_id = "job-m1"
polls_until_done = 1
polls_until_ready = 1
files = [{{ name = "a.tif", size = {SIZE} }}]
faults = {{ rate_bytes_per_s = {RATE} }}

[[pixxel.job]]
workflow_id = "wf-m"
job_id = "job-m2"
polls_until_done = 1
polls_until_ready = 1
files = [{{ name = "b.tif", size = {SIZE} }}]
faults = {{ rate_bytes_per_s = {RATE} }}

[[pixxel.catalog]]
id = "cat-multi-1"
polls_until_ready = 1
files = [{{ name = "c.tif", size = {SIZE} }}]
faults = {{ rate_bytes_per_s = {RATE} }}

[[pixxel.order_item]]
id = "oi-multi-1"
polls_until_ready = 1
files = [{{ name = "o.tif", size = {SIZE} }}]
faults = {{ rate_bytes_per_s = {RATE} }}

[[scale.job]]
id = 701
polls_until_done = 1
files = [{{ name = "s.tif", size = {SIZE} }}]
faults = {{ rate_bytes_per_s = {RATE} }}

[[alteryx.job]]
id = "ayx-multi-1"
polls_until_done = 1
outputs = [{{ id = "o1", file_name = "out.csv", size = {SIZE}, formats = ["Raw"] }}]
faults = {{ rate_bytes_per_s = {RATE} }}
"""

# one item at a time per host, so the six items spread over the three hosts
TUNING = """
[transfer]
max_concurrent = 1
segment_min_size = "1MiB"
[poll]
initial_interval = "200ms"
max_interval = "1s"
"""


def host_configs(base: str, tmp: Path, state_url: str, lease: str) -> dict[str, Path]:
    """One config per node: the same database, archive root and watchlist; its own node_id."""
    scenario = parse_scenario(SCENARIO, source="multi.toml")
    files = write_client_files(
        scenario, base, tmp / "client", archive_root=tmp / "archive", state_url=state_url
    )
    common = files.config.read_text() + TUNING
    configs = {}
    for node in NODES:
        config = tmp / "client" / f"{node}.toml"
        config.write_text(f'{common}\n[service]\nnode_id = "{node}"\nlease_duration = "{lease}"\n')
        configs[node] = config
    return configs


def start_host(mode: str, config: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "downloader", mode, "-c", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def archived_by(stderr: str) -> list[str]:
    """The items a process's JSON log (on stderr) says it archived."""
    found = []
    for line in stderr.splitlines():
        if line.startswith("{"):
            event = json.loads(line)
            if event.get("event") == "item.archived":
                found.append(event["item"])
    return found


def check_bags(archive: Path, expected: dict[str, list[ExpectedFile]]) -> None:
    bags = [p.parent for p in archive.rglob("bagit.txt") if ".partial" not in p.parts]
    assert len(bags) == len(expected)
    for bag_dir in bags:
        bag = bagit.Bag(str(bag_dir))
        bag.validate()
        key = bag.info["External-Identifier"]
        sources = {f.sha256 for f in expected[key]}
        assert {d["sha256"] for d in bag.payload_entries().values()} == sources, key


async def wait_for(procs: dict[str, subprocess.Popen[str]]) -> dict[str, tuple[int, str, str]]:
    results = {}
    for node, proc in procs.items():
        out, err = await anyio.to_thread.run_sync(partial(proc.communicate, timeout=120))
        results[node] = (proc.returncode, out, err)
    return results


async def all_archived(store: PostgresStore, count: int, seconds: float = 90) -> None:
    with anyio.fail_after(seconds):
        while True:
            items = await store.list_items()
            assert not [i.key for i in items if i.state is ItemState.FAILED]
            if len(items) == count and all(i.state is ItemState.ARCHIVED for i in items):
                return
            await anyio.sleep(0.2)


async def finish(
    mode: str, procs: dict[str, subprocess.Popen[str]], watcher: PostgresStore
) -> dict[str, tuple[int, str, str]]:
    """Wait for the hosts to be done: batch runs exit, daemons are stopped when all is done."""
    if mode == "run":
        await all_archived(watcher, 6)
        for proc in procs.values():
            proc.send_signal(signal.SIGTERM)
    results = await wait_for(procs)
    for node, (code, out, err) in results.items():
        assert code == 0, (node, err[-2000:])
        if mode == "once":
            assert "6 archived, 0 failed" in out
    return results


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
async def test_three_hosts_share_one_watchlist_and_fetch_every_asset_once(
    mode: str, pg_url: str, tmp_path: Path
) -> None:
    emulator = Emulator(parse_scenario(SCENARIO, source="multi.toml"))
    async with await start_emulator(emulator) as running, PostgresStore(pg_url) as watcher:
        configs = host_configs(running.base_url, tmp_path, pg_url, lease="20s")
        procs = {node: start_host(mode, config) for node, config in configs.items()}
        # while they work, status names the node that holds each item being worked
        seen_nodes: set[str] = set()
        deadline = time.monotonic() + 30
        while (
            len(seen_nodes) < 2
            and time.monotonic() < deadline
            and any(proc.poll() is None for proc in procs.values())
        ):
            status = await anyio.to_thread.run_sync(status_json, configs["node-a"])
            for row in status:
                assert row["node"] in (None, *owners(mode))
                if row["node"] is not None:
                    assert row["state"] not in ("archived", "failed")
                    seen_nodes.add(row["node"])
        results = await finish(mode, procs, watcher)
        stats = emulator.stats()
        expected = emulator.expected()
        served = [(r.path, r.range, r.bytes_sent) for r in emulator.files.log]
    assert seen_nodes, "status never named a node while the hosts worked"
    # every item archived by exactly one host, and the work was shared
    archived = {node: archived_by(err) for node, (_, _, err) in results.items()}
    counts = Counter(key for keys in archived.values() for key in keys)
    assert set(counts) == set(expected)
    assert max(counts.values()) == 1, archived
    # (each host usually takes two; a host that started late may get none)
    assert sum(1 for node in NODES if archived[node]) >= 2, archived
    # one complete download per asset: no byte range asked for twice, and bytes served
    # per item its size (plus what the first, open-ended stream ran past its segment)
    starts: dict[str, list[str]] = {}
    for path, byte_range, _ in served:
        assert byte_range is not None  # segmented, ranged GETs
        starts.setdefault(path, []).append(byte_range.partition("-")[0])
    for path, firsts in starts.items():
        assert len(firsts) == len(set(firsts)), (path, firsts)
    for key, files in expected.items():
        size = sum(f.size for f in files)
        served_bytes = stats[key]["bytes_served"]
        print(f"{mode} {key}: served {served_bytes - size} bytes more than its size")
        assert size <= served_bytes <= size + SLACK, (key, served_bytes, size)
    for key in ("pixxel:catalog:cat-multi-1", "pixxel:order_item:oi-multi-1"):
        assert stats[key]["downloads_created"] == 1, stats[key]
    check_bags(tmp_path / "archive", expected)


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
async def test_a_killed_host_s_item_finishes_on_another_after_its_lease_runs_out(
    mode: str, pg_url: str, tmp_path: Path
) -> None:
    emulator = Emulator(parse_scenario(SCENARIO, source="multi.toml"))
    async with (
        await start_emulator(emulator) as running,
        PostgresStore(pg_url) as watcher,
    ):
        configs = host_configs(running.base_url, tmp_path, pg_url, lease="2s")
        procs = {node: start_host(mode, config) for node, config in configs.items()}
        # wait until some host is part-way through an item, with offsets saved
        victim_item = None
        deadline = time.monotonic() + 40
        while victim_item is None:
            assert time.monotonic() < deadline, "no item was ever part-way"
            for item in await watcher.list_items():
                if (
                    item.state is ItemState.DOWNLOADING
                    and item.lease_owner in owners(mode)
                    and SIZE // 4 <= item.bytes_done <= SIZE // 2
                ):
                    victim_item = item
                    break
            await anyio.sleep(0.05)
        assert victim_item.lease_owner is not None
        victim = owners(mode)[victim_item.lease_owner]
        await anyio.sleep(0.6)  # let every segment's cursor be saved at least once
        before_kill = len(emulator.files.log)
        os.kill(procs[victim].pid, signal.SIGKILL)
        await anyio.to_thread.run_sync(procs[victim].communicate)
        survivors = {node: proc for node, proc in procs.items() if node != victim}
        results = await finish(mode, survivors, watcher)
        stats = emulator.stats()
        expected = emulator.expected()
        file_items = dict(emulator.ctx.owners)
        log = list(emulator.files.log)
        final = await watcher.get(victim_item.key)
    assert final is not None
    assert final.state is ItemState.ARCHIVED
    taken_over = [n for n, (_, _, err) in results.items() if victim_item.key in archived_by(err)]
    assert taken_over, "no surviving host archived the killed host's item"
    # the killed item resumed: after the kill, no request for it started at byte 0
    resumed = [r for r in log[before_kill:] if file_items.get(r.path) == victim_item.key]
    assert resumed
    assert all(r.range is not None and not r.range.startswith("bytes=0-") for r in resumed)
    # nothing fetched twice beyond the interrupted segments (what sat in buffers)
    victim_size = sum(f.size for f in expected[victim_item.key])
    print(
        f"killed {victim} at {victim_item.bytes_done} of {victim_size} bytes of "
        f"{victim_item.key}; served {stats[victim_item.key]['bytes_served']}; "
        f"taken over by {taken_over}"
    )
    for key, files in expected.items():
        size = sum(f.size for f in files)
        redo = 4 * MiB if key == victim_item.key else 0
        served_bytes = stats[key]["bytes_served"]
        assert size <= served_bytes <= size + SLACK + redo, (key, served_bytes, size)
    for key in ("pixxel:catalog:cat-multi-1", "pixxel:order_item:oi-multi-1"):
        assert stats[key]["downloads_created"] == 1, stats[key]
    check_bags(tmp_path / "archive", expected)
    assert PASSWORD not in "".join(out + err for _, out, err in results.values())
