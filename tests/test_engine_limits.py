"""Limits (per host, all files, bandwidth), names from servers, and bytes exactly as served."""

from __future__ import annotations

import gzip
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import anyio
import pytest
from aiohttp import web

from downloader.clock import SystemClock
from downloader.emulator._content import SeededContent
from downloader.emulator._files import FileSpec, RunningHost
from downloader.transfer import AssetRequest, Limits, TransferEngine
from tests.support.engine import make_engine, nothing_final_except
from tests.support.web import serve

MiB = 1 << 20
# mtime=0: gzip otherwise stamps the current second into its header
GZ_BODY = gzip.compress(b"hello " * 1000, mtime=0)


class Gauge:
    """Counts responses in flight on a loopback server."""

    def __init__(self) -> None:
        self.now = 0
        self.peak = 0


@pytest.fixture
async def slow_server() -> AsyncIterator[tuple[str, Gauge]]:
    gauge = Gauge()
    body = SeededContent(5, 64 * 1024).read(0, 64 * 1024)

    async def handler(request: web.Request) -> web.StreamResponse:
        gauge.now += 1
        gauge.peak = max(gauge.peak, gauge.now)
        try:
            response = web.StreamResponse(headers={"Content-Length": str(len(body))})
            await response.prepare(request)
            await anyio.sleep(0.1)
            await response.write(body)
            return response
        finally:
            gauge.now -= 1

    async def gz(request: web.Request) -> web.Response:
        return web.Response(
            body=GZ_BODY,
            headers={"Content-Encoding": "gzip", "Content-Type": "text/plain"},
        )

    async with serve({"/gz": gz, "/{name}": handler}) as base:
        yield base, gauge


async def test_connections_to_one_host_never_exceed_max_per_host(
    slow_server: tuple[str, Gauge], tmp_path: Path
) -> None:
    base, gauge = slow_server
    async with (
        make_engine(tmp_path, limits=Limits(max_per_host=2, max_concurrent=8)) as (
            engine,
            _,
        ),
        anyio.create_task_group() as tg,
    ):
        for i in range(6):
            request = AssetRequest(f"f{i}", url=f"{base}/f{i}.bin")
            tg.start_soon(engine.fetch, request, tmp_path / "out")
    assert gauge.peak == 2
    assert nothing_final_except(tmp_path / "out", *(f"f{i}.bin" for i in range(6)))


async def test_files_in_flight_never_exceed_max_concurrent(
    slow_server: tuple[str, Gauge], tmp_path: Path
) -> None:
    base, gauge = slow_server
    async with (
        make_engine(tmp_path, limits=Limits(max_per_host=8, max_concurrent=3)) as (
            engine,
            _,
        ),
        anyio.create_task_group() as tg,
    ):
        for i in range(7):
            request = AssetRequest(f"g{i}", url=f"{base}/g{i}.bin")
            tg.start_soon(engine.fetch, request, tmp_path / "out")
    assert gauge.peak == 3


async def test_bandwidth_limit_is_shared_by_all_transfers(
    file_host: RunningHost, tmp_path: Path
) -> None:
    for i in range(2):
        file_host.host.add(FileSpec(f"/b{i}.bin", SeededContent(40 + i, MiB)))
    rate = 4 * MiB
    async with aiohttp.ClientSession(auto_decompress=False) as session:
        engine = TransferEngine(
            session,
            partial_root=tmp_path / ".partial",
            limits=Limits(bandwidth_limit=rate),
            clock=SystemClock(),
        )
        started = time.monotonic()
        async with anyio.create_task_group() as tg:
            for i in range(2):
                request = AssetRequest(f"b{i}", url=file_host.url(f"/b{i}.bin"))
                tg.start_soon(engine.fetch, request, tmp_path / "out")
        elapsed = time.monotonic() - started
    # 2 MiB at 4 MiB/s, less the initial burst of a quarter second's worth
    assert elapsed >= (2 * MiB - rate / 4) / rate * 0.9


async def test_name_comes_from_content_disposition(file_host: RunningHost, tmp_path: Path) -> None:
    spec = FileSpec(
        "/dl",
        SeededContent(1, 1000),
        content_disposition="attachment; filename=\"x.bin\"; filename*=UTF-8''r%C3%A9sultat.tif",
    )
    file_host.host.add(spec)
    async with make_engine(tmp_path) as (engine, _):
        result = await engine.fetch(AssetRequest("cd", url=file_host.url("/dl")), tmp_path / "out")
    assert result.name == "résultat.tif"
    assert nothing_final_except(tmp_path / "out", "résultat.tif")


@pytest.mark.parametrize(
    "disposition",
    [
        'attachment; filename="../../../../etc/passwd"',
        'attachment; filename="/etc/passwd"',
        "attachment; filename*=UTF-8''..%2F..%2Fescape",
        'attachment; filename=".."',
    ],
)
async def test_hostile_names_never_leave_the_destination(
    file_host: RunningHost, tmp_path: Path, disposition: str
) -> None:
    file_host.host.add(FileSpec("/h", SeededContent(1, 100), content_disposition=disposition))
    dest = tmp_path / "a" / "out"
    async with make_engine(tmp_path) as (engine, _):
        result = await engine.fetch(AssetRequest("h", url=file_host.url("/h")), dest)
    assert result.path.parent == dest
    assert "/" not in result.name
    assert not result.name.startswith(".")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".partial", "a"]


async def test_compressed_responses_are_stored_exactly_as_served(
    slow_server: tuple[str, Gauge], tmp_path: Path
) -> None:
    base, _ = slow_server
    async with make_engine(tmp_path) as (engine, _):
        result = await engine.fetch(AssetRequest("gz", url=f"{base}/gz"), tmp_path / "out")
    assert result.path.read_bytes() == GZ_BODY
    assert gzip.decompress(result.path.read_bytes()) == b"hello " * 1000


async def test_auth_headers_are_asked_for_before_every_request_and_refreshed_after_401(
    tmp_path: Path,
) -> None:
    tokens = ["old"]
    body = SeededContent(8, 5000).read(0, 5000)
    seen: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Authorization", ""))
        if request.headers.get("Authorization") != "Bearer new":
            return web.Response(status=401, text="token expired")
        return web.Response(body=body)

    async with serve({"/out": handler}) as base:
        url = f"{base}/out"

        async def headers() -> dict[str, str]:
            return {"Authorization": f"Bearer {tokens[-1]}"}

        async def refresh() -> str:
            tokens.append("new")
            return url

        async with make_engine(tmp_path) as (engine, _):
            request = AssetRequest("a", url=url, refresh_url=refresh, headers=headers)
            result = await engine.fetch(request, tmp_path / "out")
    assert result.path.read_bytes() == body
    assert seen == ["Bearer old", "Bearer new"]
