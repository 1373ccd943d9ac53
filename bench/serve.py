"""Serve one generated file on 127.0.0.1 and print its URL: `python -m bench.serve SIZE SEED`."""

from __future__ import annotations

import asyncio
import sys

from downloader.config import parse_size
from downloader.emulator._content import SeededContent
from downloader.emulator._files import FileHost, FileSpec, start_file_host


async def main(size: int, seed: int) -> None:
    host = FileHost()
    host.add(FileSpec("/bench.bin", SeededContent(seed, size)))
    running = await start_file_host(host)
    print(running.url("/bench.bin"), flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(parse_size(sys.argv[1]), int(sys.argv[2])))
