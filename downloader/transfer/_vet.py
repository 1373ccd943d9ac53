"""Whether an answer can be the file at all: the I/O shell around `_answers`' verdicts.

A first answer with a size beyond any file, or an error page standing in for the file,
is refused before a byte of it is written; a file promised as a ZIP is refused once
fetched when its first bytes are no ZIP's.  A content coding nobody asked for is told
(logged once per transfer), not refused: only a size or digest that fails tells that
the coded bytes are not the file.
"""

from __future__ import annotations

import anyio
import structlog

from downloader.errors import ErrorBody, ImplausibleSize
from downloader.transfer._answers import (
    EXCERPT_BYTES,
    error_excerpt,
    implausible_size,
    judge_body,
    unasked_encoding,
)
from downloader.transfer._reply import Reply
from downloader.transfer._urls import redact_url
from downloader.transfer._writer import DataFile

__all__ = ["check_first", "check_start", "coding_of"]

log = structlog.get_logger("downloader.transfer")


async def check_first(resp: Reply, total: int | None, url: str, promised: str | None) -> None:
    """Refuse the first answer of a transfer when it cannot be the file."""
    if implausible_size(total):
        assert total is not None
        source = "Content-Range" if resp.status == 206 else "Content-Length"
        raise ImplausibleSize(total, source, url=redact_url(url))
    declared = resp.headers.get("Content-Type")
    verdict = judge_body(declared, promised, None)
    if not verdict.ok:
        raise ErrorBody(
            verdict.reason,
            status=resp.status,
            content_type=declared,
            excerpt=await resp.excerpt(),
            url=redact_url(url),
        )


async def check_start(
    data: DataFile, size: int, promised: str | None, status: int, url: str | None
) -> None:
    """Refuse a fetched file whose first bytes are not those it was promised with."""
    start = await anyio.to_thread.run_sync(data.read_at, 0, min(size, EXCERPT_BYTES))
    verdict = judge_body(None, promised, start)
    if not verdict.ok:
        raise ErrorBody(
            verdict.reason,
            status=status,
            content_type=None,
            excerpt=error_excerpt(None, start),
            url=url,
        )


def coding_of(resp: Reply, known: str | None, key: str) -> str | None:
    """The content coding the server applied though identity was asked for, logged the
    first time it is seen (`known` is the one seen so far)."""
    coding = unasked_encoding(resp.headers.get("Content-Encoding"))
    if coding is None or coding == known:
        return known if coding is None else coding
    log.warning("transfer.encoded_body", key=key, encoding=coding, url=redact_url(resp.url))
    return coding
