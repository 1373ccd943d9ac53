"""The deliverer against real effects: a SQLite store, commands run as processes, a
webhook receiver on loopback.  Deliveries that fail are tried again with the hook's
backoff, each time with the event's own id; `drain` ends within its bound."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from structlog.testing import capture_logs

from downloader.clock import SystemClock
from downloader.config import HookSettings
from downloader.hooks._plan import plan_outbox
from downloader.items import ItemRef
from downloader.runners._deliverer import Deliverer
from downloader.store import ItemState, SQLiteStore, StateStore
from tests.support.web import serve

REF = ItemRef.parse("scale:job:501")


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[StateStore]:
    async with SQLiteStore(tmp_path / "state.db") as opened:
        await opened.sync_watchlist([REF], now=datetime.now(UTC))
        yield opened


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as opened:
        yield opened


async def fail_item(store: StateStore, hooks: tuple[HookSettings, ...]) -> None:
    now = datetime.now(UTC)
    rows = plan_outbox(hooks, "failed", REF, at=now, error="HTTP 404")
    await store.transition(REF.key, ItemState.FAILED, now=now, outbox=rows)


def deliverer(store: StateStore, session: aiohttp.ClientSession, *hooks: HookSettings) -> Deliverer:
    return Deliverer(
        outbox=store.outbox, hooks=hooks, session=session, clock=SystemClock(), owner="me"
    )


def command(
    script: str, *args: str, timeout: float = 60, retry_delay: float = 0.05, max_delay: float = 0.2
) -> HookSettings:
    argv = (sys.executable, "-c", script, *args)
    return HookSettings(
        "cmd",
        frozenset({"failed"}),
        command=argv,
        timeout=timeout,
        retry_delay=retry_delay,
        max_delay=max_delay,
    )


async def test_a_command_gets_its_arguments_the_document_and_the_event_id(
    store: StateStore, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    out = tmp_path / "got.json"
    script = (
        "import json, os, sys\n"
        "doc = json.load(sys.stdin)\n"
        "json.dump({'argv': sys.argv[1:], 'doc': doc, 'id': os.environ['DOWNLOADER_EVENT_ID']},"
        " open(sys.argv[1], 'w'))\n"
        "print('ingested', doc['item'])\n"
    )
    hook = command(script, str(out), "{item}", "{state}")
    await fail_item(store, (hook,))
    with capture_logs() as logs:
        assert await deliverer(store, session, hook).drain(30) == 0
    got = json.loads(out.read_text())
    assert got["argv"] == [str(out), REF.key, "failed"]
    assert got["doc"]["error"] == "HTTP 404"
    assert got["id"] == got["doc"]["event_id"]
    (output,) = [e for e in logs if e["event"] == "hook.output"]
    assert output["stdout"] == f"ingested {REF.key}\n"
    assert [e["event"] for e in logs if e["event"].startswith("hook.")] == [
        "hook.output",
        "hook.delivered",
    ]


async def test_a_failing_command_is_tried_again_with_its_error_kept(
    store: StateStore, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    tries = tmp_path / "tries"
    # fails twice (exit 3, a word on stderr), then works
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "p = Path(sys.argv[1]); n = len(p.read_text()) if p.exists() else 0\n"
        "p.write_text('x' * (n + 1))\n"
        "sys.exit(0 if n >= 2 else (print('not yet', file=sys.stderr) or 3))\n"
    )
    hook = command(script, str(tries))
    await fail_item(store, (hook,))
    with capture_logs() as logs:
        assert await deliverer(store, session, hook).drain(30) == 0
    assert tries.read_text() == "xxx"
    failures = [e for e in logs if e["event"] == "hook.failed"]
    assert [e["attempt"] for e in failures] == [1, 2]
    assert failures[0]["error"].endswith(": exit status 3: not yet")
    assert [e["retry_in"] for e in failures] == [0.05, 0.1]


async def test_a_command_past_its_time_limit_is_killed_and_the_drain_ends_in_its_bound(
    store: StateStore, session: aiohttp.ClientSession
) -> None:
    hook = command("import time; time.sleep(60)", timeout=0.5, retry_delay=30, max_delay=60)
    await fail_item(store, (hook,))
    started = time.monotonic()
    assert await deliverer(store, session, hook).drain(5) == 1
    assert time.monotonic() - started < 15
    [left] = await store.outbox.pending()
    assert left.attempts == 1
    assert left.last_error is not None
    assert "ran longer than 0.5s" in left.last_error


async def test_a_program_that_cannot_be_run_is_a_failed_delivery(
    store: StateStore, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    hook = HookSettings(
        "cmd", frozenset({"failed"}), command=(str(tmp_path / "missing"),), retry_delay=60
    )
    await fail_item(store, (hook,))
    assert await deliverer(store, session, hook).drain(1) == 1
    [left] = await store.outbox.pending()
    assert left.last_error is not None
    assert left.last_error.startswith(f"cannot run {tmp_path / 'missing'}")


async def test_a_webhook_gets_the_document_with_its_idempotency_key_on_every_try(
    store: StateStore, session: aiohttp.ClientSession
) -> None:
    seen: list[tuple[str | None, dict[str, object]]] = []

    async def receive(request: web.Request) -> web.Response:
        seen.append((request.headers.get("Idempotency-Key"), await request.json()))
        return web.Response(status=500 if len(seen) < 3 else 200)

    async with serve({"/in": receive}) as base:
        hook = HookSettings(
            "web",
            frozenset({"failed"}),
            url=f"{base}/in?token=sekrit-abc-123",
            retry_delay=0.05,
            max_delay=0.2,
        )
        await fail_item(store, (hook,))
        with capture_logs() as logs:
            assert await deliverer(store, session, hook).drain(30) == 0
    assert len(seen) == 3
    keys = {key for key, _ in seen}
    assert len(keys) == 1
    assert keys == {seen[0][1]["event_id"]}
    errors = [e["error"] for e in logs if e["event"] == "hook.failed"]
    assert errors == [f"{base} answered HTTP 500"] * 2
    assert "sekrit" not in repr(logs)


async def test_an_unreachable_webhook_names_its_host_only(
    store: StateStore, session: aiohttp.ClientSession
) -> None:
    async with serve({}) as base:
        pass  # closed: nothing listens there any more
    hook = HookSettings(
        "web", frozenset({"failed"}), url=f"{base}/p/sekrit-path-456?t=1", retry_delay=60
    )
    await fail_item(store, (hook,))
    assert await deliverer(store, session, hook).drain(2) == 1
    [left] = await store.outbox.pending()
    assert left.last_error is not None
    assert left.last_error.startswith(f"{base}: ")
    assert "sekrit" not in left.last_error


async def test_an_event_for_a_hook_no_longer_configured_waits_and_says_so(
    store: StateStore, session: aiohttp.ClientSession
) -> None:
    gone = HookSettings("gone", frozenset({"failed"}), command=("/bin/true",))
    await fail_item(store, (gone,))
    other = HookSettings("other", frozenset({"failed"}), command=("/bin/true",))
    assert await deliverer(store, session, other).drain(1) == 1
    [left] = await store.outbox.pending()
    assert left.last_error == "no hook named 'gone' is configured"


@pytest.mark.slow
async def test_a_delivery_that_hangs_holds_one_slot_and_the_others_go_on(
    tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    refs = [ItemRef.parse(f"scale:job:{n}") for n in range(9)]
    out = tmp_path / "done"
    # the event of job 0 hangs until its time limit; the others are quick
    script = (
        "import sys, time\n"
        "time.sleep(60 if sys.argv[2].endswith(':0') else 0)\n"
        "open(sys.argv[1], 'a').write(sys.argv[2] + '\\n')\n"
    )
    hook = command(script, str(out), "{item}", timeout=30)
    async with SQLiteStore(tmp_path / "state.db") as store:
        now = datetime.now(UTC)
        await store.sync_watchlist(refs, now=now)
        for ref in refs:
            rows = plan_outbox((hook,), "failed", ref, at=now, error="gone")
            await store.transition(ref.key, ItemState.FAILED, now=now, outbox=rows)
        started = time.monotonic()
        assert await deliverer(store, session, hook).drain(8) == 1
    assert time.monotonic() - started < 20
    assert sorted(out.read_text().split()) == sorted(ref.key for ref in refs[1:])


async def test_a_command_that_does_not_read_the_event_runs_once_and_is_delivered(
    store: StateStore, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    # A hook like `touch` never reads stdin: the event (here larger than a pipe holds)
    # is refused by its closed stdin, which must not count as a failed run.
    runs = tmp_path / "runs"
    script = "import os, sys\nos.close(0)\nopen(sys.argv[1], 'a').write('ran\\n')\n"
    hook = command(script, str(runs))
    now = datetime.now(UTC)
    rows = plan_outbox((hook,), "failed", REF, at=now, error="x" * 300_000)
    await store.transition(REF.key, ItemState.FAILED, now=now, outbox=rows)
    with capture_logs() as logs:
        assert await deliverer(store, session, hook).drain(30) == 0
    assert runs.read_text() == "ran\n"
    events = [e["event"] for e in logs if e["event"].startswith("hook.")]
    assert events == ["hook.delivered"]
