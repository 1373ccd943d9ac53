"""The least an asyncio/aiohttp client can do: the reference rows of W1, W3 and W4.

`python -m bench.bare_client LIST PARALLEL [beside] [durable]` fetches every
`URL<TAB>OUTPUT` line of LIST, at most PARALLEL at a time on one aiohttp session, hashes
each body with SHA-256 and writes it to OUTPUT.  Nothing else: no state, no retry, no
bag, no fsync, no comparison with an expected digest.  Whatever the downloader spends
over this row's time is its own bookkeeping.

With `durable` it also does the least a client must do for a file to survive a crash
whole or not at all: it writes `OUTPUT.part`, fsyncs it, renames it to OUTPUT and
fsyncs the folder, the two fsyncs in a worker thread so that other transfers go on.

By default (W3, W4: many small files) each body is hashed and written on the event
loop as it arrives, the cheapest way for small bodies.  With `beside` (W1: one large
file) the loop only receives: batches of about 1 MiB go to one worker thread that
hashes and writes them while the next batch arrives, so receiving, hashing and writing
use both CPUs, as in the downloader.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import aiohttp

BATCH = 1 << 20


def _write_all(fd: int, chunk: bytes) -> None:
    view = memoryview(chunk)
    while view:
        view = view[os.write(fd, view) :]


async def _on_loop(resp: aiohttp.ClientResponse, fd: int) -> None:
    digest = hashlib.sha256()
    async for chunk in resp.content.iter_any():
        digest.update(chunk)
        _write_all(fd, chunk)


async def _beside(resp: aiohttp.ClientResponse, fd: int, pool: ThreadPoolExecutor) -> None:
    loop = asyncio.get_running_loop()
    digest = hashlib.sha256()

    def flush(batch: list[bytes]) -> None:
        for chunk in batch:
            digest.update(chunk)
            _write_all(fd, chunk)

    batch: list[bytes] = []
    size = 0
    pending: asyncio.Future[None] | None = None
    async for chunk in resp.content.iter_any():
        batch.append(chunk)
        size += len(chunk)
        if size >= BATCH:
            if pending is not None:
                await pending  # at most one batch in the thread, one being received
            pending = loop.run_in_executor(pool, flush, batch)
            batch, size = [], 0
    if pending is not None:
        await pending
    if batch:
        await loop.run_in_executor(pool, flush, batch)


def _settle(fd: int, part: str, output: str) -> None:
    """Make OUTPUT durable: its bytes, then its name."""
    os.fsync(fd)
    os.rename(part, output)
    folder = os.open(os.path.dirname(output) or ".", os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


async def fetch_all(
    pairs: list[tuple[str, str]], parallel: int, beside: bool, durable: bool = False
) -> None:
    gate = asyncio.Semaphore(parallel)
    connector = aiohttp.TCPConnector(limit=parallel)
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        async with aiohttp.ClientSession(connector=connector, auto_decompress=False) as session:

            async def one(url: str, output: str) -> None:
                async with gate, session.get(url) as resp:
                    resp.raise_for_status()
                    target = output + ".part" if durable else output
                    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                    try:
                        if beside:
                            await _beside(resp, fd, pool)
                        else:
                            await _on_loop(resp, fd)
                        if durable:
                            loop = asyncio.get_running_loop()
                            await loop.run_in_executor(pool, _settle, fd, target, output)
                    finally:
                        os.close(fd)

            await asyncio.gather(*(one(url, output) for url, output in pairs))


def main() -> int:
    listing, parallel = Path(sys.argv[1]), int(sys.argv[2])
    flags = set(sys.argv[3:])
    unknown = flags - {"beside", "durable"}
    if unknown:
        sys.exit(f"unknown flag(s): {' '.join(sorted(unknown))}")
    pairs = [
        (url, output)
        for url, output in (line.split("\t") for line in listing.read_text().splitlines())
    ]
    asyncio.run(fetch_all(pairs, parallel, "beside" in flags, "durable" in flags))
    return 0


if __name__ == "__main__":
    sys.exit(main())
