"""A plain-HTTP body read by a receiver thread (`_lane`), against real loopback servers:
it lands whole through a ring far smaller than it and leaves the connection reusable,
a slow body still reaches the writer, a cut keeps what came, `stop` wakes a silent
read, and through the engine a silent body is resumed and a stopped one leaves no
thread behind."""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from aiohttp import web

from downloader.errors import NetworkError
from downloader.transfer._lane import THREAD_FROM, ThreadLane, takes_thread
from downloader.transfer._receiver import BodyConnection
from downloader.transfer._ring import Ring
from tests.support.datapath import source
from tests.support.engine import fetch_one, nothing_final_except
from tests.support.receiver import Target, cut_after, raw_server
from tests.support.web import serve

BIG = source(THREAD_FROM + 3 * 1024 * 1024 + 77)
SHA = hashlib.sha256(BIG).hexdigest()


@pytest.fixture
def target(tmp_path: Path) -> Iterator[Target]:
    made = Target(tmp_path, Ring(3, 1024 * 1024))  # far smaller than the body: it waits
    yield made
    made.close()


def test_a_body_goes_to_a_thread_only_over_plain_http_framed_by_its_length() -> None:
    assert takes_thread(secure=False, length=THREAD_FROM, limited=False, small=False)
    assert not takes_thread(secure=False, length=THREAD_FROM - 1, limited=False, small=False)
    assert not takes_thread(secure=True, length=THREAD_FROM, limited=False, small=False)
    assert not takes_thread(secure=False, length=None, limited=False, small=False)  # chunked
    assert not takes_thread(secure=False, length=THREAD_FROM, limited=True, small=False)
    assert not takes_thread(secure=False, length=THREAD_FROM, limited=False, small=True)


async def read_by_thread(conn: BodyConnection, target: Target, offset: int, length: int) -> None:
    """Read `length` bytes of the answer `conn` has the head of through a `ThreadLane`."""
    loop = asyncio.get_running_loop()
    ended = asyncio.Event()

    def told() -> None:
        loop.call_soon_threadsafe(ended.set)

    lane = ThreadLane(
        conn.protocol,
        target.path,
        target.ring,
        offset=offset,
        length=length,
        owner=None,
        live=None,
        told=told,
    )
    lane.start()
    try:
        while not lane.finished:
            ended.clear()
            await ended.wait()
    finally:
        if not lane.finished:
            lane.stop()
        with anyio.CancelScope(shield=True):
            await lane.ended()
        lane.fold(None)


async def whole(request: web.Request) -> web.StreamResponse:
    return web.Response(body=BIG, headers={"ETag": '"v1"'})


async def test_a_thread_reads_a_body_whole_and_the_connection_serves_again(
    target: Target,
) -> None:
    async with serve({"/f": whole}) as base:
        conn = await BodyConnection.open(base + "/f")
        try:
            head = await conn.get("/f", {})
            assert head.length == len(BIG)
            await read_by_thread(conn, target, 0, len(BIG))
            assert conn.protocol.error is None
            assert conn.reusable  # back to non-blocking: the loop reads the next answer
            head = await conn.get("/f", {})
            assert head.status == 200
        finally:
            conn.close()
    target.settle()
    assert target.file.read_bytes() == BIG
    assert target.sha256 == SHA


async def test_a_slow_body_reaches_the_writer_before_its_end(target: Target) -> None:
    sent = 100_000
    release = asyncio.Event()

    async def trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(BIG))
        await writer.drain()
        await asyncio.sleep(0.1)  # the head alone: every byte comes to the thread
        writer.write(BIG[:sent])
        await writer.drain()
        await release.wait()  # the rest only once the first bytes were written
        writer.write(BIG[sent:])
        await writer.drain()

    async def release_when_written() -> None:
        with anyio.fail_after(20):
            while sum(n for _, n in target.told.told) < sent:
                await asyncio.sleep(0.02)
        release.set()

    async with raw_server(trickle) as base:
        conn = await BodyConnection.open(base)
        try:
            await conn.get("/", {})
            async with anyio.create_task_group() as tg:
                tg.start_soon(release_when_written)
                await read_by_thread(conn, target, 0, len(BIG))
        finally:
            conn.close()
    target.settle()
    assert target.file.read_bytes() == BIG


async def test_a_connection_cut_under_the_thread_keeps_every_byte_that_came(
    target: Target,
) -> None:
    sent = 5_000_000

    async with raw_server(cut_after(BIG, sent)) as base:
        conn = await BodyConnection.open(base)
        try:
            await conn.get("/", {})
            await read_by_thread(conn, target, 0, len(BIG))
        finally:
            conn.close()
    error = conn.protocol.error
    assert isinstance(error, NetworkError)
    assert f"connection closed {len(BIG) - sent} bytes before the end" in str(error)
    assert not conn.reusable
    target.settle()
    assert sum(n for _, n in target.told.told) == sent
    assert target.file.read_bytes() == BIG[:sent]


