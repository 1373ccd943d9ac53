"""The `[metrics]` endpoint: what it counts, against what the emulator served, and
`/healthz` going 503 while the scheduler loop is stuck."""

from __future__ import annotations

import socket
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import anyio
import pytest

from downloader.config import Settings, load_config
from downloader.emulator import Emulator, parse_scenario
from downloader.errors import ConfigError
from downloader.metrics import Liveness, Metrics, metrics_app, serve_metrics
from downloader.observe import endpoint_of, status_class
from downloader.runners._compose import open_service
from downloader.runners._daemon import Daemon as InProcessDaemon
from downloader.runners._notify import Notifier
from downloader.store import ItemState
from downloader.store._models import CensusRow
from tests.support.client import emulator_client
from tests.support.daemon import Daemon, until
from tests.support.prom import Samples, parse, total


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get(url: str) -> tuple[int, str]:
    """A blocking GET (from a thread of the test's own): status and body."""
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


# --- pure parts -------------------------------------------------------------------------


def test_an_endpoint_never_carries_an_id_and_loses_the_base_path() -> None:
    assert endpoint_of("/pixxel/v0/workflows/wf-1/jobs/job-2/download", "/pixxel") == (
        "/v0/workflows/{id}/jobs/{id}/download"
    )
    assert endpoint_of("/scale/v6/jobs/15096/", "/scale") == "/v6/jobs/{id}/"
    assert endpoint_of("/v0/catalogs/download/8a7f-uuid") == "/v0/catalogs/download/{id}"
    assert endpoint_of("/alteryx/webapi/oauth2/token", "/alteryx/webapi") == "/oauth2/token"
    assert endpoint_of("/v6/jobs/", "") == "/v6/jobs/"
    assert [status_class(s) for s in (200, 201, 304, 404, 503, None)] == [
        "2xx",
        "2xx",
        "3xx",
        "4xx",
        "5xx",
        "error",
    ]


def test_the_item_gauges_follow_the_census_and_an_emptied_pair_reads_zero() -> None:
    metrics = Metrics()
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    metrics.census(
        [
            CensusRow(ItemState.WAITING, "pixxel", 3, now - timedelta(minutes=5)),
            CensusRow(ItemState.WAITING, "scale", 1, now - timedelta(minutes=9)),
            CensusRow(ItemState.ARCHIVED, "pixxel", 2, now - timedelta(hours=1)),
        ],
        now,
    )
    metrics.census([CensusRow(ItemState.ARCHIVED, "pixxel", 5, now - timedelta(hours=1))], now)
    page = parse(metrics_page(metrics))
    assert total(page, "downloader_items", state="waiting") == 0
    assert total(page, "downloader_items", state="archived", provider="pixxel") == 5
    assert total(page, "downloader_item_oldest_age_seconds", state="archived") == 3600
    assert total(page, "downloader_item_oldest_age_seconds", state="waiting") == 0


def metrics_page(metrics: Metrics) -> str:
    liveness = Liveness(time.monotonic, stale_after=60)
    with serve_metrics(("127.0.0.1", 0), metrics_app(metrics.registry, liveness)) as (host, port):
        status, body = get(f"http://{host}:{port}/metrics")
    assert status == 200
    return body


def test_healthz_is_200_while_the_loop_beats_and_503_before_it_runs_and_once_it_is_stale() -> None:
    now = [100.0]
    liveness = Liveness(lambda: now[0], stale_after=3.0)
    app = metrics_app(Metrics().registry, liveness)
    with serve_metrics(("127.0.0.1", 0), app) as (host, port):
        status, body = get(f"http://{host}:{port}/healthz")
        assert (status, body.split(":")[0]) == (503, "starting")  # the loop not yet running
        liveness.beat()
        assert get(f"http://{host}:{port}/healthz")[0] == 200
        now[0] += 3.5
        status, body = get(f"http://{host}:{port}/healthz")
        assert status == 503
        assert "3.5s ago" in body
        liveness.beat()
        assert get(f"http://{host}:{port}/healthz")[0] == 200
        assert get(f"http://{host}:{port}/")[0] == 404


