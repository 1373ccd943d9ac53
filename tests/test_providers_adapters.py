"""Adapter behaviour the emulator cannot show, against small hand-written platforms."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from structlog.testing import capture_logs

from downloader.clock import FakeClock
from downloader.config import (
    AlteryxSettings,
    PixxelSettings,
    PollSettings,
    ProvidersSettings,
    ScaleSettings,
    Secret,
)
from downloader.emulator._content import SeededContent
from downloader.emulator._files import Faults, FileSpec, RunningHost
from downloader.errors import (
    DigestMismatch,
    MalformedResponse,
    ProviderError,
    RemoteJobFailed,
    SizeMismatch,
)
from downloader.items import ItemRef
from downloader.providers import MemoryMemo, SilentListener, build_providers
from downloader.runners._drive import drive
from tests.support.engine import make_engine
from tests.support.web import Handler, serve

POLL = PollSettings(initial_interval=1, max_interval=4, give_up_after=600)


def answers(*bodies: Any) -> Handler:
    """Answers each request with the next body (the last one again when they run out)."""
    queue = list(bodies)

    async def handler(request: web.Request) -> web.StreamResponse:
        body = queue.pop(0) if len(queue) > 1 else queue[0]
        return web.json_response(body)

    return handler


@contextlib.asynccontextmanager
async def providers(settings: ProvidersSettings) -> AsyncIterator[tuple[dict[str, Any], FakeClock]]:
    clock = FakeClock()
    async with aiohttp.ClientSession() as session:
        yield build_providers(settings, session, clock, POLL, rand=lambda: 0.5, drive=drive), clock


async def prepare(registry: dict[str, Any], key: str) -> Any:
    item = ItemRef.parse(key)
    return await registry[item.provider].prepare(item, MemoryMemo(), SilentListener())


def scale_file(file_id: int, name: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": file_id,
        "file_name": name,
        "file_size": 10,
        "url": f"https://ws.example.org/{name}",
        "is_deleted": False,
        "is_superseded": False,
        **extra,
    }


def scale(base: str) -> ProvidersSettings:
    return ProvidersSettings(scale=ScaleSettings(base_url=base))


# ---- the registry ---------------------------------------------------------------------------


async def test_the_registry_always_has_plain_urls_and_each_configured_platform():
    async with providers(ProvidersSettings()) as (registry, _):
        assert list(registry) == ["http"]
    settings = ProvidersSettings(
        pixxel=PixxelSettings(api_key=Secret("px-k")),
        scale=ScaleSettings(base_url="https://scale.example.org"),
        alteryx=AlteryxSettings(
            base_url="https://ayx.example.org/webapi",
            client_id=Secret("id-k"),
            client_secret=Secret("secret-k"),
        ),
    )
    async with providers(settings) as (registry, _):
        assert sorted(registry) == ["alteryx", "http", "pixxel", "scale"]
        assert all(registry[name].name == name for name in registry)
        shown = " ".join(repr(vars(p)) for p in registry.values())
    for secret in ("px-k", "id-k", "secret-k"):
        assert secret not in shown


async def test_an_item_of_another_platform_is_refused():
    async with providers(scale("https://scale.example.org")) as (registry, _):
        with pytest.raises(ProviderError, match=r"^pixxel:catalog:c is not a Scale job$"):
            await registry["scale"].prepare(
                ItemRef.parse("pixxel:catalog:c"), MemoryMemo(), SilentListener()
            )


# ---- Scale ---------------------------------------------------------------------------------


async def test_scale_follows_a_next_link_naming_another_host_on_the_configured_one():
    # a proxy that does not pass the host on: Django writes its own address in `next`
    hosts: list[str | None] = []

    async def files(request: web.Request) -> web.StreamResponse:
        hosts.append(request.headers.get("Host"))
        if request.query.get("page") == "2":
            return web.json_response({"next": None, "results": [scale_file(2, "b")]})
        page = "http://10.0.0.7:8000/v6/files/?job_id=1&file_type=PRODUCT&page=2"
        return web.json_response({"next": page, "results": [scale_file(1, "a")]})

    routes = {"/v6/jobs/1/": answers({"id": 1, "status": "COMPLETED"}), "/v6/files/": files}
    async with serve(routes) as base, providers(scale(base)) as (registry, _):
        package = await prepare(registry, "scale:job:1")
    assert [a.filename for a in package.assets] == ["a", "b"]
    assert hosts == [base.split("://", 1)[1]] * 2  # both pages asked of the configured server


async def test_scale_notices_next_links_that_go_round_in_circles():
    async def same_page_again(request: web.Request) -> web.StreamResponse:
        again = str(request.url.with_query(page="2"))
        return web.json_response({"next": again, "results": [scale_file(1, "a")]})

    routes = {
        "/v6/jobs/1/": answers({"id": 1, "status": "COMPLETED"}),
        "/v6/files/": same_page_again,
    }
    async with serve(routes) as base, providers(scale(base)) as (registry, _):
        with pytest.raises(MalformedResponse, match="go round in circles"):
            await prepare(registry, "scale:job:1")


async def test_scale_skips_deleted_and_superseded_files_and_names_twins_by_id():
    files = [
        scale_file(1, "a.tif"),
        scale_file(2, "a.tif", job_output="other"),
        scale_file(3, "gone.tif", is_deleted=True),
        scale_file(4, "old.tif", is_superseded=True),
        scale_file(5, "b.tif", file_size=None),
    ]
    routes = {
        "/v6/jobs/1/": answers({"id": 1, "status": "COMPLETED"}),
        "/v6/files/": answers({"next": None, "results": files}),
    }
    async with serve(routes) as base, providers(scale(base)) as (registry, _):
        package = await prepare(registry, "scale:job:1")
    assert [(a.key, a.filename, a.expected_size) for a in package.assets] == [
        ("scale:job:1#file-1", "1-a.tif", 10),
        ("scale:job:1#file-2", "2-a.tif", 10),
        ("scale:job:1#file-5", "b.tif", None),
    ]


async def test_a_scale_job_without_live_products_fails_clearly():
    files = [scale_file(3, "gone.tif", is_deleted=True)]
    routes = {
        "/v6/jobs/1/": answers({"id": 1, "status": "COMPLETED"}),
        "/v6/files/": answers({"next": None, "results": files}),
    }
    async with serve(routes) as base, providers(scale(base)) as (registry, _):
        with pytest.raises(
            ProviderError,
            match=r"^Scale job 1 completed but lists no product files \(1 deleted or superseded\)$",
        ):
            await prepare(registry, "scale:job:1")


async def test_a_scale_file_is_checked_against_its_file_size(
    file_host: RunningHost, tmp_path: Path
):
    file_host.host.add(FileSpec("/ws/a.tif", SeededContent(7, 900)))
    files = [scale_file(1, "a.tif", url=file_host.url("/ws/a.tif"), file_size=1000)]
    routes = {
        "/v6/jobs/1/": answers({"id": 1, "status": "COMPLETED"}),
        "/v6/files/": answers({"next": None, "results": files}),
    }
    async with serve(routes) as base, providers(scale(base)) as (registry, _):
        package = await prepare(registry, "scale:job:1")
    async with make_engine(tmp_path) as (engine, _):
        with pytest.raises(SizeMismatch, match="expected 1000 bytes, got 900"):
            await engine.fetch(package.assets[0], tmp_path / "out")


# ---- Pixxel ----------------------------------------------------------------------------------


def pixxel(base: str) -> ProvidersSettings:
    return ProvidersSettings(pixxel=PixxelSettings(base_url=base, api_key=Secret("px-k")))


JOB_DONE = {"id": "j", "status": "completed", "tasks": []}


async def test_a_package_the_platform_could_not_build_fails_the_item():
    routes = {
        "/v0/workflows/wf/jobs/j": answers(JOB_DONE),
        "/v0/workflows/wf/jobs/j/download": answers(
            {"id": "d", "status": "pending", "signed_url": ""},
            {"id": "d", "status": "failed", "signed_url": ""},
        ),
    }
    async with serve(routes) as base, providers(pixxel(base)) as (registry, clock):
        with pytest.raises(
            RemoteJobFailed, match=r"^Pixxel job wf/j package: Pixxel reports 'failed'$"
        ):
            await prepare(registry, "pixxel:job:wf/j")
    assert clock.sleeps == [1]


async def test_a_ready_package_without_a_url_is_polled_until_the_url_comes():
    url = "https://store.example.org/p/j.zip?X-Amz-Signature=abc"
    routes = {
        "/v0/workflows/wf/jobs/j": answers(JOB_DONE),
        "/v0/workflows/wf/jobs/j/download": answers(
            {"id": "d", "status": "ready", "signed_url": ""},
            {"id": "d", "status": "ready", "signed_url": url},
        ),
    }
    async with serve(routes) as base, providers(pixxel(base)) as (registry, clock):
        package = await prepare(registry, "pixxel:job:wf/j")
    assert package.assets[0].url == url
    assert package.assets[0].fallback_name == "j.zip"
    assert clock.sleeps == [1]


async def test_a_task_not_yet_listed_by_a_running_job_is_waited_for():
    task = {"id": "t", "name": "ndvi", "status": "completed", "err_msg": ""}
    url = "https://store.example.org/p/t.zip?sig=1"
    routes = {
        "/v0/workflows/wf/jobs/j": answers(
            {"id": "j", "status": "running", "tasks": []},
            {"id": "j", "status": "running", "tasks": [task]},
        ),
        "/v0/workflows/wf/jobs/j/tasks/t/download": answers(
            {"id": "t", "status": "ready", "signed_url": url}
        ),
    }
    async with serve(routes) as base, providers(pixxel(base)) as (registry, clock):
        package = await prepare(registry, "pixxel:task:wf/j/t")
    assert package.description == "Pixxel task package (ZIP)"
    assert package.download_id == "t"
    assert clock.sleeps == [1]


# ---- Alteryx ---------------------------------------------------------------------------------


async def test_an_unavailable_output_format_falls_back_and_says_so():
    job = {
        "id": "a1",
        "status": "Completed",
        "disposition": "Success",
        "outputs": [{"id": "o", "availableFormats": ["Yxdb", "Raw"], "fileName": "r.yxdb"}],
        "messages": [],
    }
    routes = {
        "/webapi/oauth2/token": answers({"access_token": "tok", "expires_in": 60}),
        "/webapi/v3/jobs/a1": answers(job),
    }
    async with serve(routes) as base:
        settings = ProvidersSettings(
            alteryx=AlteryxSettings(
                base_url=base + "/webapi",
                client_id=Secret("i"),
                client_secret=Secret("s"),
                output_format="Pdf",
            )
        )
        async with providers(settings) as (registry, _):
            with capture_logs() as logs:
                package = await prepare(registry, "alteryx:job:a1")
            (asset,) = package.assets
            assert asset.url.endswith("/webapi/v1/jobs/a1/output/o?format=Raw")
            assert asset.headers is not None
            assert await asset.headers() == {"Authorization": "Bearer tok"}
    fallback = [e for e in logs if e["event"] == "provider.format_unavailable"]
    assert [(e["wanted"], e["used"]) for e in fallback] == [("Pdf", "Raw")]


async def test_a_completed_alteryx_job_without_outputs_fails_clearly():
    job = {"id": "a1", "status": "Completed", "disposition": "Success", "outputs": []}
    routes = {
        "/webapi/oauth2/token": answers({"access_token": "tok"}),
        "/webapi/v3/jobs/a1": answers(job),
    }
    async with serve(routes) as base:
        settings = ProvidersSettings(
            alteryx=AlteryxSettings(
                base_url=base + "/webapi", client_id=Secret("i"), client_secret=Secret("s")
            )
        )
        async with providers(settings) as (registry, _):
            with pytest.raises(ProviderError, match=r"^Alteryx job a1 completed without outputs$"):
                await prepare(registry, "alteryx:job:a1")


# ---- plain URLs ------------------------------------------------------------------------------


async def test_a_plain_url_goes_straight_to_the_engine_with_its_digest(
    file_host: RunningHost, tmp_path: Path
):
    content = SeededContent(5, 12_345)
    file_host.host.add(FileSpec("/bucket/scene.zip", content))
    url = file_host.url("/bucket/scene.zip") + "?X-Amz-Signature=abc"
    item = ItemRef("http", "file", ("bucket/scene.zip",), url=url, sha256=content.hexdigest())
    async with providers(ProvidersSettings()) as (registry, _):
        package = await registry["http"].prepare(item, MemoryMemo(), SilentListener())
    (asset,) = package.assets
    assert (asset.key, asset.url, asset.fallback_name) == (f"{item.key}#0", url, "scene.zip")
    assert [d.source for d in asset.expected_digests] == ["caller"]
    async with make_engine(tmp_path) as (engine, _):
        result = await engine.fetch(asset, tmp_path / "out")
    assert result.sha256 == content.hexdigest()
    assert "caller" in result.verified_by


async def test_a_plain_url_with_the_wrong_digest_is_refused(file_host: RunningHost, tmp_path: Path):
    file_host.host.add(FileSpec("/f.bin", SeededContent(6, 1000)))
    item = ItemRef("http", "file", ("h/f.bin",), url=file_host.url("/f.bin"), sha256="0" * 64)
    async with providers(ProvidersSettings()) as (registry, _):
        package = await registry["http"].prepare(item, MemoryMemo(), SilentListener())
    async with make_engine(tmp_path) as (engine, _):
        with pytest.raises(DigestMismatch):
            await engine.fetch(package.assets[0], tmp_path / "out")


async def test_a_plain_url_item_without_a_url_is_refused():
    async with providers(ProvidersSettings()) as (registry, _):
        with pytest.raises(ProviderError, match="has no URL"):
            await registry["http"].prepare(
                ItemRef("http", "file", ("h/x",)), MemoryMemo(), SilentListener()
            )


async def test_a_plain_url_without_a_digest_is_promised_what_its_name_says(
    file_host: RunningHost, tmp_path: Path
):
    content = SeededContent(7, 12_345)
    file_host.host.add(FileSpec("/bucket/scene.tif", content), Faults(error_body="html"))
    url = file_host.url("/bucket/scene.tif") + "?X-Amz-Signature=abc"
    item = ItemRef("http", "file", ("bucket/scene.tif",), url=url)
    async with providers(ProvidersSettings()) as (registry, _):
        package = await registry["http"].prepare(item, MemoryMemo(), SilentListener())
    (asset,) = package.assets
    assert asset.media_type == "image/tiff"
    async with make_engine(tmp_path) as (engine, _):
        result = await engine.fetch(asset, tmp_path / "out")
    assert result.sha256 == content.hexdigest()  # the page served first was not kept
    assert [r.status for r in file_host.host.log] == [200, 206]