async def test_stop_wakes_a_thread_waiting_on_a_silent_server(target: Target) -> None:
    sent = 300_000
    done = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(BIG))
        writer.write(BIG[:sent])
        await writer.drain()
        await done.wait()

    async with raw_server(silent) as base:
        conn = await BodyConnection.open(base)
        try:
            await conn.get("/", {})
            with anyio.move_on_after(0.5):
                await read_by_thread(conn, target, 0, len(BIG))
            assert not conn.reusable  # the rest of the body was never read
        finally:
            conn.close()
            done.set()
    assert conn.protocol.error is None  # stopped, not failed
    assert not any(t.name == "transfer-receiver" for t in threading.enumerate())
    target.settle()
    assert target.file.read_bytes() == BIG[:sent]


# ---- through the engine ---------------------------------------------------------------
def ranged(request: web.Request) -> tuple[int, bytes, dict[str, str]]:
    header = request.headers.get("Range")
    headers = {"ETag": '"v1"', "Accept-Ranges": "bytes"}
    if header is None:
        return 200, BIG, headers
    start = int(header[len("bytes=") :].partition("-")[0])
    headers["Content-Range"] = f"bytes {start}-{len(BIG) - 1}/{len(BIG)}"
    return 206, BIG[start:], headers


async def test_a_body_gone_silent_under_the_thread_is_resumed_where_it_stopped(
    tmp_path: Path,
) -> None:
    ranges: list[str | None] = []
    sent = 2_000_000

    async def handler(request: web.Request) -> web.StreamResponse:
        ranges.append(request.headers.get("Range"))
        status, part, headers = ranged(request)
        resp = web.StreamResponse(status=status, headers=headers)
        resp.content_length = len(part)
        await resp.prepare(request)
        if len(ranges) == 1:
            await resp.write(part[:sent])
            await anyio.sleep(30)  # silent, the rest to go
        else:
            await resp.write(part)
        return resp

    async with serve({"/f.bin": handler}) as base:
        started = time.monotonic()
        result = await fetch_one(base + "/f.bin", tmp_path, stall=0.3)
        took = time.monotonic() - started
    assert result.sha256 == SHA
    assert ranges[:2] == ["bytes=0-", f"bytes={sent}-{len(BIG) - 1}"]
    assert took < 10
    assert not any(t.name == "transfer-receiver" for t in threading.enumerate())


async def test_a_fetch_cancelled_while_the_thread_waits_ends_at_once(tmp_path: Path) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        status, part, headers = ranged(request)
        resp = web.StreamResponse(status=status, headers=headers)
        resp.content_length = len(part)
        await resp.prepare(request)
        await resp.write(part[:1_000_000])
        await anyio.sleep(0.3)
        reading.append(any(t.name == "transfer-receiver" for t in threading.enumerate()))
        await anyio.sleep(30)
        return resp

    reading: list[bool] = []
    async with serve({"/f.bin": handler}) as base:
        started = time.monotonic()
        with anyio.move_on_after(1.0) as scope:
            await fetch_one(base + "/f.bin", tmp_path, stall=30)
        took = time.monotonic() - started
    assert scope.cancelled_caught
    assert reading == [True]  # the body was the thread's
    assert took < 10  # not the 30 s of the stall timeout, nor the server's silence
    assert nothing_final_except(tmp_path / "out")
    assert not any(t.name == "transfer-receiver" for t in threading.enumerate())


async def test_a_whole_body_by_the_thread_is_verified_and_kept(tmp_path: Path) -> None:
    async def handler(request: web.Request) -> web.Response:
        status, part, headers = ranged(request)
        return web.Response(status=status, body=part, headers=headers)

    async with serve({"/f.bin": handler}) as base:
        result = await fetch_one(base + "/f.bin", tmp_path, stall=5)
    assert result.sha256 == SHA
    assert result.path.read_bytes() == BIG


class Refusing:
    """A data path that fails to take a buffer, as a fault of the program would."""

    def __init__(self) -> None:
        self.offered = 0

    def submit(self, buffer: object) -> None:
        self.offered += 1
        raise RuntimeError("refused")


async def test_a_fault_in_the_thread_fails_the_read_instead_of_cutting_it_short(
    tmp_path: Path,
) -> None:
    ring = Ring(3, 1024 * 1024)
    async with serve({"/f": whole}) as base:
        conn = await BodyConnection.open(base + "/f")
        try:
            await conn.get("/f", {})
            loop = asyncio.get_running_loop()
            ended = asyncio.Event()

            def told() -> None:
                loop.call_soon_threadsafe(ended.set)

            refusing = Refusing()
            lane = ThreadLane(
                conn.protocol,
                refusing,
                ring,
                offset=0,
                length=len(BIG),
                owner=None,
                live=None,
                told=told,
            )
            lane.start()
            with anyio.fail_after(20):
                await ended.wait()
                await lane.ended()
            lane.fold(None)
        finally:
            conn.close()
            ring.close()
    assert isinstance(conn.protocol.error, RuntimeError)
    assert refusing.offered >= 1
    assert not conn.reusable
