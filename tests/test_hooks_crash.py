"""Hooks from the outbox, against a real daemon: SIGKILLed between an item's
archiving and its hook's delivery, and a webhook receiver that keeps failing.

The first test kills `downloader run` with SIGKILL at random moments of 20 short
runs, then lets `downloader once` finish: every archived item's hook ran (at least
once, each time with the same event id), and none ran for an item that was not
archived.  The second serves a webhook that fails until told otherwise: the items
are archived meanwhile, `status` shows the failing hook, and once the receiver
heals each event arrives with the idempotency key it was first sent with.
"""

from __future__ import annotations

import json
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest
from aiohttp import web

from downloader.emulator._content import SeededContent
from downloader.emulator._files import Faults, FileSpec, RunningHost
from tests.support.daemon import Daemon, Setup, status_rows, until
from tests.support.web import serve

KiB = 1 << 10

# appends "<event id from the environment> <item> <state> <event id from stdin>"
HOOK_SCRIPT = (
    "import json, os, sys, time\n"
    "doc = json.load(sys.stdin)\n"
    "time.sleep(0.1)\n"
    "with open(sys.argv[1], 'a') as out:\n"
    "    out.write(' '.join([os.environ['DOWNLOADER_EVENT_ID'], sys.argv[2], sys.argv[3],"
    " doc['event_id']]) + '\\n')\n"
)


def _hook(name: str, on: str, log: Path) -> str:
    command = [sys.executable, "-c", HOOK_SCRIPT, str(log), "{item}", "{state}"]
    return (
        f'[[hooks]]\nname = "{name}"\non = ["{on}"]\ncommand = {json.dumps(command)}\n'
        'retry_delay = "200ms"\nmax_delay = "1s"\ntimeout = "3s"\n'
    )


def _lines(log: Path) -> list[list[str]]:
    return [line.split() for line in log.read_text().splitlines()] if log.exists() else []


_UNDELIVERED = "SELECT 1 FROM outbox WHERE delivered_at IS NULL"


def _store_rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


