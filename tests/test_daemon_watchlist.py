"""`downloader run` as a subprocess: the watchlist and the config change under it."""

from __future__ import annotations

import signal
from pathlib import Path

import anyio
import bagit

from downloader.emulator._content import SeededContent
from downloader.emulator._files import Faults, FileSpec, RunningHost
from tests.support.daemon import Daemon, Setup, status_rows, until

MiB = 1 << 20


def archived(setup: Setup, item_id: str) -> bool:
    return (setup.bag(item_id) / "tagmanifest-sha256.txt").is_file()


def add_files(host: RunningHost, count: int, size: int = 30_000) -> dict[str, str]:
    """`count` files on the host; id -> URL."""
    urls = {}
    for i in range(count):
        host.host.add(FileSpec(f"/w/e{i}.bin", SeededContent(100 + i, size)))
        urls[f"e{i}"] = host.url(f"/w/e{i}.bin")
    return urls


async def test_an_entry_added_to_the_watchlist_is_archived_and_a_bad_edit_keeps_the_rest_running(
    file_host: RunningHost, tmp_path: Path, daemons: list[Daemon]
) -> None:
    urls = add_files(file_host, 4)
    setup = Setup(tmp_path)
    setup.write_config(check_interval="100ms")
    setup.write_watchlist({"e0": urls["e0"]})
    daemon = Daemon(setup.config, tmp_path / "run.log")
    daemons.append(daemon)
    await until(lambda: archived(setup, "e0"), what="e0 archived")
    # added while running: picked up by the stat poll, no restart
    setup.write_watchlist({"e0": urls["e0"], "e1": urls["e1"]})
    await until(lambda: archived(setup, "e1"), what="e1 archived after being added")
    # a malformed edit: one bad entry (an ftp URL), one good new entry
    bad_entry = '[[http.file]]\nurl = "ftp://127.0.0.1/x.bin"\nid = "bad"\n'
    good = {"e0": urls["e0"], "e1": urls["e1"], "e2": urls["e2"]}
    setup.write_watchlist(good, extra=bad_entry)
    lines = setup.watchlist.read_text().splitlines()
    bad_line = lines.index('url = "ftp://127.0.0.1/x.bin"')  # 1-based: its header's line
    await until(lambda: archived(setup, "e2"), what="e2 archived despite a bad entry")
    (problem,) = daemon.events("watchlist.problem")
    assert problem["file"] == str(setup.watchlist)
    assert problem["line"] == bad_line
    assert problem["key"].startswith("http.file[")
    assert f"{setup.watchlist}:{bad_line}" in daemon.stderr
    rows = status_rows(setup.config)
    assert set(rows) == {"http:file:e0", "http:file:e1", "http:file:e2"}
    assert {r["state"] for r in rows.values()} == {"archived"}
    # a TOML syntax error keeps the item set as it was
    setup.write_watchlist(good, extra="[[http.file]\nurl = \n")
    await until(lambda: daemon.events("watchlist.unusable"), what="the broken file reported")
    assert set(status_rows(setup.config)) == set(rows)
    # the file fixed, with one more entry: running again from it
    setup.write_watchlist({**good, "e3": urls["e3"]})
    await until(lambda: archived(setup, "e3"), what="e3 archived after the fix")
    assert await daemon.stop() == 0, daemon.stderr
    assert len(daemon.events("item.archived")) == 4


