"""Which way to take a large body from a loopback socket to a durable, hashed file.

    python -m bench.body_path [--size-mib 1024] [--rounds 3] [--dir PATH] [--tls]
                              [--designs engine,protocol+ring]

One file is served from a separate process (`socket.sendfile`, Content-Length; with
`--tls`, the same over TLS 1.3 from a certificate of a throw-away CA) and
fetched by each design in turn, in interleaved rounds, so a busy machine weighs on all
of them alike.  Every design ends with the file fsynced and its SHA-256 checked;
wall time and this process's CPU time (every thread) are reported, median of rounds.

- `engine`: `TransferEngine.fetch` as it is
- `aiohttp+ring`: aiohttp's `readany()` copied into the ring, then the data path
- `protocol+ring`: a `BufferedProtocol` reading into the ring (`_receiver`), `O_DIRECT`
- `protocol+ring, page cache`: the same with `O_DIRECT` off (progressive writeback)
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import inspect
import os
import resource
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

import aiohttp

from downloader.clock import SystemClock
from downloader.transfer import AssetRequest, Limits, MiB, TransferEngine
from downloader.transfer._datapath import DataPath
from downloader.transfer._feed import RingFeed
from downloader.transfer._hashers import MultiHasher, to_hex
from downloader.transfer._receiver import BodyConnection
from downloader.transfer._ring import Ring
from downloader.transfer._sink import Sink, direct_io_works
from downloader.transfer._writer import PrefixHash

SERVER = r"""
import os, socket, ssl, sys, threading
path, port_file = sys.argv[1], sys.argv[2]
size = os.path.getsize(path)
listener = socket.create_server(("127.0.0.1", 0))
if len(sys.argv) > 3:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(sys.argv[3])
    listener = context.wrap_socket(listener, server_side=True)
open(port_file, "w").write(str(listener.getsockname()[1]))
def serve(conn):
    with conn, open(path, "rb") as f:
        while True:
            head = b""
            while b"\r\n\r\n" not in head:
                got = conn.recv(65536)
                if not got:
                    return
                head += got
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nETag: \"x\"\r\n\r\n" % size)
            conn.sendfile(f, 0, size)
while True:
    conn, _ = listener.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
"""


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _engine(url: str, out: Path, size: int, tls: ssl.SSLContext | None) -> str:
    connector = aiohttp.TCPConnector(ssl=tls) if tls is not None else None
    # the engine's own receiver trusts what it is given; an older engine, measured for
    # comparison, takes no such argument and trusts the session's
    takes = "ssl_context" in inspect.signature(TransferEngine).parameters
    trust: dict[str, Any] = {"ssl_context": tls} if tls is not None and takes else {}
    async with aiohttp.ClientSession(connector=connector) as session:
        engine = TransferEngine(
            session,
            partial_root=out / ".partial",
            clock=SystemClock(),
            limits=Limits(min_free_space=0),
            **trust,
        )
        result = await engine.fetch(AssetRequest(key="bench", url=url), out)
    result.path.unlink()
    return result.sha256


async def _ring_path(
    out: Path, direct: bool, receive: Callable[[DataPath, Ring], Awaitable[None]]
) -> str:
    target = out / "body.part"
    fd = os.open(target, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o640)
    prefix = PrefixHash(MultiHasher())
    ring = Ring()
    path = DataPath(Sink(fd, direct=direct), prefix, ring, on_written=lambda o, n, w: None)
    try:
        await receive(path, ring)
        await asyncio.to_thread(path.wait_idle)
        await asyncio.to_thread(os.fsync, fd)
    finally:
        path.close()
        os.close(fd)
        ring.close()
    os.replace(target, out / "body")
    (out / "body").unlink()
    return to_hex(prefix.hasher.digests()["sha256"])


async def _protocol(
    url: str, out: Path, size: int, direct: bool, tls: ssl.SSLContext | None
) -> str:
    async def receive(path: DataPath, ring: Ring) -> None:
        conn = await BodyConnection.open(url, ssl_context=tls)
        try:
            await conn.get("/f", {})
            await conn.receive(path, ring, 0, size)
        finally:
            conn.close()

    return await _ring_path(out, direct, receive)


async def _aiohttp_ring(url: str, out: Path, size: int, tls: ssl.SSLContext | None) -> str:
    async def receive(path: DataPath, ring: Ring) -> None:
        connector = aiohttp.TCPConnector(ssl=tls) if tls is not None else None
        async with (
            aiohttp.ClientSession(connector=connector) as session,
            session.get(url) as resp,
        ):
            feed = RingFeed(path, ring, 0)
            while chunk := await resp.content.readany():
                await feed.put(chunk)
            feed.flush()

    return await _ring_path(out, direct_io_works(out), receive)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--tls", action="store_true", help="serve over TLS")
    parser.add_argument("--designs", default="", help="comma-separated; default: all")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(dir=args.dir, prefix="body-path-"))
    size = args.size_mib * MiB
    source = work / "source.bin"
    with source.open("wb") as f:
        for i in range(args.size_mib):
            f.write(hashlib.sha256(str(i).encode()).digest() * (MiB // 32))
    expected = hashlib.sha256(source.read_bytes()).hexdigest()
    port_file = work / "port"
    server_args = [sys.executable, "-c", SERVER, str(source), str(port_file)]
    tls: ssl.SSLContext | None = None
    if args.tls:
        import trustme

        ca = trustme.CA()
        pem = work / "server.pem"
        ca.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(str(pem))
        tls = ssl.create_default_context()
        ca.configure_trust(tls)
        server_args.append(str(pem))
    server = subprocess.Popen(server_args)
    try:
        while not port_file.exists() or not port_file.read_text():
            time.sleep(0.05)
        scheme = "https" if tls is not None else "http"
        url = f"{scheme}://127.0.0.1:{port_file.read_text()}/f"
        direct = direct_io_works(work)
        designs: dict[str, Callable[[], Coroutine[Any, Any, str]]] = {
            "engine": lambda: _engine(url, work, size, tls),
            "aiohttp+ring": lambda: _aiohttp_ring(url, work, size, tls),
            "protocol+ring": lambda: _protocol(url, work, size, direct, tls),
            "protocol+ring, page cache": lambda: _protocol(url, work, size, False, tls),
        }
        if args.designs:
            designs = {name: designs[name] for name in args.designs.split(",")}
        runs: dict[str, list[tuple[float, float]]] = {name: [] for name in designs}
        names = list(designs)
        for round_ in range(args.rounds):
            for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
                wall, cpu = time.perf_counter(), _cpu()
                digest = asyncio.run(designs[name]())
                runs[name].append((time.perf_counter() - wall, _cpu() - cpu))
                assert digest == expected, (name, digest)
        over = "HTTPS" if tls is not None else "HTTP"
        print(f"{args.size_mib} MiB over {over}, {args.rounds} rounds, O_DIRECT here: {direct}")
        print(f"{'design':28} {'wall s':>8} {'cpu s':>8}")
        for name, values in runs.items():
            wall = statistics.median(w for w, _ in values)
            cpu = statistics.median(c for _, c in values)
            print(f"{name:28} {wall:8.2f} {cpu:8.2f}")
    finally:
        server.kill()
        server.wait()
        for leftover in work.rglob("*"):
            if leftover.is_file():
                leftover.unlink()


if __name__ == "__main__":
    socket.setdefaulttimeout(None)
    main()
