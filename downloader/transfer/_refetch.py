"""A repair's ranged GET, written over the damaged bytes of a fetched file in place.

The thin shell of `_repair`: it asks for the planned range with `If-Range`, writes
the answer at its offset only when `is_span_answer` says it is exactly those bytes
of the same object, and says how it went.  Whether the repaired file is now right is
for the caller to check again (every CRC, the digests).
"""

from __future__ import annotations

import enum
import os
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import structlog

from downloader.errors import TransferError
from downloader.transfer._engine import AssetRequest, TransferEngine
from downloader.transfer._plan import pick_validator
from downloader.transfer._repair import Repair, is_span_answer
from downloader.transfer._urls import redact_url

if TYPE_CHECKING:
    import aiohttp

__all__ = ["Refetched", "refetch_span"]

log = structlog.get_logger("downloader.transfer")

_WRITE_BLOCK = 1 << 20
_URL_REFUSED = (401, 403, 410)


class Refetched(enum.Enum):
    """How a ranged repair went."""

    WRITTEN = "written"
    """The span's bytes are written in place."""
    REFUSED = "refused"
    """The server did not answer with those bytes (no ranges, a new object): nothing
    was written, only the whole file can repair it."""
    BROKEN = "broken"
    """The answer broke off (network, a short body): some of the span may be written;
    the next check finds out, and the span may be asked for again."""


async def refetch_span(
    engine: TransferEngine,
    request: AssetRequest,
    path: Path,
    repair: Repair,
    *,
    size: int,
    validator: str,
) -> Refetched:
    """Fetch `repair`'s bytes of `request` again and write them over `path`'s."""
    url = request.url
    for attempt in range(2):
        if url is None or attempt:  # a signed URL may have run out since the fetch
            if request.refresh_url is None:
                return Refetched.REFUSED
            url = await request.refresh_url()
        try:
            status = await _get(engine, request, url, path, repair, size, validator)
        except TransferError as exc:
            log.info("transfer.repair_broken", key=request.key, error=str(exc))
            return Refetched.BROKEN
        if status is None:
            return Refetched.WRITTEN
        if status not in _URL_REFUSED:
            break
    return Refetched.REFUSED


async def _get(
    engine: TransferEngine,
    request: AssetRequest,
    url: str,
    path: Path,
    repair: Repair,
    size: int,
    validator: str,
) -> int | None:
    """None when the span was written, else the status of the answer not written."""
    headers: dict[str, str] = dict(await request.headers()) if request.headers else {}
    headers.update(
        {"Range": repair.range_header(), "If-Range": validator, "Accept-Encoding": "identity"}
    )
    import aiohttp  # a repair's GET goes through the session, loaded on its first use

    timeouts = engine.timeouts
    timeout = aiohttp.ClientTimeout(
        total=None, sock_connect=timeouts.connect, sock_read=timeouts.stall
    )
    redacted = redact_url(url)
    try:
        async with engine.session.get(
            url, headers=headers, timeout=timeout, auto_decompress=False, max_redirects=10
        ) as resp:
            answered = pick_validator(resp.headers.get("ETag"), resp.headers.get("Last-Modified"))
            if not is_span_answer(
                repair,
                status=resp.status,
                content_range=resp.headers.get("Content-Range"),
                size=size,
                validator=validator,
                answered=answered,
            ):
                return resp.status
            await _write_body(resp, path, repair, redacted)
            return None
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise TransferError(f"{type(exc).__name__}: {exc}", url=redacted) from None


async def _write_body(
    resp: aiohttp.ClientResponse, path: Path, repair: Repair, redacted: str
) -> None:
    fd = await anyio.to_thread.run_sync(lambda: os.open(path, os.O_WRONLY))
    try:
        offset = repair.start
        pending: list[bytes] = []
        held = 0
        async for chunk in resp.content.iter_chunked(_WRITE_BLOCK):
            if offset + held + len(chunk) > repair.end:
                raise TransferError("the answer runs past the span asked for", url=redacted)
            pending.append(chunk)
            held += len(chunk)
            if held >= _WRITE_BLOCK:
                await anyio.to_thread.run_sync(_write_at, fd, pending, offset)
                offset, pending, held = offset + held, [], 0
        await anyio.to_thread.run_sync(_write_at, fd, pending, offset)
        if offset + held != repair.end:
            raise TransferError(
                f"the answer ended after {offset + held - repair.start} of {repair.length} bytes",
                url=redacted,
            )
        await anyio.to_thread.run_sync(os.fdatasync, fd)
    finally:
        await anyio.to_thread.run_sync(os.close, fd)


def _write_at(fd: int, chunks: list[bytes], offset: int) -> None:
    for chunk in chunks:
        view = memoryview(chunk)
        while view:
            written = os.pwrite(fd, view, offset)
            offset += written
            view = view[written:]
