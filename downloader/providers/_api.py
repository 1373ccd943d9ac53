"""Calls to a platform's JSON API: credentials, a concurrency cap, size caps, errors.

`ApiClient.call` sends one request and returns the decoded JSON, or raises:
`ApiError` for an error status or an unreachable server (retryable for network
failures, 408, 429 and most 5xx, with the server's Retry-After), and
`MalformedResponse` for an answer that is too large or not JSON.  A 401 is
answered once by renewing the credentials when they can be renewed.  Redirects
are not followed, so credentials never travel to another host, and no message or
log line carries a credential or a URL's query.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlencode, urlsplit

import anyio
import structlog

from downloader.clock import Clock
from downloader.errors import ApiError, MalformedResponse
from downloader.observe import NullObserver, Observer, endpoint_of, status_class
from downloader.providers._answers import Answer, note_answer
from downloader.providers._parse_common import describe_error_body, load_json, scrub, shorten
from downloader.transfer._backoff import RetryVerdict, classify_status, parse_retry_after
from downloader.transfer._policy import KiB, MiB
from downloader.transfer._tls import describe_tls_failure
from downloader.transfer._urls import redact_url

if TYPE_CHECKING:  # loaded with the first call: a run of plain URLs never needs aiohttp
    import aiohttp

__all__ = ["MAX_BODY", "ApiClient", "Auth", "StaticAuth"]

log = structlog.get_logger("downloader.providers")

MAX_BODY = 8 * MiB
"""Largest API answer read; a larger one is MalformedResponse("response too large")."""
_MAX_ERROR_BODY = 64 * KiB
API_TIMEOUT = {"total": 120.0, "sock_connect": 30.0, "sock_read": 60.0}
"""Seconds of an API call's `aiohttp.ClientTimeout`: the whole call, its connection, a read."""
_AUTH_STATUSES = frozenset({401, 403})


class Auth(Protocol):
    """Credentials of one platform."""

    async def headers(self) -> Mapping[str, str]:
        """Headers that authenticate the next request."""
        ...

    async def renew(self) -> bool:
        """After a 401: get fresh credentials; True when asking again may help."""
        ...

    def secrets(self) -> Iterable[str]:
        """Values never to show (they are scrubbed from every message)."""
        ...


class StaticAuth:
    """A fixed `Authorization` header (an API key or token); None sends nothing."""

    def __init__(self, value: str | None, *, secrets: Iterable[str] = ()) -> None:
        self._value = value
        self._secrets = [s for s in (*secrets, value) if s]

    async def headers(self) -> Mapping[str, str]:
        return {"Authorization": self._value} if self._value else {}

    async def renew(self) -> bool:
        return False

    def secrets(self) -> Iterable[str]:
        return self._secrets

    def __repr__(self) -> str:
        return "StaticAuth(***)"


async def _read_capped(resp: aiohttp.ClientResponse, cap: int) -> bytes | None:
    """The body, or None when it is longer than `cap` (then not read to the end)."""
    if resp.content_length is not None and resp.content_length > cap:
        return None
    body = bytearray()
    async for chunk in resp.content.iter_any():
        body += chunk
        if len(body) > cap:
            return None
    return bytes(body)


