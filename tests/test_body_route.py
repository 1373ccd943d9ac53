"""Which client brings a body: the engine's own receiver, over kept-alive connections of
its pool, for every URL no proxy stands in front of; aiohttp stays for API calls.
Real loopback servers; the choice of route is a pure function, tested as a table."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace

import aiohttp
import pytest
from aiohttp import web

from downloader.clock import FakeClock
from downloader.emulator._content import SeededContent
from downloader.emulator._files import FileSpec, RunningHost
from downloader.emulator._filespec import Faults
from downloader.transfer import AssetRequest, Limits, MiB, RetryPolicy, Timeouts, TransferEngine
from downloader.transfer._pool import ConnectionPool
from downloader.transfer._route import bypassed, proxy_for, receivable
from downloader.transfer._wire import ask
from tests.support.engine import make_engine
from tests.support.web import serve

BODY = bytes(range(256)) * 8192  # 2 MiB


async def ranged(request: web.Request) -> web.StreamResponse:
    first, _, last = request.headers.get("Range", "bytes=0-")[6:].partition("-")
    start, end = int(first), int(last) if last else len(BODY) - 1
    headers = {"Content-Range": f"bytes {start}-{end}/{len(BODY)}", "ETag": '"v1"'}
    return web.Response(status=206, body=BODY[start : end + 1], headers=headers)


@contextlib.asynccontextmanager
async def engine_with_traced_session(
    root: Path, requests: list[str]
) -> AsyncIterator[TransferEngine]:
    trace = aiohttp.TraceConfig()

    async def started(
        _: aiohttp.ClientSession, __: SimpleNamespace, params: aiohttp.TraceRequestStartParams
    ) -> None:
        requests.append(str(params.url))

    trace.on_request_start.append(started)
    async with aiohttp.ClientSession(trace_configs=[trace]) as session:
        yield TransferEngine(
            session,
            partial_root=root / ".partial",
            limits=Limits(segment_min_size=256 * 1024, segments=4),
            timeouts=Timeouts(connect=5, stall=5),
            retry=RetryPolicy(),
            clock=FakeClock(),
            rand=lambda: 0.5,
        )


async def test_bodies_come_through_the_receiver_and_none_through_the_api_session(
    tmp_path: Path,
) -> None:
    through_session: list[str] = []
    async with (
        serve({"/f.bin": ranged}) as base,
        engine_with_traced_session(tmp_path, through_session) as engine,
    ):
        result = await engine.fetch(AssetRequest("f", url=f"{base}/f.bin"), tmp_path / "out")
        opened = engine.pool.opened
    assert result.sha256 == hashlib.sha256(BODY).hexdigest()
    assert through_session == []
    assert 2 <= opened <= 4  # the probe's connection, then one per lane at most


@contextlib.asynccontextmanager
async def one_answer_then_silent_close() -> AsyncIterator[tuple[str, list[int]]]:
    """A keep-alive server whose first connection takes a second request and closes
    without answering it, as a server does with a connection it found idle too long."""
    per_connection: list[int] = []
    handlers: list[asyncio.Task[None]] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handlers.append(asyncio.current_task())  # type: ignore[arg-type]
        index = len(per_connection)
        per_connection.append(0)
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")
                per_connection[index] += 1
                if index == 0 and per_connection[index] == 2:
                    break
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client closed it
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    async with server:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/x", per_connection
        # every connection closed by the client is closed here too before the end
        await asyncio.wait_for(asyncio.gather(*handlers), 10)


async def test_a_kept_alive_connection_closed_unanswered_is_replaced_by_a_new_one() -> None:
    pool = ConnectionPool(None, 5)
    async with one_answer_then_silent_close() as (url, per_connection):
        first = await ask(pool, url, {})
        assert await first.excerpt() == "hello"
        first.close()  # read to its end on a keep-alive answer: back to the pool
        second = await ask(pool, url, {})
        assert second.status == 200
        assert await second.excerpt() == "hello"
        second.close()
        pool.close_idle()
    assert per_connection == [2, 1]  # the unanswered GET was sent again, once


async def test_a_piece_whose_kept_alive_connection_the_host_closes_is_fetched_without_a_retry(
    file_host: RunningHost, tmp_path: Path
) -> None:
    # four pieces on two lanes: a piece read to its end leaves its connection to the pool
    # before its lane is free, so the third or the fourth piece is asked on one of them
    content = SeededContent(21, 50 * MiB + 5)
    file_host.host.add(FileSpec("/f/k.bin", content), Faults(close_reused_times=1))
    retries: list[str] = []
    limits = Limits(segment_min_size=1 * MiB, segments=2)
    async with make_engine(tmp_path, limits=limits) as (engine, _):
        request = AssetRequest("k", url=file_host.url("/f/k.bin"), on_retry=retries.append)
        result = await engine.fetch(request, tmp_path / "out")
    assert result.sha256 == content.hexdigest()
    assert [r.status for r in file_host.host.log].count(0) == 1  # taken, never answered
    assert retries == []


async def test_a_connection_whose_body_was_not_read_to_its_end_is_not_kept(
    tmp_path: Path,
) -> None:
    pool = ConnectionPool(None, 5)
    async with serve({"/f.bin": ranged}) as base:
        reply = await ask(pool, f"{base}/f.bin", {})
        reply.close()  # its 2 MiB never read: the connection cannot serve another GET
        again = await ask(pool, f"{base}/f.bin", {"Range": "bytes=0-4"})
        assert again.status == 206
        again.close()
        pool.close_idle()
    assert pool.opened == 2


@pytest.mark.parametrize(
    ("url", "proxies", "expected"),
    [
        ("https://cdn.example/f", {}, None),
        ("https://cdn.example/f", {"https": "http://p:3128"}, "http://p:3128"),
        ("http://cdn.example/f", {"https": "http://p:3128"}, None),
        ("https://cdn.example/f", {"https": "http://p:3128", "no": "example"}, None),
        ("https://cdn.example/f", {"https": "http://p:3128", "no": ".example"}, None),
        ("https://cdn.example/f", {"https": "http://p:3128", "no": "*"}, None),
        (
            "https://cdn.example/f",
            {"https": "http://p:3128", "no": "other.example"},
            "http://p:3128",
        ),
        ("https://cdn.example:8443/f", {"https": "http://p", "no": "cdn.example:443"}, "http://p"),
        ("https://cdn.example:8443/f", {"https": "http://p", "no": "cdn.example:8443"}, None),
        ("http://[::1]:80/f", {"http": "http://p", "no": "::1"}, None),
        ("http://notexample/f", {"http": "http://p", "no": "example"}, "http://p"),
    ],
)
def test_the_proxy_of_a_url_is_the_one_the_variables_name_unless_no_proxy_says_not(
    url: str, proxies: dict[str, str], expected: str | None
) -> None:
    assert proxy_for(url, proxies) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:8080/f", True),
        ("https://h/f?sig=1", True),
        ("http://h:99999/f", False),  # aiohttp refuses it, at the boundary that names it
        ("http:///f", False),
        ("ftp://h/f", False),
        ("http://[::1/f", False),
    ],
)
def test_only_urls_with_a_host_and_port_a_socket_can_take_go_to_the_receiver(
    url: str, expected: bool
) -> None:
    assert receivable(url, {}) is expected
    assert receivable(url, {"http": "http://p", "https": "http://p"}) is False


def test_no_proxy_entries_are_trimmed_and_compared_without_case() -> None:
    assert bypassed("CDN.Example", None, " other , cdn.EXAMPLE ")
    assert not bypassed("cdn.example", None, "")


@contextlib.asynccontextmanager
async def http10_host(body: bytes) -> AsyncIterator[str]:
    """A server that answers as `python -m http.server` does: HTTP/1.0, a Content-Length,
    no ranges, and the connection closed as soon as the body is sent."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        head = f"HTTP/1.0 200 OK\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        writer.write(head + body)
        await writer.drain()
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    async with server:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/f.bin"


@pytest.mark.parametrize("size", [100, 3 * 1024 * 1024 + 17])
async def test_a_body_whose_server_closes_the_connection_after_it_is_whole(
    tmp_path: Path, size: int
) -> None:
    body = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    async with http10_host(body) as url, make_engine(tmp_path) as (engine, _):
        result = await engine.fetch(AssetRequest("f", url=url), tmp_path / "out")
    assert result.sha256 == hashlib.sha256(body).hexdigest()
    assert result.bytes_received == len(body)  # fetched once: no restart