async def test_sighup_rereads_the_watchlist_and_applies_a_new_config(
    file_host: RunningHost, tmp_path: Path, daemons: list[Daemon]
) -> None:
    urls = add_files(file_host, 3)
    setup = Setup(tmp_path)
    # the stat poll is all but off: only SIGHUP can make the daemon look
    setup.write_config(check_interval="1h")
    setup.write_watchlist({"e0": urls["e0"]})
    daemon = Daemon(setup.config, tmp_path / "run.log")
    daemons.append(daemon)
    await until(lambda: archived(setup, "e0"), what="e0 archived")
    setup.write_watchlist({"e0": urls["e0"], "e1": urls["e1"]})
    await anyio.sleep(1.0)
    assert not setup.bag("e1").exists()  # not noticed without a signal
    daemon.signal(signal.SIGHUP)
    await until(lambda: archived(setup, "e1"), what="e1 archived after SIGHUP")
    # an invalid config is refused, every problem logged; the daemon runs on
    good_config = setup.config.read_text()
    setup.config.write_text(good_config + 'grace_period = "never"\nbogus = 1\n')
    daemon.signal(signal.SIGHUP)
    await until(lambda: daemon.events("daemon.reload_refused"), what="the reload refused")
    problems = daemon.events("config.problem")
    assert {e["key"] for e in problems} == {"service.grace_period", "service.bogus"}
    assert all(e["file"] == str(setup.config) and e["line"] for e in problems)
    # a valid config naming another watchlist: applied without a restart
    other = tmp_path / "other-watchlist.toml"
    other.write_text(setup.watchlist_text({"e2": urls["e2"]}))
    setup.config.write_text(
        good_config.replace(str(setup.watchlist), str(other)).replace(
            'segment_min_size = "1MiB"', 'segment_min_size = "2MiB"'
        )
    )
    daemon.signal(signal.SIGHUP)
    await until(lambda: archived(setup, "e2"), what="e2 from the new watchlist archived")
    first, last = daemon.events("daemon.reloaded")
    assert first["restart_needed"] == []
    assert last["restart_needed"] == ["transfer.segment_min_size"]
    rows = status_rows(setup.config)
    assert set(rows) == {"http:file:e2"}  # e0, e1 are no longer listed; their bags stay
    assert archived(setup, "e0")
    assert archived(setup, "e1")
    assert await daemon.stop() == 0, daemon.stderr


async def test_removing_an_entry_stops_its_work_and_leaves_archived_bags_untouched(
    file_host: RunningHost, tmp_path: Path, daemons: list[Daemon]
) -> None:
    urls = add_files(file_host, 1)
    slow = SeededContent(200, 8 * MiB)
    file_host.host.add(FileSpec("/w/slow.bin", slow), Faults(rate_bytes_per_s=MiB // 4))
    setup = Setup(tmp_path)
    setup.write_config(check_interval="100ms")
    setup.write_watchlist({"e0": urls["e0"], "slow": file_host.url("/w/slow.bin")})
    daemon = Daemon(setup.config, tmp_path / "run.log")
    daemons.append(daemon)

    def served_slow() -> int:
        return sum(r.bytes_sent for r in file_host.host.log if r.path == "/w/slow.bin")

    await until(lambda: archived(setup, "e0"), what="e0 archived")
    await until(lambda: served_slow() >= MiB // 2, what="the slow file part-way")
    bag_files = {p: p.read_bytes() for p in setup.bag("e0").rglob("*") if p.is_file()}
    setup.write_watchlist({})
    await until(lambda: daemon.events("item.stopped"), what="the slow item stopped")
    (stopped,) = daemon.events("item.stopped")
    assert stopped == stopped | {"item": "http:file:slow", "reason": "removed from the watchlist"}
    await anyio.sleep(0.5)  # what was in the socket buffers drains
    after_stop = served_slow()
    await anyio.sleep(1.5)
    assert served_slow() == after_stop  # nothing more is fetched for a removed entry
    assert status_rows(setup.config) == {}
    # the archived bag is exactly as it was
    assert {p: p.read_bytes() for p in setup.bag("e0").rglob("*") if p.is_file()} == bag_files
    bagit.Bag(str(setup.bag("e0"))).validate()
    # listed again, the slow item continues from its saved offsets
    before = len(file_host.host.log)
    file_host.host.faults("/w/slow.bin").rate_bytes_per_s = None
    setup.write_watchlist({"e0": urls["e0"], "slow": file_host.url("/w/slow.bin")})
    await until(lambda: archived(setup, "slow"), what="the slow item archived when re-added")
    again = [r for r in file_host.host.log[before:] if r.path == "/w/slow.bin"]
    assert again
    assert all(r.range is not None and not r.range.startswith("bytes=0-") for r in again)
    assert await daemon.stop() == 0, daemon.stderr
