"""One request of a body through the engine's receiver: a connection from the pool,
the GET written, the answer's head read.

A kept-alive connection the server closed meanwhile fails before any answer; the
GET is sent again on another connection then (it changes nothing on the server), as
a client library does, without counting against the retries.
"""

from __future__ import annotations

from collections.abc import Mapping

import yarl

from downloader.errors import NetworkError, TransferError
from downloader.transfer._pool import ConnectionPool
from downloader.transfer._reply import WireReply
from downloader.transfer._urls import redact_url


def target_of(url: str) -> str:
    """The request target of `url`: its path and query, percent-encoded."""
    try:
        parsed = yarl.URL(url)
    except (ValueError, TypeError):
        parsed = None
    if parsed is None or not parsed.host:
        raise TransferError(
            f"not a URL that can be fetched: {redact_url(url)!r}", url=redact_url(url)
        )
    return parsed.raw_path_qs or "/"


async def ask(pool: ConnectionPool, url: str, headers: Mapping[str, str]) -> WireReply:
    """GET `url` with `headers`; the answer, its body not read yet."""
    target = target_of(url)
    while True:
        conn, reused = await pool.get(url)
        try:
            await conn.get(target, headers)
        except BaseException as exc:
            conn.close()
            if isinstance(exc, NetworkError) and reused and not conn.answered:
                continue  # the server closed it while it was idle
            if isinstance(exc, TransferError) and exc.url is None:
                exc.url = redact_url(url)
            raise
        return WireReply(pool, url, conn)
