"""The standard proxy variables, honoured for API calls and downloads.

The platform and its file host sit on a made-up host name (`emulator.invalid`) that
only the loopback proxy answers for; no name is ever resolved but loopback's."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import pytest
import trustme
from aiohttp import web

from downloader.config import load_config
from downloader.emulator._content import SeededContent
from downloader.emulator._files import FileHost, FileSpec
from downloader.runners._compose import run_once
from downloader.store import ItemState, open_store
from downloader.watchlist import load_watchlist
from tests.support.once import emulated

SCENARIO = """
[emulator]
seed = 8
pixxel_api_key = "k"

[[pixxel.job]]
workflow_id = "wf"
job_id = "job-1"
files = [{ name = "scene.tif", size = 300000 }]
"""
PROXY_VARIABLES = ("HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "ALL_PROXY")


@pytest.fixture
def only_loopback_names(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Refuse to resolve any name but loopback's, and note every name asked for."""
    asked: list[str] = []
    real = socket.getaddrinfo

    def guarded(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        asked.append(name)
        if name not in ("127.0.0.1", "localhost", "::1"):
            raise socket.gaierror(socket.EAI_NONAME, f"{name}: not resolved in tests")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", guarded)
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    return asked


@asynccontextmanager
async def forward_proxy(upstream: str) -> AsyncIterator[tuple[str, list[str]]]:
    """An HTTP forward proxy on loopback that sends every request for a `.invalid` host
    to `upstream`; its URL, and the absolute targets it was asked for."""
    seen: list[str] = []
    async with aiohttp.ClientSession(auto_decompress=False) as client:

        async def handle(request: web.Request) -> web.StreamResponse:
            seen.append(str(request.url))
            if not request.host.split(":")[0].endswith(".invalid"):
                return web.Response(status=502, text="not proxied in tests")
            headers = {k: v for k, v in request.headers.items() if k.lower() != "proxy-connection"}
            async with client.request(
                request.method,
                upstream + str(request.rel_url),
                headers=headers,
                data=await request.read(),
                allow_redirects=False,
            ) as answer:
                response = web.StreamResponse(status=answer.status, headers=answer.headers)
                await response.prepare(request)
                async for chunk in answer.content.iter_any():
                    await response.write(chunk)
                await response.write_eof()
                return response

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handle)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        host, port = runner.addresses[0][:2]
        try:
            yield f"http://{host}:{port}", seen
        finally:
            await runner.cleanup()


async def _state(state_url: str) -> list[ItemState]:
    async with open_store(state_url) as store:
        return [r.state for r in await store.list_items()]


@pytest.mark.parametrize("variable", ["HTTP_PROXY", "http_proxy"])
async def test_api_calls_and_downloads_go_through_the_proxy_named_by_the_environment(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    only_loopback_names: list[str],
    variable: str,
) -> None:
    async with emulated(tmp_path, SCENARIO) as (running, settings, refs):
        port = running.base_url.rsplit(":", 1)[1]
        config = tmp_path / "client" / "config.toml"
        config.write_text(config.read_text().replace("127.0.0.1", "emulator.invalid"))
        settings = dataclasses.replace(load_config(config), poll=settings.poll)
        async with forward_proxy(running.base_url) as (proxy, seen):
            monkeypatch.setenv(variable, proxy)
            await run_once(settings, refs)
        files = [r for r in running.emulator.files.log if r.path.endswith(".zip")]
    assert await _state(settings.state.url) == [ItemState.ARCHIVED]
    api = [url for url in seen if "/pixxel/v0/" in url]
    downloads = [url for url in seen if url.split("?")[0].endswith(".zip")]
    assert api
    assert downloads
    assert all(url.startswith(f"http://emulator.invalid:{port}/") for url in seen)
    assert files
    assert all(r.headers["Host"] == f"emulator.invalid:{port}" for r in files)
    assert "emulator.invalid" not in only_loopback_names  # asked of the proxy, never resolved


@pytest.mark.parametrize("variable", ["NO_PROXY", "no_proxy"])
async def test_hosts_named_by_no_proxy_are_reached_directly(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    only_loopback_names: list[str],
    variable: str,
) -> None:
    async with (
        emulated(tmp_path, SCENARIO) as (running, settings, refs),
        forward_proxy(running.base_url) as (proxy, seen),
    ):
        monkeypatch.setenv("HTTP_PROXY", proxy)
        monkeypatch.setenv(variable, "127.0.0.1")
        await run_once(settings, refs)
    assert await _state(settings.state.url) == [ItemState.ARCHIVED]
    assert seen == []


@asynccontextmanager
async def connect_proxy(upstream_port: int) -> AsyncIterator[tuple[str, list[str]]]:
    """A proxy on loopback that tunnels `CONNECT <name>.invalid:<port>` to the loopback
    port `upstream_port`; its URL, and the targets it was asked to tunnel to."""
    seen: list[str] = []

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        method, target, _ = head.split("\r\n", 1)[0].split(" ", 2)
        seen.append(f"{method} {target}")
        if method != "CONNECT" or not target.split(":")[0].endswith(".invalid"):
            writer.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            writer.close()
            return
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", upstream_port)
        writer.write(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        await writer.drain()
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", seen
    finally:
        server.close()


async def test_https_downloads_are_tunnelled_through_the_https_proxy(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    only_loopback_names: list[str],
) -> None:
    ca = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    content = SeededContent(12, 200_000)
    host = FileHost()
    host.add(FileSpec("/f.tif", content))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("files.invalid").configure_cert(context)
    runner = web.AppRunner(host.app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context).start()
    port = runner.addresses[0][1]
    (tmp_path / "watchlist.toml").write_text(
        f'[[http.file]]\nurl = "https://files.invalid:{port}/f.tif?sig=x"\nid = "tunnelled"\n'
    )
    config = tmp_path / "config.toml"
    config.write_text(
        f'[archive]\nroot = "{tmp_path / "archive"}"\n'
        f'[state]\nurl = "sqlite:///{tmp_path / "state.db"}"\n'
        f'[watchlist]\npath = "{tmp_path / "watchlist.toml"}"\n'
        f'[transfer]\nmin_free_space = "0"\nca_file = "{ca_file}"\n'
    )
    settings = load_config(config)
    try:
        async with connect_proxy(port) as (proxy, seen):
            monkeypatch.setenv("HTTPS_PROXY", proxy)
            with anyio.fail_after(60):
                await run_once(settings, load_watchlist(settings.watchlist.path).items)
    finally:
        await runner.cleanup()
    assert await _state(settings.state.url) == [ItemState.ARCHIVED]
    assert seen
    assert set(seen) == {f"CONNECT files.invalid:{port}"}
    assert [r.path for r in host.log] == ["/f.tif"]
    assert "files.invalid" not in only_loopback_names
