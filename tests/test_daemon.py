"""`downloader run` as a subprocess: systemd notify, SIGTERM with a grace period, resume."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import bagit
import pytest

from downloader.emulator import Emulator, parse_scenario
from downloader.emulator._content import SeededContent
from downloader.emulator._files import Faults, FileSpec, RunningHost
from downloader.store import open_store
from tests.support.client import emulator_client
from tests.support.daemon import Daemon, NotifyListener, Setup, status_rows, until

MiB = 1 << 20


@pytest.fixture
def notify() -> Iterator[NotifyListener]:
    listener = NotifyListener()
    yield listener
    listener.close()


def archived(setup: Setup, item_id: str) -> bool:
    return (setup.bag(item_id) / "tagmanifest-sha256.txt").is_file()


async def test_run_sends_ready_status_watchdog_and_stopping_over_notify_socket(
    file_host: RunningHost, tmp_path: Path, notify: NotifyListener, daemons: list[Daemon]
) -> None:
    content = SeededContent(1, 20_000)
    file_host.host.add(FileSpec("/n/a.bin", content))
    setup = Setup(tmp_path)
    setup.write_config()
    setup.write_watchlist({"a": file_host.url("/n/a.bin")})
    env = {"NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "400000"}
    daemon = Daemon(setup.config, tmp_path / "run.log", env)
    daemons.append(daemon)
    await until(lambda: notify.with_key("READY"), what="READY=1")
    (ready,) = notify.with_key("READY")
    assert ready["READY"] == "1"
    assert "STATUS" in ready
    await until(lambda: archived(setup, "a"), what="the item archived")
    # pings come from the scheduler loop at half of WATCHDOG_USEC
    before = len(notify.with_key("WATCHDOG"))
    await anyio.sleep(1.0)
    pings = len(notify.with_key("WATCHDOG")) - before
    assert 3 <= pings <= 8, pings
    assert all(m["WATCHDOG"] == "1" for m in notify.with_key("WATCHDOG"))
    # the status is refreshed with counts per state and a throughput
    await until(
        lambda: any("1 archived" in m["STATUS"] for m in notify.with_key("STATUS")),
        timeout=10,
        what="STATUS= with the archived count",
    )
    assert any(m["STATUS"].endswith("B/s") for m in notify.with_key("STATUS"))
    assert not notify.with_key("STOPPING")
    assert await daemon.stop() == 0, daemon.stderr  # SIGTERM
    assert [m["STOPPING"] for m in notify.with_key("STOPPING")] == ["1"]
    names = [e["event"] for e in daemon.events() if e["event"].startswith("daemon.")]
    assert names[0] == "daemon.started"
    assert names[-2:] == ["daemon.stopping", "daemon.stopped"]
    assert daemon.events("item.archived")[0]["item"] == "http:file:a"


def test_run_exits_2_on_a_bad_config(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[service]\ngrace_period = 'soon'\n")
    result = subprocess.run(
        [sys.executable, "-m", "downloader", "run", "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "service.grace_period" in result.stderr


@pytest.mark.slow
async def test_sigterm_mid_transfer_exits_0_within_the_grace_period_and_a_restart_resumes(
    file_host: RunningHost, tmp_path: Path, daemons: list[Daemon]
) -> None:
    contents = {f"f{i}": SeededContent(10 + i, 6 * MiB) for i in range(2)}
    for name, content in contents.items():
        file_host.host.add(FileSpec(f"/g/{name}.bin", content), Faults(rate_bytes_per_s=MiB // 4))
    setup = Setup(tmp_path)
    setup.write_config(grace_period="1s")
    setup.write_watchlist({name: file_host.url(f"/g/{name}.bin") for name in contents})
    daemon = Daemon(setup.config, tmp_path / "run1.log")
    daemons.append(daemon)

    def served() -> int:
        return sum(r.bytes_sent for r in file_host.host.log)

    await until(lambda: served() >= 2 * MiB, what="2 MiB served")
    sent_at = time.monotonic()
    assert await daemon.stop() == 0, daemon.stderr  # SIGTERM
    took = time.monotonic() - sent_at
    print(f"SIGTERM to exit: {took:.2f} s (grace 1 s), served before: {served()} B")
    assert took < 1 + 3, took  # the grace period plus a small margin
    assert daemon.events("daemon.draining")
    stopped = daemon.events("item.stopped")
    assert {e["item"] for e in stopped} == {"http:file:f0", "http:file:f1"}
    assert all(e["reason"] == "grace period over" for e in stopped)
    # offsets were saved: the store shows bytes on disk, and nothing holds a lease
    rows = status_rows(setup.config)
    assert all(0 < rows[f"http:file:{n}"]["bytes_done"] < 6 * MiB for n in contents)
    async with open_store(f"sqlite:///{tmp_path / 'state.db'}") as store:
        records = await store.list_items()
    assert len(records) == 2
    assert all(r.lease_owner is None for r in records)
    first = served()
    before = len(file_host.host.log)
    for name in contents:
        file_host.host.faults(f"/g/{name}.bin").rate_bytes_per_s = None
    again = Daemon(setup.config, tmp_path / "run2.log")
    daemons.append(again)
    await until(
        lambda: all(archived(setup, n) for n in contents), what="both items archived after restart"
    )
    assert await again.stop() == 0, again.stderr
    rerun = file_host.host.log[before:]
    assert rerun
    # every segment continues from its checkpoint: no request starts again at byte 0
    assert all(r.range is not None and not r.range.startswith("bytes=0-") for r in rerun)
    # fetched twice at most what was in flight (socket buffers, unsaved tail) per segment
    total = sum(c.size for c in contents.values())
    print(f"served in all {first + sum(r.bytes_sent for r in rerun)} B for {total} B")
    assert first + sum(r.bytes_sent for r in rerun) <= total + 8 * (MiB // 2)
    for name, content in contents.items():
        bag = bagit.Bag(str(setup.bag(name)))
        bag.validate()
        assert (setup.bag(name) / "data" / f"{name}.bin").read_bytes() == content.read(
            0, content.size
        )


async def test_a_second_stop_signal_cancels_the_drain_at_once(
    file_host: RunningHost, tmp_path: Path, daemons: list[Daemon]
) -> None:
    content = SeededContent(20, 8 * MiB)
    file_host.host.add(FileSpec("/h/slow.bin", content), Faults(rate_bytes_per_s=MiB // 4))
    setup = Setup(tmp_path)
    setup.write_config(grace_period="60s")
    setup.write_watchlist({"slow": file_host.url("/h/slow.bin")})
    daemon = Daemon(setup.config, tmp_path / "run.log")
    daemons.append(daemon)
    await until(lambda: sum(r.bytes_sent for r in file_host.host.log) > 0, what="bytes flowing")
    for _ in range(200):  # progress on record before the stop, so keeping it means something
        rows = await anyio.to_thread.run_sync(status_rows, setup.config)
        if rows["http:file:slow"]["bytes_done"] > 0:
            break
        await anyio.sleep(0.05)
    daemon.signal(signal.SIGTERM)
    await until(lambda: daemon.events("daemon.draining"), what="the drain begun")
    sent_at = time.monotonic()
    daemon.signal(signal.SIGINT)
    assert await daemon.wait(timeout=10) == 0, daemon.stderr
    assert time.monotonic() - sent_at < 3  # not the 60 s grace period
    assert daemon.events("daemon.stopping_now")
    (stopped,) = daemon.events("item.stopped")
    assert stopped["reason"] == "second stop signal"
    assert status_rows(setup.config)["http:file:slow"]["bytes_done"] > 0


EMULATED = """
[emulator]
seed = 9
pixxel_api_key = "px-daemon-key-123"
scale_token = "sc-daemon-token-123"
alteryx_client_id = "ayx-daemon-id"
alteryx_client_secret = "ayx-daemon-secret-123"