class ApiClient:
    """One platform's API at `base_url`; every call holds a slot of `limiter`."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        platform: str,
        base_url: str,
        clock: Clock,
        limiter: anyio.CapacityLimiter,
        auth: Auth | None = None,
        max_body: int = MAX_BODY,
        timeout: aiohttp.ClientTimeout | None = None,
        observer: Observer | None = None,
        retry_after_cap: float = math.inf,
    ) -> None:
        """`retry_after_cap` bounds a platform's `Retry-After` (`[retry] max_delay`): a
        server asking for years would otherwise park its items for as long."""
        self.platform = platform
        self.base_url = base_url.rstrip("/")
        self.auth = auth or StaticAuth(None)
        self._session = session
        self._clock = clock
        self._limiter = limiter
        self._max_body = max_body
        self._timeout = timeout
        self._observer: Observer = observer or NullObserver()
        self._retry_after_cap = retry_after_cap
        self._base_path = urlsplit(self.base_url).path

    def url(self, path: str) -> str:
        """`path` (starting with "/") under the base URL."""
        return self.base_url + path

    def clean(self, text: str) -> str:
        """`text` fit for a message or log line: short, no credential, no URL query."""
        return shorten(scrub(text, self.auth.secrets()))

    async def call(
        self,
        method: str,
        target: str,
        *,
        params: Mapping[str, str] | Sequence[tuple[str, str]] | None = None,
        json_body: Any = None,
        form: Mapping[str, str] | None = None,
    ) -> Any:
        """Send one request to `target` (a path, or an absolute URL); the decoded JSON."""
        url = target if "://" in target else self.url(target)
        what = self.clean(f"{self.platform} API {method} {urlsplit(url).path or '/'}")
        for attempt in range(2):
            status, headers, body = await self._send(method, url, what, params, json_body, form)
            if status == 401 and attempt == 0 and await self.auth.renew():
                log.info("provider.reauthenticated", platform=self.platform, request=what)
                continue
            break
        if body is None:
            note_answer(None)
            raise MalformedResponse(f"{what}: response too large (over {self._max_body} bytes)")
        if 200 <= status < 300:
            note_answer(Answer(what, body, headers.get("Content-Type"), self.clean))
            return load_json(body, what) if body.strip() else None
        raise self._error(status, headers, body, what)

    async def _send(
        self,
        method: str,
        url: str,
        what: str,
        params: Mapping[str, str] | Sequence[tuple[str, str]] | None,
        json_body: Any,
        form: Mapping[str, str] | None,
    ) -> tuple[int, Mapping[str, str], bytes | None]:
        headers = {"Accept": "application/json", **(await self.auth.headers())}
        data: bytes | None = None
        if json_body is not None:
            data = json.dumps(json_body).encode()
            headers["Content-Type"] = "application/json"
        elif form is not None:
            data = urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        import aiohttp
        from aiohttp.http_exceptions import HttpProcessingError

        if self._timeout is None:
            self._timeout = aiohttp.ClientTimeout(**API_TIMEOUT)
        async with self._limiter:
            status: int | None = None
            try:
                async with self._session.request(
                    method,
                    url,
                    params=params,
                    data=data,
                    headers=headers,
                    allow_redirects=False,
                    timeout=self._timeout,
                ) as resp:
                    cap = self._max_body if resp.status < 300 else _MAX_ERROR_BODY
                    body = await _read_capped(resp, cap)
                    if body is None and resp.status >= 300:
                        body = b""  # an error page too long to read says no more than its status
                    log.debug(
                        "provider.api", platform=self.platform, request=what, status=resp.status
                    )
                    status = resp.status
                    return resp.status, resp.headers, body
            except TimeoutError:
                raise ApiError(f"{what}: no answer in time", retryable=True) from None
            except aiohttp.ClientConnectorCertificateError as exc:
                raise ApiError(f"{what}: {describe_tls_failure(exc)}") from None
            except (aiohttp.ClientError, HttpProcessingError) as exc:
                # HttpProcessingError: aiohttp's Python parser raises its own, e.g. for a
                # chunk-size line that cannot be read
                reason = shorten(self.clean(f"{type(exc).__name__}: {exc}"), 200)
                raise ApiError(f"{what}: connection failed ({reason})", retryable=True) from None
            except ValueError as exc:  # a header or URL the HTTP library will not send
                reason = shorten(self.clean(f"{type(exc).__name__}: {exc}"), 200)
                raise ApiError(f"{what}: request refused ({reason})") from None
            finally:  # every request counted once, answered or not
                endpoint = endpoint_of(urlsplit(url).path, self._base_path)
                self._observer.api_request(
                    self.platform.lower(), f"{method} {endpoint}", status_class(status)
                )

    def _error(self, status: int, headers: Mapping[str, str], body: bytes, what: str) -> ApiError:
        detail = describe_error_body(body, headers.get("Content-Type"))
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = ""
        text = f"HTTP {status} {phrase}".rstrip()
        if 300 <= status < 400:
            where = redact_url(headers.get("Location", ""))
            text = f"{text}, an unexpected redirect to {urlsplit(where).netloc or 'elsewhere'}"
        elif status in _AUTH_STATUSES:
            text = f"{text}, credentials refused"
        if detail and detail.lower() not in text.lower():
            text = f"{text}: {detail}"
        retryable = classify_status(status, signed_url=False) is RetryVerdict.RETRY
        retry_after = parse_retry_after(headers.get("Retry-After"), now=self._clock.utcnow())
        if retry_after is not None:
            retry_after = min(retry_after, self._retry_after_cap)
        return ApiError(
            self.clean(f"{what}: {text}"),
            status=status,
            retryable=retryable,
            retry_after=retry_after,
        )