def test_an_address_in_use_is_a_config_error_naming_the_key() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        app = metrics_app(Metrics().registry, Liveness(time.monotonic, 5))
        with (
            pytest.raises(ConfigError, match=r"metrics\.listen"),
            serve_metrics(("127.0.0.1", port), app),
        ):
            pass


# --- the daemon against the emulator ------------------------------------------------------

SCENARIO = """
[emulator]
seed = 24
pixxel_api_key = "px-metrics-key-123"
scale_token = "sc-metrics-token-123"
alteryx_client_id = "ayx-metrics-id"
alteryx_client_secret = "ayx-metrics-secret-123"

[[pixxel.job]]
workflow_id = "wf-m"
job_id = "job-m"
polls_until_done = 2
polls_until_ready = 2
files = [{ name = "a.tif", size = 300000 }]

[[pixxel.catalog]]
id = "cat-m"
polls_until_ready = 2
files = [{ name = "c.tif", size = 200000 }]

[[scale.job]]
id = 78
polls_until_done = 1
files = [{ name = "s.tif", size = 100000 }]

[[alteryx.job]]
id = "ayx-m"
polls_until_done = 1
outputs = [{ id = "o1", file_name = "out.csv", size = 50000, formats = ["Raw"] }]
"""


async def test_metrics_scraped_during_and_after_a_run_match_what_the_emulator_served(
    tmp_path: Path, daemons: list[Daemon]
) -> None:
    scenario = parse_scenario(SCENARIO, source="metrics.toml")
    emulator = Emulator(scenario)
    port = free_port()
    extra = '\n[poll]\ninitial_interval = "100ms"\nmax_interval = "200ms"\n'
    extra += f'\n[metrics]\nlisten = "127.0.0.1:{port}"\n'
    async with (
        emulator_client(emulator, tmp_path, config_tail=extra) as (running, files),
        aiohttp.ClientSession() as http,
    ):
        settings = load_config(files.config)
        daemon = Daemon(files.config, tmp_path / "run.log", {"WATCHDOG_USEC": "1000000"})
        daemons.append(daemon)
        expected = emulator.expected()
        base = f"http://127.0.0.1:{port}"

        async def scrape() -> Samples:
            async with http.get(base + "/metrics") as resp:
                assert resp.status == 200
                return parse(await resp.text())

        async def answers() -> bool:
            try:
                async with http.get(base + "/healthz") as resp:
                    return resp.status == 200
            except aiohttp.ClientError:
                return False

        async def healthy() -> None:
            deadline = time.monotonic() + 30
            while not await answers():
                assert time.monotonic() < deadline, daemon.stderr
                await anyio.sleep(0.05)

        await healthy()
        during = await scrape()
        assert ("downloader_lease_takeovers_total", ()) in during
        # mid-run: never more counted than the emulator has served so far (it logs a
        # request before answering it; a fetch is counted once it ended)
        async with http.get(running.base_url + "/_emulator/requests") as resp:
            api_so_far = (await resp.json())["api"]
        async with http.get(running.base_url + "/_emulator/bytes") as resp:
            bytes_so_far = sum((await resp.json()).values())
        assert total(during, "downloader_api_requests_total") <= api_so_far
        assert total(during, "downloader_fetched_bytes_total") <= bytes_so_far

        def archived() -> int:
            return sum(
                1
                for p in (tmp_path / "archive").rglob("tagmanifest-sha256.txt")
                if ".partial" not in p.parts
            )

        await until(lambda: archived() == len(expected), timeout=60, what="every item archived")

        async def settled() -> Samples:
            # the item gauges are set at the loop's beats (every 0.5 s here)
            deadline = time.monotonic() + 20
            while True:
                page = await scrape()
                if total(page, "downloader_items", state="archived") == len(expected):
                    return page
                assert time.monotonic() < deadline, "the item gauges never caught up"
                await anyio.sleep(0.2)

        after = await settled()
        for (name, labels), value in during.items():
            if name.endswith("_total"):  # counters only grow
                assert after.get((name, labels), 0) >= value, name
        async with http.get(running.base_url + "/_emulator/bytes") as resp:
            served_bytes = sum((await resp.json()).values())
        async with http.get(running.base_url + "/_emulator/log") as resp:
            api_log = (await resp.json())["api"]
        assert await answers()
        assert await daemon.stop() == 0, daemon.stderr

    # bytes: every body byte the file host sent, no more, no less
    assert total(after, "downloader_fetched_bytes_total") == served_bytes > 0
    assert total(after, "downloader_repaired_bytes_total") == 0
    # API requests: the emulator's log, by provider, endpoint and status class
    bases = {
        "pixxel": settings.providers.pixxel,
        "scale": settings.providers.scale,
        "alteryx": settings.providers.alteryx,
    }
    served: Counter[tuple[str, str, str]] = Counter()
    for record in api_log:
        provider = record["provider"]
        config = bases[provider]
        assert config is not None
        endpoint = endpoint_of(record["path"], urlsplit(config.base_url).path)
        if endpoint.endswith("/output/{id}"):
            continue  # an Alteryx output is a file the transfer engine fetches, not a call
        served[(provider, f"{record['method']} {endpoint}", status_class(record["status"]))] += 1
    counted = {
        (dict(labels)["provider"], dict(labels)["endpoint"], dict(labels)["status_class"]): value
        for (name, labels), value in after.items()
        if name == "downloader_api_requests_total"
    }
    assert counted == dict(served)
    assert {provider for provider, _, _ in served} == {"pixxel", "scale", "alteryx"}
    # items: every one archived, by provider; nothing left in any other state
    by_provider = Counter(key.split(":", 1)[0] for key in expected)
    for provider, count in by_provider.items():
        assert total(after, "downloader_items", state="archived", provider=provider) == count
    assert total(after, "downloader_items") == len(expected)
    # every job and package polled before it was ready waited first
    assert total(after, "downloader_poll_waits_total") >= 4
    assert total(after, "downloader_poll_wait_seconds_total") > 0
    assert total(after, "downloader_retries_total") == 0
    assert total(after, "downloader_lease_takeovers_total") == 0
    assert ("downloader_transfer_rate_bytes_per_second", ()) in after


