"""The body receiver against real loopback servers: bodies land in ring buffers and go to
disk through the data path, a cut connection keeps what came, a full ring holds the
socket back, and TLS decrypts into the same buffers."""

from __future__ import annotations

import asyncio
import hashlib
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from aiohttp import web

from downloader.errors import NetworkError, ProtocolViolation
from downloader.transfer._receiver import BodyConnection
from downloader.transfer._ring import Ring
from tests.support.datapath import source
from tests.support.receiver import Target, cut_after, raw_server
from tests.support.web import serve

BODY = source(3 * 1024 * 1024 + 77)


@pytest.fixture
def target(tmp_path: Path) -> Iterator[Target]:
    made = Target(tmp_path, Ring(2, 256 * 1024))  # far smaller than the body: it waits
    yield made
    made.close()


async def file_handler(request: web.Request) -> web.StreamResponse:
    start = int(request.headers.get("Range", "bytes=0-")[6:].split("-")[0])
    if start == 0:
        return web.Response(body=BODY)
    headers = {"Content-Range": f"bytes {start}-{len(BODY) - 1}/{len(BODY)}"}
    return web.Response(status=206, body=BODY[start:], headers=headers)


async def test_a_body_lands_whole_through_a_ring_much_smaller_than_it(target: Target) -> None:
    async with serve({"/f": file_handler}) as base:
        conn = await BodyConnection.open(base + "/f")
        try:
            head = await conn.get("/f", {"Range": "bytes=0-"})
            assert (head.status, head.length) == (200, len(BODY))
            assert await conn.receive(target.path, target.ring, 0, None) == len(BODY)
        finally:
            conn.close()
    target.settle()
    assert target.file.read_bytes() == BODY
    assert target.sha256 == hashlib.sha256(BODY).hexdigest()


async def test_two_ranges_are_read_one_after_the_other_on_one_connection(
    target: Target,
) -> None:
    cut = 1_000_003
    async with serve({"/f": file_handler}) as base:
        conn = await BodyConnection.open(base + "/f")
        try:
            await conn.get("/f", {"Range": "bytes=0-"})
            assert await conn.receive(target.path, target.ring, 0, cut) == cut
            conn.close()  # the rest of that body is not wanted: a new connection
            conn = await BodyConnection.open(base + "/f")
            head = await conn.get("/f", {"Range": f"bytes={cut}-"})
            assert head.status == 206
            assert await conn.receive(target.path, target.ring, cut, None) == len(BODY) - cut
            head = await conn.get("/f", {"Range": f"bytes={cut}-"})  # kept alive
            assert head.status == 206
        finally:
            conn.close()
    target.settle()
    assert target.file.read_bytes() == BODY


async def test_a_connection_cut_mid_body_keeps_every_byte_that_came(target: Target) -> None:
    sent = 1_500_000

    async with raw_server(cut_after(BODY, sent)) as base:
        conn = await BodyConnection.open(base)
        try:
            await conn.get("/", {})
            with pytest.raises(NetworkError, match="bytes before the end"):
                await conn.receive(target.path, target.ring, 0, None)
        finally:
            conn.close()
    target.settle()
    assert sum(n for _, n in target.told.told) == sent
    assert target.file.read_bytes() == BODY[:sent]


async def test_an_answer_that_is_no_http_head_is_refused_before_a_byte(target: Target) -> None:
    async def reply(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"<html>not a head</html>\r\n\r\n")
        await writer.drain()

    async with raw_server(reply) as base:
        conn = await BodyConnection.open(base)
        try:
            with pytest.raises(ProtocolViolation, match="status line"):
                await conn.get("/", {})
        finally:
            conn.close()
    assert target.told.told == []


async def chunked(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse()
    response.enable_chunked_encoding()
    await response.prepare(request)
    for at in range(0, len(BODY), 70_001):
        await response.write(BODY[at : at + 70_001])
    await response.write_eof()
    return response


async def test_a_chunked_body_is_decoded_into_the_ring_whole(target: Target) -> None:
    async with serve({"/f": chunked}) as base:
        conn = await BodyConnection.open(base + "/f")
        try:
            head = await conn.get("/f", {})
            assert head.chunked
            assert await conn.receive(target.path, target.ring, 0, None) == len(BODY)
            assert conn.reusable
        finally:
            conn.close()
    target.settle()
    assert target.file.read_bytes() == BODY
    assert target.sha256 == hashlib.sha256(BODY).hexdigest()


@pytest.mark.parametrize(
    ("rest", "error", "kind"),
    [
        (b"zz\r\n", "unreadable chunk-size", ProtocolViolation),
        (b"", "before the end of the chunked body", NetworkError),
    ],
)
async def test_a_chunked_body_that_breaks_off_keeps_its_good_bytes(
    target: Target, rest: bytes, error: str, kind: type[Exception]
) -> None:
    async def reply(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        writer.write(b"5\r\nhello\r\n" + rest)
        await writer.drain()
        writer.transport.abort()

    async with raw_server(reply) as base:
        conn = await BodyConnection.open(base)
        try:
            await conn.get("/", {})
            with pytest.raises(kind, match=error):
                await conn.receive(target.path, target.ring, 0, None)
            assert not conn.reusable
        finally:
            conn.close()
    target.settle()
    assert target.file.read_bytes() == b"hello"


async def test_a_host_that_is_not_there_was_not_reached() -> None:
    async with raw_server(lambda r, w: asyncio.sleep(0)) as base:
        pass  # closed again: nothing listens there now
    with pytest.raises(NetworkError) as caught:
        await BodyConnection.open(base)
    assert caught.value.reached is False


async def test_tls_decrypts_into_the_ring(target: Target) -> None:
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    app = web.Application()
    app.router.add_get("/f", file_handler)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.2)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_context).start()
    port = runner.addresses[0][1]
    try:
        conn = await BodyConnection.open(f"https://127.0.0.1:{port}/f", ssl_context=client_context)
        try:
            await conn.get("/f", {})
            assert await conn.receive(target.path, target.ring, 0, None) == len(BODY)
        finally:
            conn.close()
    finally:
        await runner.cleanup()
    target.settle()
    assert target.sha256 == hashlib.sha256(BODY).hexdigest()
