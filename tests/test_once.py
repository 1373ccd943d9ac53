"""`downloader once` end to end, as a subprocess, against the loopback file host."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import anyio
import bagit

from downloader.emulator._content import SeededContent
from downloader.emulator._files import Faults, FileSpec, RunningHost
from tests.support.plain import once, serve_all, write_config


async def test_once_archives_every_item_as_a_valid_bag_and_exits_0(
    file_host: RunningHost, tmp_path: Path
) -> None:
    contents = [SeededContent(50 + i, size) for i, size in enumerate([1000, 3 << 20, 0])]
    config = write_config(tmp_path, serve_all(file_host, "p", contents))
    result = await anyio.to_thread.run_sync(once, config)
    assert result.returncode == 0, result.stderr
    assert "3 archived, 0 failed" in result.stdout
    for i, content in enumerate(contents):
        bag_dir = tmp_path / "archive" / "http" / f"file-{i}"
        bag = bagit.Bag(str(bag_dir))
        bag.validate()
        assert bag.info["External-Identifier"] == f"http:file:file-{i}"
        (payload,) = (bag_dir / "data").iterdir()
        assert payload.name == f"f{i}.bin"
        assert payload.read_bytes() == content.read(0, content.size)


async def test_once_exits_1_when_an_item_fails_and_archives_the_others(
    file_host: RunningHost, tmp_path: Path
) -> None:
    good, bad = SeededContent(60, 5000), SeededContent(61, 5000)
    file_host.host.add(FileSpec("/q/good.bin", good))
    file_host.host.add(FileSpec("/q/bad.bin", bad))
    config = write_config(
        tmp_path,
        [(file_host.url("/q/good.bin"), good.hexdigest()), (file_host.url("/q/bad.bin"), "0" * 64)],
    )
    result = await anyio.to_thread.run_sync(once, config)
    assert result.returncode == 1, result.stderr
    assert "1 archived, 1 failed" in result.stdout
    assert (tmp_path / "archive" / "http" / "file-0" / "bagit.txt").exists()
    assert not (tmp_path / "archive" / "http" / "file-1").exists()


def test_once_exits_2_on_a_bad_config(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[transfer]\nsegments = 'many'\n")
    result = once(config)
    assert result.returncode == 2
    assert "transfer.segments" in result.stderr


async def test_once_exits_3_when_interrupted_and_a_rerun_finishes_without_refetching(
    file_host: RunningHost, tmp_path: Path
) -> None:
    content = SeededContent(70, 8 << 20)
    file_host.host.add(FileSpec("/s/slow.bin", content), Faults(rate_bytes_per_s=1 << 19))
    config = write_config(tmp_path, [(file_host.url("/s/slow.bin"), content.hexdigest())])
    child = subprocess.Popen(
        [sys.executable, "-m", "downloader", "once", "-c", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 20
    while sum(r.bytes_sent for r in file_host.host.log) < 2 << 20:
        assert time.monotonic() < deadline
        await anyio.sleep(0.05)
    # while it streams, status shows the item downloading with bytes part-way
    # in a thread: the file host runs on this event loop and must keep its pace meanwhile
    # (a paused host sends a burst when it resumes, all of it in flight at the signal)
    live = await anyio.to_thread.run_sync(
        lambda: subprocess.run(
            [sys.executable, "-m", "downloader", "status", "--json", "-c", str(config)],
            capture_output=True,
            text=True,
            check=True,
        )
    )
    (row,) = json.loads(live.stdout)
    assert row["state"] == "downloading"
    assert 0 < row["bytes_done"] < content.size
    os.kill(child.pid, signal.SIGTERM)
    _, err = await anyio.to_thread.run_sync(child.communicate)
    assert child.returncode == 3, err
    first = sum(r.bytes_sent for r in file_host.host.log)
    before = len(file_host.host.log)
    file_host.host.faults("/s/slow.bin").rate_bytes_per_s = None
    result = await anyio.to_thread.run_sync(once, config)
    assert result.returncode == 0, result.stderr
    rerun = file_host.host.log[before:]
    # every segment continues from its saved offset: nothing starts again at byte 0
    assert rerun
    assert all(r.range is not None and not r.range.startswith("bytes=0-") for r in rerun)
    # the rerun asks for the missing ranges only, each answered exactly once...
    for r in rerun:
        start, _, end = r.range.removeprefix("bytes=").partition("-")  # type: ignore[union-attr]
        assert r.bytes_sent == int(end) + 1 - int(start), r.range
    # ...so what was fetched twice is what sat in socket buffers when the signal came:
    # on loopback the kernel buffers several MiB per connection of a client slowed by load
    assert first + sum(r.bytes_sent for r in rerun) <= content.size + 8 * (1 << 20)
    bagit.Bag(str(tmp_path / "archive" / "http" / "file-0")).validate()


async def test_status_json_matches_the_contract_after_a_run(
    file_host: RunningHost, tmp_path: Path
) -> None:
    good, bad = SeededContent(80, 4000), SeededContent(81, 4000)
    file_host.host.add(FileSpec("/t/good.bin", good))
    file_host.host.add(FileSpec("/t/bad.bin", bad))
    config = write_config(
        tmp_path,
        [(file_host.url("/t/good.bin"), good.hexdigest()), (file_host.url("/t/bad.bin"), "1" * 64)],
    )
    await anyio.to_thread.run_sync(once, config)
    out = subprocess.run(
        [sys.executable, "-m", "downloader", "status", "--json", "-c", str(config)],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 1, out.stderr  # an item is failed
    rows = {row["item"]: row for row in json.loads(out.stdout)}
    assert set(rows) == {"http:file:file-0", "http:file:file-1"}
    keys = {"item", "provider", "kind", "state", "bytes_done", "bytes_total", "error"}
    keys |= {"archive_path", "updated_at"}
    for row in rows.values():
        assert keys <= set(row)
        assert row["provider"] == "http"
        assert row["kind"] == "file"
        assert row["updated_at"].endswith("Z")
    assert rows["http:file:file-0"]["state"] == "archived"
    assert rows["http:file:file-0"]["archive_path"].endswith("http/file-0")
    assert rows["http:file:file-0"]["bytes_done"] == rows["http:file:file-0"]["bytes_total"] == 4000
    assert rows["http:file:file-1"]["state"] == "failed"
    assert "sha256 mismatch" in rows["http:file:file-1"]["error"]
    text = subprocess.run(
        [sys.executable, "-m", "downloader", "status", "-v", "-c", str(config)],
        capture_output=True,
        text=True,
    ).stdout
    assert "http:file:file-0" in text
    assert "good.bin" in text


async def test_verify_reports_intact_bags_and_catches_a_changed_payload(
    file_host: RunningHost, tmp_path: Path
) -> None:
    contents = [SeededContent(90 + i, 3000) for i in range(2)]
    config = write_config(tmp_path, serve_all(file_host, "v", contents))
    assert (await anyio.to_thread.run_sync(once, config)).returncode == 0

    def verify(*items: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "downloader", "verify", "-c", str(config), *items],
            capture_output=True,
            text=True,
        )

    ok = verify()
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.count("intact") == 2
    payload = tmp_path / "archive" / "http" / "file-1" / "data" / "f1.bin"
    data = bytearray(payload.read_bytes())
    data[10] ^= 0xFF
    payload.write_bytes(bytes(data))
    bad = verify()
    assert bad.returncode == 1
    assert "http:file:file-1" in bad.stdout
    only_good = verify("http:file:file-0")
    assert only_good.returncode == 0
    missing = verify("http:file:nope")
    assert missing.returncode == 1
    assert "missing" in missing.stdout
