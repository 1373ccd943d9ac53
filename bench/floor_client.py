"""W1's best-design floor: one large body by the fastest durable design measured.

    python bench/floor_client.py URL OUTPUT [--cafile CA]

The design `bench/body_path.py` found best on asyncio ("protocol+ring"): a
`BufferedProtocol` receives into aligned ring buffers, a writer thread writes them
with `O_DIRECT` where the folder takes it (page cache otherwise) and a thread hashes
the same buffers with SHA-256.  Then the least that keeps the file whole after a
crash: written as `OUTPUT.part`, fsynced, renamed, its folder fsynced.  It prints the
SHA-256; it keeps no state, writes no bag and retries nothing, so the downloader's
wall time over this row's is the price of everything else it does.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import ssl
import sys
from pathlib import Path
from urllib.parse import urlsplit

from downloader.transfer._datapath import DataPath
from downloader.transfer._hashers import MultiHasher, to_hex
from downloader.transfer._receiver import BodyConnection
from downloader.transfer._ring import Ring
from downloader.transfer._sink import Sink, direct_io_works
from downloader.transfer._writer import PrefixHash


async def fetch(url: str, output: Path, cafile: str | None) -> str:
    context = ssl.create_default_context(cafile=cafile) if cafile else None
    part = output.with_name(output.name + ".part")
    fd = os.open(part, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    prefix = PrefixHash(MultiHasher())
    ring = Ring()
    path = DataPath(
        Sink(fd, direct=direct_io_works(output.parent)),
        prefix,
        ring,
        on_written=lambda o, n, w: None,
    )
    conn = await BodyConnection.open(url, ssl_context=context)
    try:
        target = urlsplit(url)
        head = await conn.get(target.path + (f"?{target.query}" if target.query else ""), {})
        if head.status != 200 or head.length is None:
            raise SystemExit(f"{url}: {head.status} {head.reason}, length {head.length}")
        await conn.receive(path, ring, 0, head.length)
        await asyncio.to_thread(path.wait_idle)
        await asyncio.to_thread(os.fsync, fd)
    finally:
        conn.close()
        path.close()
        os.close(fd)
        ring.close()
    os.replace(part, output)
    folder = os.open(output.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)
    return to_hex(prefix.hasher.digests()["sha256"])


def main() -> int:
    parser = argparse.ArgumentParser(prog="bench/floor_client.py")
    parser.add_argument("url")
    parser.add_argument("output", type=Path)
    parser.add_argument("--cafile")
    args = parser.parse_args()
    print(asyncio.run(fetch(args.url, args.output, args.cafile)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
