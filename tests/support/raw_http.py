"""Raw HTTP/1.1 over a socket: what a server puts on the wire, and servers that put
on it what no HTTP library would."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass
class RawResponse:
    status: int
    headers: list[tuple[str, str]]  # names exactly as sent, in order
    body: bytes  # everything after the header block until the server closed

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None


async def raw_get(
    url: str, headers: dict[str, str] | None = None, method: str = "GET"
) -> RawResponse:
    """Send one request with `Connection: close` and read until the server closes."""
    parts = urlsplit(url)
    assert parts.hostname is not None
    assert parts.port is not None
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    lines = [f"{method} {target} HTTP/1.1", f"Host: {parts.netloc}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        await writer.drain()
        data = await asyncio.wait_for(reader.read(), timeout=5)
    finally:
        writer.close()
        await writer.wait_closed()
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    fields = [tuple(line.split(": ", 1)) for line in header_lines]
    return RawResponse(int(status_line.split()[1]), [(k, v) for k, v in fields], body)


@dataclass
class RawServer:
    """A socket server on loopback that answers every request with fixed bytes."""

    url: str
    requests: list[bytes]  # the head of each request received


@contextlib.asynccontextmanager
async def serve_raw(
    answer: bytes, *, then: bytes = b"", pause: float = 0.05
) -> AsyncIterator[RawServer]:
    """Answer each connection's request with `answer` (and `then`, `pause` seconds later),
    then close it: for heads and bodies no HTTP library would send."""
    requests: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            requests.append(await reader.readuntil(b"\r\n\r\n"))
            writer.write(answer)
            await writer.drain()
            if then:
                await asyncio.sleep(pause)
                writer.write(then)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield RawServer(f"http://127.0.0.1:{port}", requests)
    finally:
        server.close()
        await server.wait_closed()
