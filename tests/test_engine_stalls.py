"""Stall detection: a server silent before its headers, silent mid-body, or slow but steady.

Each case runs against a real loopback server whose handler misbehaves on purpose,
with real time: a stall is what the network does, not what the injected clock says.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import anyio
import pytest
from aiohttp import web

from downloader.errors import StallTimeout
from tests.support.engine import fetch_one, nothing_final_except
from tests.support.web import serve

BODY = bytes(range(256)) * 400  # 102,400 bytes
SHA = hashlib.sha256(BODY).hexdigest()


def ranged(request: web.Request) -> tuple[int, bytes]:
    """The status and the part of BODY that `request`'s Range asks for."""
    header = request.headers.get("Range", "")
    if header.startswith("bytes="):
        first, _, last = header[len("bytes=") :].partition("-")
        start = int(first)
        end = int(last) + 1 if last else len(BODY)
        return 206, BODY[start:end]
    return 200, BODY


async def start(request: web.Request) -> tuple[web.StreamResponse, bytes]:
    """The response to `request` with its headers sent, and the bytes its body is to carry."""
    status, part = ranged(request)
    resp = web.StreamResponse(status=status)
    resp.headers["ETag"] = '"v1"'
    resp.headers["Accept-Ranges"] = "bytes"
    resp.content_length = len(part)
    if status == 206:
        first = len(BODY) - len(part)
        resp.headers["Content-Range"] = f"bytes {first}-{len(BODY) - 1}/{len(BODY)}"
    await resp.prepare(request)
    return resp, part


async def respond(request: web.Request, *, gap: float = 0.0, pieces: int = 1) -> web.StreamResponse:
    resp, part = await start(request)
    step = -(-len(part) // pieces)
    for at in range(0, len(part), step):
        await resp.write(part[at : at + step])
        if gap:
            await anyio.sleep(gap)
    await resp.write_eof()
    return resp


async def test_headers_that_never_come_end_the_request_and_it_is_retried(tmp_path: Path) -> None:
    requests: list[float] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        requests.append(time.monotonic())
        if len(requests) == 1:
            await anyio.sleep(30)  # accepted, never answered
        return await respond(request)

    async with serve({"/f.bin": handler}) as base:
        url = base + "/f.bin"
        started = time.monotonic()
        result = await fetch_one(url, tmp_path, stall=0.3)
        took = time.monotonic() - started
    assert result.sha256 == SHA
    assert len(requests) == 2
    # given up after the connect and stall timeouts (0.8 s), long before the server's 30 s
    assert 0.7 <= requests[1] - requests[0] < 5
    assert took < 5


async def test_headers_that_never_come_fail_as_a_stall_when_retries_run_out(
    tmp_path: Path,
) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        await anyio.sleep(30)
        return await respond(request)

    async with serve({"/f.bin": handler}) as base:
        url = base + "/f.bin"
        with pytest.raises(StallTimeout):
            await fetch_one(url, tmp_path, stall=0.2, attempts=1)
    assert nothing_final_except(tmp_path / "out")


async def test_a_body_gone_silent_is_resumed_where_it_stopped(tmp_path: Path) -> None:
    ranges: list[str | None] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        ranges.append(request.headers.get("Range"))
        if len(ranges) == 1:
            resp, part = await start(request)
            await resp.write(part[:40_000])
            await anyio.sleep(30)  # silent with 62,400 bytes to go
            return resp
        return await respond(request)

    async with serve({"/f.bin": handler}) as base:
        url = base + "/f.bin"
        started = time.monotonic()
        result = await fetch_one(url, tmp_path, stall=0.3)
        took = time.monotonic() - started
    assert result.sha256 == SHA
    assert ranges[0] == "bytes=0-"
    assert ranges[1] == "bytes=40000-102399"
    assert took < 5


async def test_a_slow_but_steady_body_is_never_taken_for_a_stall(tmp_path: Path) -> None:
    requests = 0

    async def handler(request: web.Request) -> web.StreamResponse:
        nonlocal requests
        requests += 1
        # 12 pieces, one every 0.25 s: 3 s in all, five times the stall timeout, but
        # no gap is longer than 0.25 s of the 0.6 s allowed
        return await respond(request, gap=0.25, pieces=12)

    async with serve({"/f.bin": handler}) as base:
        url = base + "/f.bin"
        result = await fetch_one(url, tmp_path, stall=0.6)
    assert result.sha256 == SHA
    assert requests == 1
