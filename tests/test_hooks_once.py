"""`downloader once` with hooks: its run's events delivered before it exits, within
`service.hook_wait`; what is left said in the summary and delivered by the next run;
a bag adopted after a lost state database has its hook run as a bag just made."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import anyio
from aiohttp import web

from downloader.emulator._content import SeededContent
from downloader.emulator._files import FileSpec, RunningHost
from tests.support.cli import downloader
from tests.support.daemon import Setup
from tests.support.web import serve

KiB = 1 << 10


def once(config: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return downloader("once", *extra, "-c", str(config), timeout=90)


async def test_once_waits_hook_wait_at_most_says_what_is_left_and_the_next_run_delivers_it(
    file_host: RunningHost, tmp_path: Path
) -> None:
    failing = True
    posts: list[tuple[str | None, str]] = []

    async def receive(request: web.Request) -> web.Response:
        posts.append((request.headers.get("Idempotency-Key"), (await request.json())["item"]))
        return web.Response(status=503 if failing else 200)

    for name in ("a", "b"):
        file_host.host.add(FileSpec(f"/o/{name}.bin", SeededContent(ord(name), 16 * KiB)))
    async with serve({"/in": receive}) as base:
        setup = Setup(
            tmp_path,
            extra_config=(
                f'[[hooks]]\non = ["archived"]\nurl = "{base}/in"\n'
                'retry_delay = "200ms"\nmax_delay = "400ms"\n'
            ),
        )
        setup.write_config(hook_wait="2s")
        setup.write_watchlist({n: file_host.url(f"/o/{n}.bin") for n in ("a", "b")})
        started = time.monotonic()
        first = await anyio.to_thread.run_sync(once, setup.config)
        assert time.monotonic() - started < 30
        assert first.returncode == 0, first.stderr
        assert first.stdout.rstrip().endswith(
            "; 2 hook events not delivered yet (the next run will)"
        )
        assert len(posts) >= 4  # tried, and tried again, within the wait
        keys = {item: key for key, item in posts}
        failing = False
        second = await anyio.to_thread.run_sync(lambda: once(setup.config, "--json"))
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout)["hooks_undelivered"] == 0
    delivered = posts[-2:]
    assert sorted(item for _, item in delivered) == ["http:file:a", "http:file:b"]
    # the next run sends each event with the key it was first sent with
    assert all(keys[item] == key for key, item in delivered)


async def test_a_bag_adopted_after_the_state_database_was_lost_runs_its_hook(
    file_host: RunningHost, tmp_path: Path
) -> None:
    content = SeededContent(7, 20 * KiB)
    file_host.host.add(FileSpec("/o/x.bin", content))
    log = tmp_path / "hook.jsonl"
    script = "import sys\nopen(sys.argv[1], 'a').write(sys.stdin.read() + '\\n')\n"
    command = json.dumps([sys.executable, "-c", script, str(log)])
    setup = Setup(tmp_path, extra_config=f'[[hooks]]\non = ["archived"]\ncommand = {command}\n')
    setup.write_config()
    setup.write_watchlist({"x": file_host.url("/o/x.bin")})
    first = await anyio.to_thread.run_sync(once, setup.config)
    assert first.returncode == 0, first.stderr
    for file in tmp_path.glob("state.db*"):  # the state is lost; the archive stays
        file.unlink()
    second = await anyio.to_thread.run_sync(once, setup.config)
    assert second.returncode == 0, second.stderr
    assert "archive.bag_adopted" in second.stderr
    made, adopted = (json.loads(line) for line in log.read_text().splitlines())
    assert made["event_id"] != adopted["event_id"]  # a new store: a new event
    for document in (made, adopted):
        assert document["archive_path"] == str(setup.bag("x"))
        assert document["files"] == [
            {"path": "data/x.bin", "size": 20 * KiB, "sha256": content.hexdigest()}
        ]