async def test_healthz_is_503_while_the_scheduler_loop_is_stuck_and_200_again_after(
    tmp_path: Path,
) -> None:
    settings = Settings.defaults(tmp_path)
    settings.watchlist.path.write_text("")
    metrics = Metrics()
    environ = {"WATCHDOG_USEC": "400000"}  # a beat every 0.2 s: stuck after 0.6 s
    with Notifier(environ) as notifier:
        async with open_service(settings, "test:run", observer=metrics) as service:
            daemon = InProcessDaemon(
                tmp_path / "config.toml",
                settings,
                service,
                owner="test:run",
                notifier=notifier,
                environ=environ,
                metrics=metrics,
            )
            app = metrics_app(metrics.registry, daemon.liveness)
            with serve_metrics(("127.0.0.1", 0), app) as (host, port):
                url = f"http://{host}:{port}/healthz"
                async with anyio.create_task_group() as tg:
                    tg.start_soon(daemon.run)
                    await until(lambda: get(url)[0] == 200, timeout=10, what="healthy")
                    # the loop stuck: a blocking call holds the event loop for 2 s,
                    # while another thread asks /healthz after 1.2 s of it
                    seen: list[tuple[int, str]] = []
                    asker = threading.Timer(1.2, lambda: seen.append(get(url)))
                    asker.start()
                    time.sleep(2.0)
                    asker.join()
                    assert seen[0][0] == 503
                    assert seen[0][1].startswith("stuck")
                    await until(lambda: get(url)[0] == 200, timeout=10, what="healthy again")
                    daemon.scheduler.stop(0)