[[pixxel.job]]
workflow_id = "wf-d"
job_id = "job-d"
polls_until_done = 1
polls_until_ready = 1
files = [{ name = "a.tif", size = 300000 }]

[[pixxel.catalog]]
id = "cat-d"
polls_until_ready = 2
files = [{ name = "c.tif", size = 200000 }]

[[scale.job]]
id = 77
polls_until_done = 1
files = [{ name = "s.tif", size = 100000 }]

[[alteryx.job]]
id = "ayx-d"
polls_until_done = 1
outputs = [{ id = "o1", file_name = "out.csv", size = 50000, formats = ["Raw"] }]
"""


async def test_run_archives_items_of_every_platform_from_the_emulator(
    tmp_path: Path, daemons: list[Daemon]
) -> None:
    scenario = parse_scenario(EMULATED, source="daemon.toml")
    emulator = Emulator(scenario)
    fast_poll = '\n[poll]\ninitial_interval = "100ms"\nmax_interval = "200ms"\n'
    async with emulator_client(emulator, tmp_path, config_tail=fast_poll) as (_, files):
        daemon = Daemon(files.config, tmp_path / "run.log")
        daemons.append(daemon)
        expected = emulator.expected()

        def bags() -> list[Path]:
            found = (tmp_path / "archive").rglob("tagmanifest-sha256.txt")
            return [p.parent for p in found if ".partial" not in p.parts]

        await until(lambda: len(bags()) == len(expected), timeout=60, what="every item archived")
        assert await daemon.stop() == 0, daemon.stderr
    for bag_dir in bags():
        bag = bagit.Bag(str(bag_dir))
        bag.validate()
        key = bag.info["External-Identifier"]
        assert {d["sha256"] for d in bag.payload_entries().values()} <= {
            f.sha256 for f in expected[key]
        }
    assert {e["item"] for e in daemon.events("item.archived")} == set(expected)
