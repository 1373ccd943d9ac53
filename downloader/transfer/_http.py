"""The transfer's HTTP: a request for a range, redirects followed by hand, and the answer's
head turned into the facts the core judges (`_events.Answered`).

A body comes through the engine's own receiver (`_wire`, `_receiver`: its bytes land
in the ring buffers the writer and the hasher read), except behind a proxy, where
aiohttp brings it (`_route`): a CONNECT tunnel of our own would be a second proxy
client to keep, for a path where the proxy, not the copy, sets the pace.

Every foreign exception is translated into the tree here, where it enters
(`_boundary.translate`); a redirect is followed only to http or https, and a caller's
credentials are dropped on the way to another origin.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urljoin

import anyio

from downloader.errors import (
    NetworkError,
    ProtocolViolation,
    StallTimeout,
    TransferError,
    UnsafeRedirect,
)
from downloader.transfer._boundary import scheme_of, translate
from downloader.transfer._digests import parse_digest_headers
from downloader.transfer._events import Answered
from downloader.transfer._reply import AioReply, Reply
from downloader.transfer._request import AssetRequest
from downloader.transfer._route import env_proxies, receivable
from downloader.transfer._tls import describe_tls_failure
from downloader.transfer._urls import redact_url, same_origin
from downloader.transfer._wire import ask

if TYPE_CHECKING:
    from downloader.transfer._engine import TransferEngine

MAX_REDIRECTS = 10


async def open_response(
    engine: TransferEngine,
    request: AssetRequest,
    url: str,
    range_header: str,
    *,
    validator: str | None,
) -> Reply:
    """GET `range_header` of `url`, following redirects; the first answer that is none."""
    credentials = dict(await request.headers()) if request.headers else {}
    headers = {**credentials, "Range": range_header, "Accept-Encoding": "identity"}
    if validator is not None:
        headers["If-Range"] = validator
    if scheme_of(url) not in ("http", "https"):  # file:, ftp:, data:, no URL at all...
        raise TransferError(
            f"refused to fetch {redact_url(url)!r}: only http and https URLs are fetched",
            url=redact_url(url),
        )
    timeouts = engine.timeouts
    for _ in range(MAX_REDIRECTS + 1):
        # the response headers are due within the connect and stall timeouts
        with anyio.move_on_after(timeouts.connect + timeouts.stall) as waited:
            resp = await _hop(engine, url, headers)
        if waited.cancelled_caught:
            raise StallTimeout(timeouts.stall, url=redact_url(url))
        location = resp.headers.get("Location")
        if resp.status in (301, 302, 303, 307, 308) and location is not None:
            resp.close()
            try:
                target = urljoin(url, location)
            except ValueError:  # e.g. a bracketed host that is no IPv6 address
                raise ProtocolViolation(
                    "redirect to a URL that cannot be read", url=redact_url(url)
                ) from None
            if scheme_of(target) not in ("http", "https"):
                raise UnsafeRedirect(redact_url(target), url=redact_url(url))
            if not same_origin(url, target):
                for name in credentials:
                    headers.pop(name, None)
            url = target
            continue
        return resp
    raise TransferError("too many redirects", url=redact_url(url))


async def _hop(engine: TransferEngine, url: str, headers: dict[str, str]) -> Reply:
    """One GET of `url`, through the engine's receiver, or aiohttp behind a proxy."""
    if receivable(url, env_proxies()):
        return await ask(engine.pool, url, headers)
    # loaded here, not with the module: a run of plain URLs without a proxy never needs it
    import aiohttp
    from aiohttp.http_exceptions import HttpProcessingError

    # no per-read timer: aiohttp would re-arm it for every chunk received; a silent
    # body is caught by the engine's `StallWatch`
    timeout = aiohttp.ClientTimeout(
        total=None, sock_connect=engine.timeouts.connect, sock_read=None
    )
    try:
        resp = await engine.session.get(
            url,
            headers=headers,
            allow_redirects=False,
            auto_decompress=False,
            timeout=timeout,
        )
    except TimeoutError:
        raise StallTimeout(engine.timeouts.connect, url=redact_url(url)) from None
    except aiohttp.ClientConnectorCertificateError as exc:  # no retry will fix it
        raise NetworkError(
            describe_tls_failure(exc), url=redact_url(url), retryable=False
        ) from None
    # ValueError: a header the HTTP library will not send (a CR or LF in a token)
    except (aiohttp.ClientError, HttpProcessingError, ValueError) as exc:
        raise translate(exc, url) from None
    return AioReply(resp)


async def answered(resp: Reply) -> Answered:
    """The facts of `resp`'s head; for an error status, what its body says too."""
    headers = resp.headers
    return Answered(
        resp.status,
        content_range=headers.get("Content-Range"),
        content_length=headers.get("Content-Length"),
        etag=headers.get("ETag"),
        last_modified=headers.get("Last-Modified"),
        retry_after=headers.get("Retry-After"),
        detail=await resp.excerpt() if resp.status >= 400 else "",
    )


def offered_digests(resp: Reply, offered: list[tuple[str, str, str]], *, whole_body: bool) -> None:
    """Add each digest `resp` offers for the file to `offered`, once."""
    for digest in parse_digest_headers(resp.headers.items(), whole_body=whole_body):
        entry = (digest.algorithm, digest.hex(), digest.source)
        if entry not in offered:
            offered.append(entry)
