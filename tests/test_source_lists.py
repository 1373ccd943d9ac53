"""Listing sources against the emulator: every page read, one request per page, `since`
and cursors asking for only what is new, a refused page ending the listing with its
Retry-After, and pages that change while they are read."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import anyio
from aiohttp import web

from downloader.clock import SystemClock
from downloader.emulator import RunningEmulator
from downloader.errors import ApiError
from downloader.providers import build_providers
from downloader.providers._api import ApiClient
from downloader.providers._sources import Listing, list_source
from downloader.providers._types import Provider
from downloader.runners._drive import drive
from downloader.sources import SourceRef, parse_time
from tests.support.once import emulated

HEAD = '[emulator]\nseed = 9\npixxel_api_key = "k"\n'
OLD, NEW = "2026-10-01T00:00:00Z", "2026-11-15T00:00:00Z"


def scale_jobs(count: int, *, job_type: str = "ingest", start: int = 1, created: str = NEW) -> str:
    return "\n".join(
        f'[[scale.job]]\nid = {start + i}\njob_type_name = "{job_type}"\ncreated_at = "{created}"\n'
        'files = [{ name = "a.bin", size = 10 }]'
        for i in range(count)
    )


def alteryx_jobs(count: int, *, app: str = "wf-x", created: str = NEW, prefix: str = "a") -> str:
    return "\n".join(
        f'[[alteryx.job]]\nid = "{prefix}{i:04d}"\napp_id = "{app}"\ncreated_at = "{created}"\n'
        'outputs = [{ id = "o1", file_name = "r.csv", size = 10 }]'
        for i in range(count)
    )


def order_items(count: int, *, order: str = "ord-1", created: str = NEW) -> str:
    return "\n".join(
        f'[[pixxel.order_item]]\nid = "oi-{order}-{i:04d}"\norder_id = "{order}"\n'
        f'created_at = "{created}"\nfiles = [{{ name = "s.tif", size = 10 }}]'
        for i in range(count)
    )


@contextlib.asynccontextmanager
async def providers(
    tmp_path: Path, scenario: str
) -> AsyncIterator[tuple[RunningEmulator, dict[str, Provider]]]:
    async with (
        emulated(tmp_path, scenario) as (running, settings, _),
        aiohttp.ClientSession() as session,
    ):
        yield (
            running,
            build_providers(settings.providers, session, SystemClock(), settings.poll, drive=drive),
        )


def list_requests(running: RunningEmulator, suffix: str) -> list[str]:
    return [r.path for r in running.emulator.log if r.path.split("?")[0].endswith(suffix)]


SCALE = SourceRef("scale", "jobs", (("job_type_name", "ingest"),))
ALTERYX = SourceRef("alteryx", "workflow", (("id", "wf-x"),))
ORDER = SourceRef("pixxel", "order", (("id", "ord-1"),))


async def test_a_source_of_250_jobs_over_3_pages_lists_them_all_one_request_a_page(
    tmp_path: Path,
) -> None:
    text = "\n".join(
        [
            HEAD,
            scale_jobs(250),
            scale_jobs(5, job_type="other", start=1000),
            alteryx_jobs(250),
            alteryx_jobs(3, app="wf-y", prefix="b"),
            order_items(250),
            order_items(4, order="ord-2"),
        ]
    )
    async with providers(tmp_path, text) as (running, by_name):
        for source, provider, path, first in (
            (SCALE, "scale", "/jobs/", "scale:job:1"),
            (ALTERYX, "alteryx", "/wf-x/jobs", "alteryx:job:a0249"),
            (ORDER, "pixxel", "/order-items", "pixxel:order_item:oi-ord-1-0000"),
        ):
            listing = await list_source(by_name[provider], source, None)
            assert listing.error is None
            keys = [ref.key for ref in listing.items]
            assert len(keys) == len(set(keys)) == 250, source
            assert first in keys
            assert listing.pages == 3
            assert len(list_requests(running, path)) == 3, source
        # no request named a job: one list request per page, never one per job
        assert all(record.item is None for record in running.emulator.log)


async def test_since_filters_and_the_cursor_asks_only_for_what_is_new(tmp_path: Path) -> None:
    text = "\n".join(
        [
            HEAD,
            alteryx_jobs(120, created=OLD, prefix="old"),
            alteryx_jobs(30, created=NEW, prefix="new"),
            scale_jobs(3, created=OLD),
            scale_jobs(2, created=NEW, start=50),
            f'[[pixxel.job]]\nworkflow_id = "wf"\njob_id = "j-old"\ncreated_at = "{OLD}"',
            f'[[pixxel.job]]\nworkflow_id = "wf"\njob_id = "j-new"\ncreated_at = "{NEW}"',
        ]
    )
    since = parse_time("2026-11-01T00:00:00Z")
    async with providers(tmp_path, text) as (running, by_name):
        workflow = SourceRef("pixxel", "workflow", (("workflow_id", "wf"),), since)
        listing = await list_source(by_name["pixxel"], workflow, None)
        assert [ref.key for ref in listing.items] == ["pixxel:job:wf/j-new"]

        scale = SourceRef("scale", "jobs", (("job_type_name", "ingest"),), since)
        listing = await list_source(by_name["scale"], scale, None)
        assert sorted(ref.key for ref in listing.items) == ["scale:job:50", "scale:job:51"]
        (asked,) = [r for r in running.emulator.log if r.path.endswith("/jobs/")]
        assert "started=2026-11-01T00:00:00Z" in asked.query  # the platform filters too

        alteryx = SourceRef("alteryx", "workflow", (("id", "wf-x"),), since)
        listing = await list_source(by_name["alteryx"], alteryx, None)
        assert len(listing.items) == 30
        assert listing.pages == 1
        assert listing.cursor == NEW
        before = len(list_requests(running, "/wf-x/jobs"))
        again = await list_source(by_name["alteryx"], ALTERYX, listing.cursor)
        assert len(again.items) == 30  # only the newest, from its first page
        assert len(list_requests(running, "/wf-x/jobs")) - before == 1


async def test_a_refused_page_ends_the_listing_with_its_retry_after_and_keeps_the_cursor(
    tmp_path: Path,
) -> None:
    text = HEAD + 'list_failures = 1\nlist_retry_after = "7"\n' + alteryx_jobs(5)
    async with providers(tmp_path, text) as (_, by_name):
        failed = await list_source(by_name["alteryx"], ALTERYX, "2026-01-01T00:00:00Z")
        assert isinstance(failed.error, ApiError)
        assert failed.error.status == 503
        assert failed.retry_after == 7.0
        assert failed.items == []
        assert failed.cursor == "2026-01-01T00:00:00Z"
        listing = await list_source(by_name["alteryx"], ALTERYX, None)
        assert listing.error is None
        assert len(listing.items) == 5


async def test_pages_that_change_while_read_list_every_item_once(tmp_path: Path) -> None:
    """An order item added at the front between two pages pushes the first page's last
    item onto the second: it is seen twice and listed once; one that disappears shifts
    the other way, and the listing after finds what it skipped."""
    items = [f"oi-{i:03d}" for i in range(150)]
    served = 0

    async def page(request: web.Request) -> web.Response:
        nonlocal served
        served += 1
        if served == 2:
            items.insert(0, "oi-new")  # arrives between the two pages
        offset, limit = int(request.query["offset"]), int(request.query["limit"])
        rows = [{"id": i, "order_id": "ord-1"} for i in items[offset : offset + limit]]
        paging = {"offset": offset, "limit": limit, "total": len(items)}
        return web.json_response({"order_items": rows, "pagination": paging})

    app = web.Application()
    app.router.add_get("/v0/order-items", page)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with aiohttp.ClientSession() as session:
            api = ApiClient(
                session,
                platform="Pixxel",
                base_url=f"http://127.0.0.1:{port}",
                clock=SystemClock(),
                limiter=anyio.CapacityLimiter(1),
            )
            provider = _WithApi(api)
            listing: Listing = await list_source(provider, ORDER, None)
            keys = [ref.key for ref in listing.items]
            assert len(keys) == len(set(keys)) == 150  # oi-099 twice on the pages, once here
            assert "pixxel:order_item:oi-new" not in keys  # on no page read: the next listing
            again = await list_source(provider, ORDER, None)
            assert "pixxel:order_item:oi-new" in [ref.key for ref in again.items]
    finally:
        await runner.cleanup()


class _WithApi:
    def __init__(self, api: ApiClient) -> None:
        self.api = api