@pytest.mark.slow
async def test_sigkills_between_archiving_and_delivery_lose_no_hook_and_invent_none(
    file_host: RunningHost, tmp_path: Path
) -> None:
    rng = random.Random(24)
    items = {f"f{i}": f"/k/f{i}.bin" for i in range(16)}
    for size, path in enumerate(items.values(), start=1):
        # up to half a second each: the items end at every moment of the first runs
        content = SeededContent(rng.randrange(1 << 30), size * 8 * KiB)
        file_host.host.add(FileSpec(path, content), Faults(rate_bytes_per_s=256 * KiB))
    entries = {name: file_host.url(path) for name, path in items.items()}
    entries["gone"] = file_host.url("/k/gone.bin")  # 404: failed at once
    entries["lost"] = file_host.url("/k/lost.bin")
    archived_log, failed_log = tmp_path / "archived.log", tmp_path / "failed.log"
    setup = Setup(
        tmp_path,
        extra_config=(
            _hook("ingest", "archived", archived_log) + _hook("alarm", "failed", failed_log)
        ),
    )
    # the items and hook events a killed daemon held are free again within seconds
    setup.write_config(hook_wait="30s", lease_duration="3s")
    setup.write_watchlist(entries)
    db = tmp_path / "state.db"
    kills = between = 0
    started = time.monotonic()
    for _ in range(20):
        daemon = Daemon(setup.config, tmp_path / f"run-{kills}.log")

        def up(d: Daemon = daemon) -> bool:
            return bool(d.events("daemon.started"))

        # the kill's moment counts from the daemon's start, not its process's: on a
        # loaded machine the imports alone can outlast a fixed pause, and such kills
        # would all land before any work
        await until(up, timeout=60, what="the daemon's start")
        await anyio.sleep(rng.uniform(0.0, 1.1))
        daemon.kill()  # SIGKILL
        kills += 1
        if db.exists() and _store_rows(db, _UNDELIVERED):
            between += 1  # this kill fell after some archiving, before its delivery
    kill_phase = time.monotonic() - started
    assert between >= 1, "no kill landed between an archiving and its hook's delivery"
    # the last run goes to the end: `once` works what is left and delivers what waits
    done = await anyio.to_thread.run_sync(
        lambda: subprocess.run(
            [sys.executable, "-m", "downloader", "once", "--json", "-c", str(setup.config)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    )
    assert done.returncode == 1, done.stderr  # gone and lost failed
    summary = json.loads(done.stdout)
    assert summary["hooks_undelivered"] == 0
    states = {str(k): str(v) for k, v in _store_rows(db, "SELECT key, state FROM items")}
    archived = {key for key, state in states.items() if state == "archived"}
    failed = {key for key, state in states.items() if state == "failed"}
    assert archived == {f"http:file:{name}" for name in items}
    assert failed == {"http:file:gone", "http:file:lost"}
    events = {
        (str(key), str(hook)): str(ident)
        for ident, key, hook, delivered in _store_rows(
            db, "SELECT event_id, item_key, hook, delivered_at FROM outbox"
        )
        if delivered is not None
    }
    assert len(events) == len(archived) + len(failed)  # every one delivered, none twice
    for log, hook, keys in ((archived_log, "ingest", archived), (failed_log, "alarm", failed)):
        seen: dict[str, set[str]] = {}
        for env_id, item, state, doc_id in _lines(log):
            assert env_id == doc_id
            assert state == ("archived" if hook == "ingest" else "failed")
            seen.setdefault(item, set()).add(env_id)
        # each item's hook ran, and only items of that state had it run
        assert set(seen) == keys, (hook, sorted(seen), sorted(keys))
        # however often a kill made it run again, one event id: the idempotency key
        for item, ids in seen.items():
            assert ids == {events[(item, hook)]}, (item, ids)
    runs = len(_lines(archived_log))
    print(f"{kills} kills in {kill_phase:.1f}s, {between} with events undelivered; {runs} runs")


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[str, dict[str, object]]]:
    """A webhook receiver on loopback that answers 503 (slowly) while `failing`."""
    state: dict[str, object] = {"failing": True, "posts": [], "delivered": []}

    async def hook(request: web.Request) -> web.Response:
        body = await request.json()
        record = (request.headers.get("Idempotency-Key"), body, request.query.get("token"))
        state["posts"].append(record)  # type: ignore[attr-defined]
        if state["failing"]:
            await anyio.sleep(0.3)
            return web.Response(status=503, text="down for maintenance")
        state["delivered"].append(record)  # type: ignore[attr-defined]
        return web.Response(status=204)

    async with serve({"/events": hook}) as base:
        yield base, state


@pytest.mark.slow
async def test_a_failing_webhook_is_retried_shown_in_status_and_never_holds_back_items(
    file_host: RunningHost, tmp_path: Path, receiver: tuple[str, dict[str, object]]
) -> None:
    base, state = receiver
    token = "tok-9f8e7d6c5b4a"
    contents = {f"w{i}": SeededContent(100 + i, 48 * KiB) for i in range(4)}
    for name, content in contents.items():
        file_host.host.add(FileSpec(f"/w/{name}.bin", content))
    setup = Setup(
        tmp_path,
        extra_config=(
            f'[[hooks]]\nname = "ingest"\non = ["archived"]\nurl = "{base}/events?token={token}"\n'
            'timeout = "5s"\nretry_delay = "200ms"\nmax_delay = "500ms"\n'
        ),
    )
    setup.write_config()
    setup.write_watchlist({name: file_host.url(f"/w/{name}.bin") for name in contents})
    daemon = Daemon(setup.config, tmp_path / "run.log")
    try:
        keys = {f"http:file:{name}" for name in contents}

        def all_archived() -> bool:
            rows = status_rows(setup.config)
            return all(rows.get(k, {}).get("state") == "archived" for k in keys)

        # archived while every POST fails
        await until(all_archived, timeout=30, what="every item archived")
        assert state["delivered"] == []
        await until(
            lambda: all(
                row.get("hooks", [{}])[0].get("attempts", 0) >= 2
                for key, row in status_rows(setup.config).items()
            ),
            timeout=30,
            what="status showing each item's hook failing",
        )
        rows = status_rows(setup.config)
        for key in keys:
            (hook,) = rows[key]["hooks"]
            assert hook["hook"] == "ingest"
            assert hook["event"] == "archived"
            assert "HTTP 503" in hook["last_error"]
        text = subprocess.run(
            [sys.executable, "-m", "downloader", "status", "-c", str(setup.config)],
            capture_output=True,
            text=True,
            check=False,
        ).stdout
        assert text.count("hook ingest (archived): not delivered") == len(keys)
        state["failing"] = False
        await until(
            lambda: len(state["delivered"]) >= len(keys),  # type: ignore[arg-type]
            timeout=30,
            what="every event delivered once the receiver heals",
        )
        await until(
            lambda: all("hooks" not in row for row in status_rows(setup.config).values()),
            timeout=10,
            what="status clear of hooks",
        )
    finally:
        assert await daemon.stop() == 0, daemon.stderr
    posts = state["posts"]
    delivered = state["delivered"]
    assert isinstance(posts, list)
    assert isinstance(delivered, list)
    ids: dict[str, set[str]] = {}
    for ident, body, sent_token in posts:
        assert ident == body["event_id"]
        assert sent_token == token  # the receiver gets the URL as written
        ids.setdefault(body["item"], set()).add(ident)
    assert set(ids) == keys
    assert all(len(one) == 1 for one in ids.values())
    assert len(posts) > len(delivered)  # retried
    for _, body, _ in delivered:
        name = body["item"].rpartition(":")[2]
        (payload,) = body["files"]
        assert payload["size"] == 48 * KiB
        assert payload["sha256"] == contents[name].hexdigest()
        assert body["archive_path"] == str(setup.bag(name))
    # the token is in no log line, no status
    assert token not in daemon.stderr
    assert token not in json.dumps(status_rows(setup.config))
    assert daemon.events("hook.failed")
    assert daemon.events("hook.delivered")


async def test_hooks_added_by_a_reload_get_the_events_recorded_after_it(
    file_host: RunningHost, tmp_path: Path
) -> None:
    for name in ("a", "b"):
        file_host.host.add(FileSpec(f"/r/{name}.bin", SeededContent(ord(name), 8 * KiB)))
    log = tmp_path / "hook.log"
    setup = Setup(tmp_path)
    setup.write_config(check_interval="200ms")
    setup.write_watchlist({"a": file_host.url("/r/a.bin")})
    daemon = Daemon(setup.config, tmp_path / "run.log")
    try:
        # the log line, not the bag: the bag is complete a moment before the item is
        # archived in the store, and a reload in that moment gives a its hook
        await until(lambda: daemon.events("item.archived"), what="a archived")
        setup.extra_config = _hook("ingest", "archived", log)
        setup.write_config(check_interval="200ms")
        daemon.signal(signal.SIGHUP)
        await until(lambda: daemon.events("daemon.reloaded"), what="the reload")
        setup.write_watchlist({n: file_host.url(f"/r/{n}.bin") for n in ("a", "b")})
        await until(lambda: _lines(log), timeout=30, what="the hook of b")
    finally:
        assert await daemon.stop() == 0, daemon.stderr
    # a was archived before the hook existed: no event was recorded for it
    assert [item for _, item, _, _ in _lines(log)] == ["http:file:b"]
