"""The API client and the OAuth2 token source against small loopback servers."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from collections.abc import AsyncIterator

import aiohttp
import anyio
import pytest
from aiohttp import web

from downloader.clock import FakeClock
from downloader.config import Secret
from downloader.errors import ApiError, MalformedResponse
from downloader.providers._api import ApiClient, StaticAuth
from downloader.providers._oauth import TokenSource, client_auth
from tests.support.web import Handler, serve


@contextlib.asynccontextmanager
async def client(
    routes: dict[str, Handler], *, auth=None, max_body: int = 1 << 20, limit: int = 4, **kw
) -> AsyncIterator[ApiClient]:
    async with serve(routes) as base, aiohttp.ClientSession() as session:
        yield ApiClient(
            session,
            platform="Test",
            base_url=base + "/api/",
            clock=FakeClock(),
            limiter=anyio.CapacityLimiter(limit),
            auth=auth,
            max_body=max_body,
            **kw,
        )


def replying(status: int, body: bytes = b"", **headers: str) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(status=status, body=body, headers=headers)

    return handler


async def test_a_json_answer_is_decoded_and_credentials_are_sent():
    seen: dict[str, str] = {}

    async def handler(request: web.Request) -> web.StreamResponse:
        seen.update(request.headers)
        seen["query"] = request.query_string
        return web.json_response({"status": "running"})

    async with client({"/api/jobs/1": handler}, auth=StaticAuth("px-key")) as api:
        assert await api.call("GET", "/jobs/1", params={"a": "b"}) == {"status": "running"}
    assert seen["Authorization"] == "px-key"
    assert seen["Accept"] == "application/json"
    assert seen["query"] == "a=b"


async def test_json_and_form_bodies_are_sent_as_such():
    bodies = []

    async def handler(request: web.Request) -> web.StreamResponse:
        bodies.append((request.content_type, await request.text()))
        return web.json_response({}, status=201)

    async with client({"/api/x": handler}) as api:
        await api.call("POST", "/x", json_body={"catalog_ids": ["c"], "order_item_ids": []})
        await api.call("POST", "/x", form={"grant_type": "client_credentials"})
    assert bodies[0][0] == "application/json"
    assert json.loads(bodies[0][1]) == {"catalog_ids": ["c"], "order_item_ids": []}
    assert bodies[1] == ("application/x-www-form-urlencoded", "grant_type=client_credentials")


async def test_an_empty_success_is_none():
    async with client({"/api/x": replying(204)}) as api:
        assert await api.call("DELETE", "/x") is None


PIXXEL_403 = json.dumps(
    {"error": {"code": "FORBIDDEN", "message": "missing or invalid API key", "details": None}}
).encode()


@pytest.mark.parametrize(
    ("status", "body", "ctype", "message", "retryable"),
    [
        (
            403,
            PIXXEL_403,
            "application/json",
            "Test API PUT /api/x: HTTP 403 Forbidden, credentials refused: "
            "FORBIDDEN: missing or invalid API key",
            False,
        ),
        (
            404,
            b'{"detail": "Not found."}',
            "application/json",
            "Test API PUT /api/x: HTTP 404 Not Found: Not found.",
            False,
        ),
        (
            400,
            b"Bad job id",
            "text/plain",
            "Test API PUT /api/x: HTTP 400 Bad Request: Bad job id",
            False,
        ),
        (
            502,
            b"<html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1>"
            b"<p>upstream sent nonsense</p></body></html>",
            "text/html",
            "Test API PUT /api/x: HTTP 502 Bad Gateway: 502 Bad Gateway: Bad Gateway upstream "
            "sent nonsense",
            True,
        ),
        (503, b"", "text/plain", "Test API PUT /api/x: HTTP 503 Service Unavailable", True),
        (501, b"", "text/plain", "Test API PUT /api/x: HTTP 501 Not Implemented", False),
    ],
)
async def test_error_statuses_become_short_clear_api_errors(
    status, body, ctype, message, retryable
):
    async with client({"/api/x": replying(status, body, **{"Content-Type": ctype})}) as api:
        with pytest.raises(ApiError) as caught:
            await api.call("PUT", "/x")
    assert str(caught.value) == message
    assert caught.value.status == status
    assert caught.value.retryable is retryable


async def test_a_long_error_page_is_cut_short():
    page = b"<html><body>" + b"<p>very long explanation</p>" * 2000 + b"</body></html>"
    async with client({"/api/x": replying(500, page, **{"Content-Type": "text/html"})}) as api:
        with pytest.raises(ApiError) as caught:
            await api.call("GET", "/x")
    assert len(str(caught.value)) <= 300
    assert "<p>" not in str(caught.value)


async def test_retry_after_is_read_from_429_and_503():
    routes = {
        "/api/a": replying(429, b"slow down", **{"Retry-After": "7"}),
        "/api/b": replying(503, b"", **{"Retry-After": "Fri, 01 Jan 2026 00:01:00 GMT"}),
    }
    async with client(routes) as api:
        with pytest.raises(ApiError) as first:
            await api.call("GET", "/a")
        with pytest.raises(ApiError) as second:
            await api.call("GET", "/b")
    assert (first.value.retryable, first.value.retry_after) == (True, 7.0)
    # FakeClock's wall clock starts at 2026-01-01T00:00:00Z
    assert (second.value.retryable, second.value.retry_after) == (True, 60.0)


async def test_a_retry_after_of_years_is_waited_no_longer_than_the_cap():
    year = str(365 * 24 * 3600)
    routes = {
        "/api/a": replying(503, b"", **{"Retry-After": year}),
        "/api/b": replying(429, b"", **{"Retry-After": "Fri, 01 Jan 2100 00:00:00 GMT"}),
        "/api/c": replying(503, b"", **{"Retry-After": "5"}),
    }
    async with client(routes, retry_after_cap=120.0) as api:
        waits = []
        for path in ("/a", "/b", "/c"):
            with pytest.raises(ApiError) as caught:
                await api.call("GET", path)
            waits.append(caught.value.retry_after)
    assert waits == [120.0, 120.0, 5.0]


async def test_a_truncated_json_answer_is_malformed():
    truncated = replying(200, b'{"status": "runn', **{"Content-Type": "application/json"})
    async with client({"/api/x": truncated}) as api:
        with pytest.raises(MalformedResponse, match=r"Test API GET /api/x: .*\(truncated\)"):
            await api.call("GET", "/x")


async def test_a_huge_answer_is_refused_by_its_length():
    async with client({"/api/x": replying(200, b" " * 5000)}, max_body=4096) as api:
        with pytest.raises(MalformedResponse, match="response too large"):
            await api.call("GET", "/x")


async def test_a_huge_streamed_answer_is_refused_without_reading_it_all():
    async def stream(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        with contextlib.suppress(ConnectionError):
            for _ in range(1000):
                await response.write(b"x" * 1024)
        return response

    async with client({"/api/x": stream}, max_body=8192) as api:
        with pytest.raises(MalformedResponse, match="response too large"):
            await api.call("GET", "/x")


async def test_redirects_are_not_followed_and_their_query_is_not_shown():
    moved = replying(302, b"", Location="https://other.example.org/x?sig=s3cr3t")
    async with client({"/api/x": moved}, auth=StaticAuth("px-key")) as api:
        with pytest.raises(ApiError) as caught:
            await api.call("GET", "/x")
    assert "unexpected redirect to other.example.org" in str(caught.value)
    assert "s3cr3t" not in str(caught.value)


async def test_an_unreachable_server_is_a_transient_error():
    async with aiohttp.ClientSession() as session:
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
        port = listener.extra(anyio.abc.SocketAttribute.local_port)
        await listener.aclose()  # nothing listens there now
        api = ApiClient(
            session,
            platform="Test",
            base_url=f"http://127.0.0.1:{port}",
            clock=FakeClock(),
            limiter=anyio.CapacityLimiter(1),
        )
        with pytest.raises(ApiError) as caught:
            await api.call("GET", "/x")
    assert caught.value.retryable
    assert caught.value.status is None
    assert str(caught.value).startswith("Test API GET /x: connection failed (ClientConnector")


async def test_a_server_that_does_not_answer_in_time_is_a_transient_error():
    async def slow(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(1)
        return web.json_response({})

    timeout = aiohttp.ClientTimeout(total=0.1)
    async with client({"/api/x": slow}, timeout=timeout) as api:
        with pytest.raises(ApiError, match="no answer in time") as caught:
            await api.call("GET", "/x")
    assert caught.value.retryable


async def test_secrets_echoed_by_a_server_are_scrubbed():
    async def echo(request: web.Request) -> web.StreamResponse:
        return web.Response(status=400, text=f"bad header {request.headers['Authorization']}")

    async with client(
        {"/api/x": echo}, auth=StaticAuth("Bearer px-key-123", secrets=["px-key-123"])
    ) as api:
        with pytest.raises(ApiError) as caught:
            await api.call("GET", "/x")
    assert "px-key-123" not in str(caught.value)
    assert str(caught.value).endswith("bad header Bearer ***")


async def test_api_calls_respect_the_concurrency_cap():
    running = 0
    peak = 0

    async def handler(request: web.Request) -> web.StreamResponse:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.02)
        running -= 1
        return web.json_response({})

    async with client({"/api/x": handler}, limit=2) as api, anyio.create_task_group() as tg:
        for _ in range(8):
            tg.start_soon(api.call, "GET", "/x")
    assert peak == 2


class Renewing:
    """Credentials that can be renewed: each renewal gives a new token."""

    def __init__(self) -> None:
        self.token = 1
        self.renewals = 0

    async def headers(self):
        return {"Authorization": f"Bearer t{self.token}"}

    async def renew(self) -> bool:
        self.renewals += 1
        self.token += 1
        return True

    def secrets(self):
        return [f"t{self.token}"]


async def test_a_401_renews_the_credentials_once_and_asks_again():
    seen = []

    async def handler(request: web.Request) -> web.StreamResponse:
        seen.append(request.headers["Authorization"])
        if request.headers["Authorization"] == "Bearer t1":
            return web.json_response({"message": "denied"}, status=401)
        return web.json_response({"ok": True})

    auth = Renewing()
    async with client({"/api/x": handler}, auth=auth) as api:
        assert await api.call("GET", "/x") == {"ok": True}
    assert seen == ["Bearer t1", "Bearer t2"]
    assert auth.renewals == 1


async def test_a_second_401_is_a_final_error():
    auth = Renewing()
    denied = replying(401, b'{"message": "Authorization has been denied for this request."}')
    async with client({"/api/x": denied}, auth=auth) as api:
        with pytest.raises(ApiError) as caught:
            await api.call("GET", "/x")
    assert auth.renewals == 1
    assert caught.value.status == 401
    assert not caught.value.retryable
    assert "credentials refused: Authorization has been denied" in str(caught.value)


# ---- OAuth2 tokens ----------------------------------------------------------------------------


class TokenServer:
    def __init__(self, lifetime: int = 3600) -> None:
        self.lifetime = lifetime
        self.issued = 0
        self.requests: list[tuple[str | None, str]] = []

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append((request.headers.get("Authorization"), await request.text()))
        expected = "Basic " + base64.b64encode(b"ayx-id:ayx-secret").decode()
        if request.headers.get("Authorization") != expected:
            body = {"error": "invalid_client", "error_description": "client authentication failed"}
            return web.json_response(body, status=401)
        await asyncio.sleep(0.01)
        self.issued += 1
        return web.json_response(
            {
                "access_token": f"tok-{self.issued}",
                "token_type": "bearer",
                "expires_in": self.lifetime,
            }
        )


@contextlib.asynccontextmanager
async def tokens(
    server: TokenServer, clock: FakeClock, secret: str = "ayx-secret"
) -> AsyncIterator[TokenSource]:
    async with serve({"/webapi/oauth2/token": server.handle}) as base, aiohttp.ClientSession() as s:
        api = ApiClient(
            s,
            platform="Alteryx",
            base_url=base + "/webapi",
            clock=clock,
            limiter=anyio.CapacityLimiter(4),
            auth=client_auth(Secret("ayx-id"), Secret(secret)),
        )
        yield TokenSource(api, clock=clock)


async def test_a_token_is_asked_for_with_basic_credentials_and_then_reused():
    server, clock = TokenServer(), FakeClock()
    async with tokens(server, clock) as source:
        assert await source.headers() == {"Authorization": "Bearer tok-1"}
        clock.advance(3000)
        assert await source.token() == "tok-1"
    assert server.requests == [
        (
            "Basic " + base64.b64encode(b"ayx-id:ayx-secret").decode(),
            "grant_type=client_credentials",
        )
    ]


async def test_a_token_is_replaced_a_minute_before_it_expires():
    server, clock = TokenServer(lifetime=3600), FakeClock()
    async with tokens(server, clock) as source:
        await source.token()
        clock.advance(3539)
        assert await source.token() == "tok-1"
        clock.advance(1)
        assert await source.token() == "tok-2"


async def test_a_short_lived_token_is_replaced_at_half_its_life():
    server, clock = TokenServer(lifetime=60), FakeClock()
    async with tokens(server, clock) as source:
        await source.token()
        clock.advance(29)
        assert await source.token() == "tok-1"
        clock.advance(1)
        assert await source.token() == "tok-2"


async def test_concurrent_callers_share_one_token_request():
    server, clock = TokenServer(), FakeClock()
    async with tokens(server, clock) as source:
        got = []

        async def take() -> None:
            got.append(await source.token())

        async with anyio.create_task_group() as tg:
            for _ in range(10):
                tg.start_soon(take)
    assert got == ["tok-1"] * 10
    assert server.issued == 1


async def test_renew_replaces_the_token_at_once():
    server, clock = TokenServer(), FakeClock()
    async with tokens(server, clock) as source:
        await source.token()
        assert await source.renew() is True
        assert await source.token() == "tok-2"
        assert "tok-2" in source.secrets()


async def test_refused_client_credentials_fail_clearly_without_showing_them():
    server, clock = TokenServer(), FakeClock()
    async with tokens(server, clock, secret="wrong-secret") as source:
        with pytest.raises(ApiError) as caught:
            await source.token()
    text = str(caught.value)
    assert text.endswith(
        "HTTP 401 Unauthorized, credentials refused: invalid_client: client authentication failed"
    )
    assert "wrong-secret" not in text
    assert "wrong-secret" not in repr(source)
