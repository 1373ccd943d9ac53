"""One bad item never takes the batch down: an exception of no kind of ours, raised
while one item is worked (here a `KeyError` from the platform's adapter, injected
where the runners take their providers), fails or retries that item under its
`[retry]` budget, logged once per try with its traceback, while the rest of the batch
goes on, in `once` and in `run`."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, MutableMapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import structlog
from structlog.testing import capture_logs

from downloader.config import Settings, load_config
from downloader.emulator import Emulator, parse_scenario
from downloader.items import ItemRef
from downloader.runners._batch import BatchResult, run_batch
from downloader.runners._compose import Service, open_service
from downloader.runners._daemon import Daemon
from downloader.runners._notify import Notifier
from downloader.store import ItemState
from downloader.watchlist import load_watchlist
from tests.support.client import emulator_client
from tests.support.crashing import crashing_item

SCENARIO = """
[emulator]
seed = 7

[[pixxel.catalog]]
id = "good-1"
files = [{ name = "a.tif", size = 20000 }]

[[pixxel.catalog]]
id = "bad"
files = [{ name = "b.tif", size = 20000 }]

[[pixxel.job]]
workflow_id = "wf"
job_id = "good-2"
files = [{ name = "c.tif", size = 30000 }]

[[scale.job]]
id = 17
files = [{ name = "d.kml", size = 1000 }]
"""
GOOD = ("pixxel:catalog:good-1", "pixxel:job:wf/good-2", "scale:job:17")
BAD = "pixxel:catalog:bad"
RETRY = '[retry]\nattempts = 2\ninitial_delay = "1s"\nmax_delay = "1s"\n'
FAST_POLL = '[poll]\ninitial_interval = "100ms"\nmax_interval = "200ms"\n'
Event = MutableMapping[str, Any]
"""One captured log event."""


@dataclasses.dataclass
class Client:
    config: Path
    settings: Settings
    items: list[ItemRef]


@asynccontextmanager
async def client(tmp_path: Path, extra: str) -> AsyncIterator[Client]:
    """The emulator of the scenario, and the config and watchlist of a client for it."""
    emulator = Emulator(parse_scenario(SCENARIO, source="scenario.toml"))
    tail = "\n" + FAST_POLL + extra
    async with emulator_client(emulator, tmp_path, config_tail=tail) as (_, files):
        items = list(load_watchlist(files.watchlist).items)
        yield Client(files.config, load_config(files.config), items)


@asynccontextmanager
async def service_with_bad_item(settings: Settings, owner: str) -> AsyncIterator[Service]:
    """The real service of `settings`, its worker given providers whose work of BAD
    raises."""
    async with open_service(settings, owner) as service:
        service.worker.providers = crashing_item(service.worker.providers, BAD)
        yield service


def logged(logs: Sequence[Event], name: str) -> list[Event]:
    return [e for e in logs if e["event"] == name]


def with_traceback(logs: Sequence[Event]) -> set[str]:
    """The events logged with a traceback: a crash that escaped would be among them."""
    return {e["event"] for e in logs if "exception" in e}


async def records(service: Service) -> dict[str, Any]:
    return {r.key: r for r in await service.store.list_items()}


async def test_once_fails_only_the_item_whose_work_raised_and_archives_the_rest(
    tmp_path: Path,
) -> None:
    with capture_logs(processors=[structlog.processors.format_exc_info]) as logs:
        async with (
            client(tmp_path, RETRY) as setup,
            service_with_bad_item(setup.settings, "test:once") as service,
        ):
            # what `downloader once` runs, and the exit it gives: 1 when any item failed
            result = await run_batch(
                setup.items,
                store=service.store,
                worker=service.worker,
                clock=service.clock,
                owner="test:once",
                concurrency=setup.settings.transfer.limits.max_concurrent,
            )
            found = await records(service)
    assert result == BatchResult(archived=3, failed=1)
    assert not result.ok
    assert with_traceback(logs) == {"item.crashed"}
    assert {key: found[key].state for key in GOOD} == dict.fromkeys(GOOD, ItemState.ARCHIVED)
    bad = found[BAD]
    assert bad.state is ItemState.FAILED
    assert bad.error is not None
    assert bad.error.startswith("ItemCrashed: KeyError: ")
    assert "gave up after 2 attempts" in bad.error
    assert len(bad.error) < 600  # the answer the message quotes is not copied into the error
    crashed = logged(logs, "item.crashed")
    assert [e["item"] for e in crashed] == [BAD, BAD]  # once per try
    assert all("Traceback" in e["exception"] and "KeyError" in e["exception"] for e in crashed)


async def test_run_retries_only_the_item_whose_work_raised_and_archives_the_rest(
    tmp_path: Path,
) -> None:
    with capture_logs(processors=[structlog.processors.format_exc_info]) as logs:
        async with (
            client(tmp_path, RETRY.replace("= 2", "= 0")) as setup,
            service_with_bad_item(setup.settings, "test:run") as service,
            anyio.create_task_group() as tg,
        ):
            # the daemon of `downloader run`, told nothing by systemd
            with Notifier({}) as notifier:
                daemon = Daemon(
                    setup.config, setup.settings, service, owner="test:run", notifier=notifier
                )
                ended = anyio.Event()

                async def run() -> None:
                    await daemon.run()  # raises if anything escaped
                    ended.set()

                tg.start_soon(run)

                async def settled() -> bool:
                    found = await records(service)
                    archived = all(
                        k in found and found[k].state is ItemState.ARCHIVED for k in GOOD
                    )
                    return archived and len(logged(logs, "item.crashed")) >= 2

                await until_async(settled, what="the good items archived, the bad one tried twice")
                assert not ended.is_set()  # still running
                bad = (await records(service))[BAD]
                assert bad.state is not ItemState.FAILED  # attempts = 0: never given up
                assert bad.attempts >= 2
                assert bad.error is not None
                assert bad.error.startswith("ItemCrashed: KeyError")
                # as SIGTERM does
                daemon.scheduler.stop(setup.settings.service.grace_period)
                with anyio.fail_after(30):
                    await ended.wait()  # a clean stop
    assert with_traceback(logs) == {"item.crashed"}
    assert {e["item"] for e in logged(logs, "item.crashed")} == {BAD}


async def until_async(check: Any, *, what: str, timeout: float = 60.0) -> None:
    """Poll the coroutine function `check` until it is true."""
    result = False

    async def poll() -> None:
        nonlocal result
        while not (result := await check()):
            await anyio.sleep(0.2)

    with anyio.move_on_after(timeout):
        await poll()
    assert result, f"timed out waiting for {what}"
