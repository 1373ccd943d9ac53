"""The transfer's HTTP boundary: what aiohttp raises, as the project's errors.

Every exception of aiohttp and of its HTTP parser that a request or a body read can
raise (and the ValueError of a header it will not send) becomes a `TransferError`
here, with the URL redacted and the text scrubbed: aiohttp's own messages name the
full URL, signature and all.  Also reads the start of an unusable body,
for the excerpt an error carries.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import anyio

from downloader.errors import NetworkError, ProtocolViolation, TransferError
from downloader.redact import scrub
from downloader.transfer._answers import EXCERPT_BYTES, beyond_status, error_excerpt
from downloader.transfer._connect import describe_connect_failure
from downloader.transfer._urls import redact_url

if TYPE_CHECKING:  # only aiohttp's paths come here, and they have loaded it
    import aiohttp

__all__ = ["EXCERPT_WAIT", "describe", "read_excerpt", "scheme_of", "translate"]

EXCERPT_WAIT = 5.0
"""Seconds an error body may take to give its first bytes; it only adds to a message."""


def describe(exc: BaseException, url: str) -> str:
    """`exc` in a line fit for a log: its kind and message, never the URL's signature,
    and scrubbed by form of any other URL, token or credential its text quotes (a
    redirect's target, a header the library refused)."""
    import aiohttp
    from aiohttp.http_exceptions import HttpProcessingError

    if isinstance(exc, aiohttp.ClientResponseError):
        text = f"{exc.status}, {exc.message}"  # its str() names the whole URL
    elif isinstance(exc, HttpProcessingError):
        text = f"{exc.code}, {exc.message}"
    else:
        text = str(exc)
    text = scrub(text.replace(url, redact_url(url)))
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def translate(exc: BaseException, url: str) -> TransferError:
    """An exception raised by aiohttp while asking `url` or reading its body.

    A response aiohttp could not parse (a malformed status line or header, a header
    over the parser's limit, a bad Content-Length or chunk size) is a protocol
    violation, and the rest (a connection refused or cut, a body cut short) a failure
    of the network: both retryable, a budget of retries decides how long.  A URL
    aiohttp cannot use, or a header it will not send (a CR or LF in a token), is final.
    """
    import aiohttp
    from aiohttp.http_exceptions import HttpProcessingError

    text = describe(exc, url)
    where = redact_url(url)
    if isinstance(exc, aiohttp.InvalidURL):  # asking again will not mend it
        return TransferError(f"not a URL that can be fetched: {text}", url=where)
    if isinstance(exc, ValueError):  # a header the HTTP library will not send
        return NetworkError(f"request refused: {text}", url=where, retryable=False)
    if isinstance(exc, aiohttp.ClientResponseError | HttpProcessingError):
        return ProtocolViolation(f"malformed response: {text}", url=where)
    if isinstance(exc, aiohttp.ClientConnectorError):  # nothing reached: refused, DNS
        return NetworkError(
            describe_connect_failure(exc.os_error.errno, text), url=where, reached=False
        )
    return NetworkError(text, url=where)


def scheme_of(url: str) -> str:
    """The scheme of `url` in lower case; "" for a string no URL parser takes."""
    try:
        return urlsplit(url).scheme.lower()
    except ValueError:  # e.g. `http://[::1/x`: a bracket that opens no IPv6 address
        return ""


async def read_excerpt(resp: aiohttp.ClientResponse) -> str:
    """What the start of `resp`'s body says (see `error_excerpt`); "" when it says
    nothing beyond the status, nothing in time, or cannot be read.  Reads at most
    `EXCERPT_BYTES`."""
    import aiohttp
    from aiohttp.http_exceptions import HttpProcessingError

    data = b""
    with anyio.move_on_after(EXCERPT_WAIT):
        try:
            while len(data) < EXCERPT_BYTES:
                chunk = await resp.content.readany()
                if not chunk:
                    break
                data += chunk
        except (aiohttp.ClientError, HttpProcessingError, TimeoutError):
            pass
    return beyond_status(error_excerpt(resp.headers.get("Content-Type"), data), resp.status)
