"""The least an asyncio/aiohttp client can do for many files: W3 and W4's reference row.

`python -m bench.bare_client LIST PARALLEL` fetches every `URL<TAB>OUTPUT` line of
LIST, at most PARALLEL at a time on one aiohttp session, hashes each body with
SHA-256 as it arrives and writes it to OUTPUT.  Nothing else: no state, no retry,
no bag, no fsync, no comparison with an expected digest.  Whatever the downloader
spends over this row's time is its own bookkeeping; a target below it cannot be
met by any client built on asyncio and aiohttp in one CPython process.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import sys
from pathlib import Path

import aiohttp


async def fetch_all(pairs: list[tuple[str, str]], parallel: int) -> None:
    gate = asyncio.Semaphore(parallel)
    connector = aiohttp.TCPConnector(limit=parallel)
    async with aiohttp.ClientSession(connector=connector, auto_decompress=False) as session:

        async def one(url: str, output: str) -> None:
            async with gate, session.get(url) as resp:
                resp.raise_for_status()
                digest = hashlib.sha256()
                fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                try:
                    async for chunk in resp.content.iter_any():
                        digest.update(chunk)
                        view = memoryview(chunk)
                        while view:
                            view = view[os.write(fd, view) :]
                finally:
                    os.close(fd)

        await asyncio.gather(*(one(url, output) for url, output in pairs))


def main() -> int:
    listing, parallel = Path(sys.argv[1]), int(sys.argv[2])
    pairs = [
        (url, output)
        for url, output in (line.split("\t") for line in listing.read_text().splitlines())
    ]
    asyncio.run(fetch_all(pairs, parallel))
    return 0


if __name__ == "__main__":
    sys.exit(main())
