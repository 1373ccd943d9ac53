"""A body read through aiohttp (chunked, here) copied into ring buffers at its offsets."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from aiohttp import ClientSession, web

from downloader.transfer._datapath import DataPath
from downloader.transfer._feed import RingFeed
from downloader.transfer._hashers import MultiHasher, to_hex
from downloader.transfer._ring import Ring
from downloader.transfer._sink import Sink, direct_io_works
from downloader.transfer._writer import PrefixHash
from tests.support.datapath import Written, source
from tests.support.web import serve

BODY = source(2 * 1024 * 1024 + 5)


async def chunked(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse()
    response.enable_chunked_encoding()
    await response.prepare(request)
    for at in range(0, len(BODY), 70_001):  # pieces that fit no buffer evenly
        await response.write(BODY[at : at + 70_001])
    await response.write_eof()
    return response


async def test_a_chunked_body_lands_whole_through_a_small_ring_from_any_offset(
    tmp_path: Path,
) -> None:
    start = 12_345  # a resume at an unaligned offset
    fd = os.open(tmp_path / "f", os.O_RDWR | os.O_CREAT, 0o600)
    os.pwrite(fd, BODY[:start], 0)
    ring, told, prefix = Ring(2, 128 * 1024), Written(), PrefixHash(MultiHasher())
    prefix.hasher.update(BODY[:start])
    prefix.done = start
    path = DataPath(Sink(fd, direct=direct_io_works(tmp_path)), prefix, ring, on_written=told)
    try:
        async with (
            serve({"/f": chunked}) as base,
            ClientSession() as session,
            session.get(base + "/f") as resp,
        ):
            assert resp.headers.get("Transfer-Encoding") == "chunked"
            feed = RingFeed(path, ring, start)
            await feed.put(b"")  # nothing to copy: no buffer taken
            assert feed.held == 0
            skip = start
            while chunk := await resp.content.readany():
                if skip:  # the server sends it all; the file has its first bytes
                    chunk, skip = chunk[skip:], max(0, skip - len(chunk))
                await feed.put(chunk)
            assert feed.held > 0  # the tail waits in its buffer...
            feed.flush()  # ...until handed on
            assert feed.held == 0
        assert path.wait_idle(30)
    finally:
        path.close()
        os.close(fd)
        ring.close()
    assert (tmp_path / "f").read_bytes() == BODY
    assert sum(n for _, n in told.told) == len(BODY) - start
    assert to_hex(prefix.hasher.digests()["sha256"]) == hashlib.sha256(BODY).hexdigest()
