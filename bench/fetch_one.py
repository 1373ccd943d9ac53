"""Fetch one URL with the transfer engine: `python -m bench.fetch_one URL DEST_DIR [SEGMENTS]`."""

from __future__ import annotations

import sys
from pathlib import Path

import aiohttp
import anyio

from downloader.clock import SystemClock
from downloader.transfer import AssetRequest, Limits, MiB, TransferEngine


async def main(url: str, dest: Path, segments: int) -> None:
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, auto_decompress=False) as session:
        engine = TransferEngine(
            session,
            partial_root=dest / ".partial",
            limits=Limits(segments=segments, segment_min_size=64 * MiB, max_per_host=segments),
            clock=SystemClock(),
        )
        result = await engine.fetch(AssetRequest("bench", url=url), dest)
    print(result.sha256)


if __name__ == "__main__":
    anyio.run(main, sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else 4)
