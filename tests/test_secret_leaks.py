"""Secrets stay secret at each boundary where text is made from something foreign.

A foreign error's text (the HTTP library's) carrying a signed URL with user info,
an error of the tree built from such text, the store's `error` column written by
any caller, and a redirect of an authenticated download to another origin.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import anyio
import pytest
from aiohttp import web

from downloader import cli
from downloader.clock import FakeClock
from downloader.config import Settings
from downloader.errors import ApiError, NetworkError, TransferError
from downloader.items import ItemRef
from downloader.providers._api import ApiClient, StaticAuth
from downloader.redact import REDACTOR, describe, scrub
from downloader.runners._compose import run_once
from downloader.store import ItemState, open_store
from downloader.transfer import AssetRequest
from downloader.transfer._urls import same_origin
from tests.support.engine import make_engine
from tests.support.once import once_against
from tests.support.web import Handler, serve

USER_PASSWORD = "pw-userinfo-4471"
SIGNATURE = "sig-query-8812c0ffee"


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        (f"InvalidUrlClientError: http://bob:{USER_PASSWORD}@h:99999/f?sig={SIGNATURE}", SIGNATURE),
        (f"InvalidUrlClientError: http://bob:{USER_PASSWORD}@h:99999/f", USER_PASSWORD),
        (
            f"url='https://cdn.example/f.tif?X-Amz-Signature={SIGNATURE}&X-Amz-Expires=60'",
            SIGNATURE,
        ),
        (f"s3://key:{USER_PASSWORD}@bucket/obj", USER_PASSWORD),
        (f"GET /f.bin?token={SIGNATURE} HTTP/1.1", SIGNATURE),
        (f"Cannot connect to host bob:{USER_PASSWORD}@h:443", USER_PASSWORD),
        (f"Authorization: Bearer {SIGNATURE}", SIGNATURE),
        (f"the server said: token {SIGNATURE} is not valid", SIGNATURE),
        (f'{{"error": "bad", "access_token": "{SIGNATURE}"}}', SIGNATURE),
        (f"client_secret={SIGNATURE}&grant_type=client_credentials", SIGNATURE),
        (f"postgresql://app:{USER_PASSWORD}@db:5432/x", USER_PASSWORD),
    ],
)
def test_text_of_any_form_that_carries_a_credential_is_scrubbed(text: str, secret: str) -> None:
    assert secret not in scrub(text)
    for error in (
        NetworkError(text),
        TransferError(text, url="http://h/x"),
        ApiError(text, status=500),
    ):
        assert secret not in str(error)
        assert secret not in repr(error)
        assert secret not in describe(error)
    assert secret not in describe(ValueError(text))  # a foreign error as it is stored


def test_ordinary_messages_pass_through_unchanged() -> None:
    for text in (
        "HTTPStatusError: HTTP 404",
        "size mismatch: expected 12 bytes, got 10",
        "cannot read /var/lib/downloader/x.db: Permission denied",
        "sha256 mismatch (manifest): expected ab12, got cd34",
        "pixxel API GET /v0/workflows/wf-1/jobs/j-2: HTTP 500 Internal Server Error",
        "Alteryx API POST /oauth2/token: token request failed: HTTP 401, credentials refused",
        "no digest offered; Basic auth refused; the bearer token expired",
    ):
        assert scrub(text) == text


def test_origins_are_scheme_host_and_effective_port() -> None:
    assert same_origin("http://a.example/x?q=1", "http://A.example:80/y")
    assert not same_origin("http://a.example/x", "https://a.example/x")
    assert not same_origin("http://a.example/x", "http://b.example/x")
    assert not same_origin("http://a.example/x", "http://a.example:8080/x")
    assert not same_origin("http://127.0.0.1:8000/x", "http://localhost:8000/x")


async def test_a_signed_url_in_a_foreign_error_reaches_neither_the_store_nor_its_file(
    tmp_path: Path,
) -> None:
    # the file host redirects to a URL the HTTP library refuses; its error text is the URL
    target = f"http://bob:{USER_PASSWORD}@127.0.0.1:99999/f.bin?X-Amz-Signature={SIGNATURE}"

    async def redirect(request: web.Request) -> web.StreamResponse:
        return web.Response(status=302, headers={"Location": target})

    async with serve({"/f.bin": redirect}) as base:
        settings = Settings.defaults(tmp_path)
        ref = ItemRef("http", "file", ("f",), url=f"{base}/f.bin?X-Amz-Signature={SIGNATURE}")
        with anyio.fail_after(60):  # it used to be retried without end
            result = await run_once(settings, [ref])
    assert result.failed == 1
    async with open_store(settings.state.url) as store:
        record = await store.get(ref.key)
        events = await store.events(ref.key)
    assert record is not None
    assert record.state is ItemState.FAILED
    assert record.error is not None
    assert "InvalidUrlClientError" in record.error
    texts = [record.error, *(e.detail for e in events)]
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("state.db*"))
    for secret in (USER_PASSWORD, SIGNATURE):
        assert all(secret not in text for text in texts), (secret, texts)
        assert secret.encode() not in raw


async def test_the_store_scrubs_every_error_it_is_given(tmp_path: Path) -> None:
    REDACTOR.add(["registered-secret-5521"])
    url = f"sqlite:///{tmp_path / 'state.db'}"
    ref = ItemRef("http", "file", ("g",), url="http://127.0.0.1:1/g")
    now = datetime(2026, 12, 7, tzinfo=UTC)
    async with open_store(url) as store:
        await store.sync_watchlist([ref], now=now)
        await store.schedule(
            ref.key, now, now=now, error=f"Boom: http://h/x?sig={SIGNATURE} registered-secret-5521"
        )
        await store.record_event(ref.key, "note", f"said Token {SIGNATURE}", now=now)
        record = await store.transition(
            ref.key,
            ItemState.FAILED,
            now=now,
            error=f"Boom: http://u:{USER_PASSWORD}@h/x registered-secret-5521",
        )
    assert record.error == "Boom: http://h/x ***"
    with sqlite3.connect(tmp_path / "state.db") as conn:
        dumped = "\n".join(conn.iterdump())
    for secret in (USER_PASSWORD, SIGNATURE, "registered-secret-5521"):
        assert secret not in dumped


REDIRECTED_OUTPUT = """
[emulator]
alteryx_client_id = "ayx-redirect-id"
alteryx_client_secret = "ayx-redirect-secret"
output_redirect_host = "localhost"

[[alteryx.job]]
id = "ayx-r"
outputs = [{ id = "o1", file_name = "out.csv", size = 5000, formats = ["Raw"] }]
"""


async def test_an_output_redirected_to_another_origin_is_fetched_without_the_token(
    tmp_path: Path,
) -> None:
    async with once_against(tmp_path, REDIRECTED_OUTPUT) as (running, _settings):
        files = running.emulator.files.log
        api = running.emulator.ctx.log
    assert list((tmp_path / "archive").rglob("out.csv")), "the output was archived"
    asked = [r for r in api if "/output/" in r.path]
    assert asked
    assert all(r.authorization for r in asked)
    fetched = [r for r in files if r.path.endswith("/Raw")]
    assert fetched
    assert all(r.headers.get("Host", "").startswith("localhost:") for r in fetched)
    assert all("Authorization" not in r.headers for r in fetched), [r.headers for r in fetched]


def test_status_never_prints_a_secret_a_database_of_an_older_version_holds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    ref = ItemRef("http", "file", ("old",), url="http://127.0.0.1:1/old")

    async def make() -> None:
        async with open_store(url) as store:
            await store.sync_watchlist([ref], now=datetime(2026, 12, 7, tzinfo=UTC))

    anyio.run(make)
    leaked = f"NetworkError: http://bob:{USER_PASSWORD}@h/f?X-Amz-Signature={SIGNATURE}"
    with sqlite3.connect(tmp_path / "state.db") as conn:  # as an older version stored it
        conn.execute("UPDATE items SET error = ?", (leaked,))
    config = tmp_path / "config.toml"
    config.write_text(f'[state]\nurl = "{url}"\n[archive]\nroot = "{tmp_path / "archive"}"\n')
    for flags in ([], ["--json"], ["-v"]):
        assert cli.main(["status", "-c", str(config), *flags]) == cli.EXIT_OK
        out = capsys.readouterr().out
        assert "NetworkError: http://h/f?" in out
        assert SIGNATURE not in out
        assert USER_PASSWORD not in out


BROKEN_TOKENS = """
[emulator]
token_line_break = true

[[alteryx.job]]
id = "ayx-crlf"
outputs = [{ id = "o1", file_name = "out.csv", size = 5000, formats = ["Raw"] }]
"""


async def test_a_token_with_a_line_break_fails_the_item_and_is_never_sent(tmp_path: Path) -> None:
    with anyio.fail_after(60):
        async with once_against(tmp_path, BROKEN_TOKENS) as (running, settings):
            tokens = list(running.emulator.alteryx.tokens)
            asked = [r for r in running.emulator.ctx.log if "/v3/jobs/" in r.path]
    async with open_store(settings.state.url) as store:
        record = await store.get("alteryx:job:ayx-crlf")
    assert record is not None
    assert record.state is ItemState.FAILED
    # an unreadable answer like any other: asked again up to [poll] unreadable_limit
    assert record.error is not None
    assert record.error.startswith(
        "MalformedResponse: Alteryx token: 'access_token' holds a line break or control character"
    )
    assert tokens
    for token in tokens:  # nor is it in the excerpt of the answer the error quotes
        assert all(part not in record.error for part in token.split()), token
    assert asked == []  # no request carried it


async def test_a_credential_header_no_request_can_carry_fails_the_transfer_at_once(
    tmp_path: Path,
) -> None:
    async def header() -> dict[str, str]:
        return {"Authorization": f"Bearer {SIGNATURE}\r\nX-Injected: 1"}

    async def ok(request: web.Request) -> web.StreamResponse:
        return web.Response(body=b"never asked")

    async with serve({"/f.bin": ok}) as base, make_engine(tmp_path) as (engine, clock):
        request = AssetRequest("crlf", url=f"{base}/f.bin", headers=header)
        with pytest.raises(NetworkError) as caught:
            await engine.fetch(request, tmp_path / "out")
    assert not caught.value.retryable
    assert clock.sleeps == []
    assert SIGNATURE not in str(caught.value)


async def test_an_api_request_no_server_can_be_sent_is_an_api_error(tmp_path: Path) -> None:
    class CrlfAuth(StaticAuth):
        async def headers(self) -> dict[str, str]:
            return {"Authorization": "Token abc\r\nX-Injected: 1"}

    async with serve({}) as base, aiohttp.ClientSession() as session:
        api = ApiClient(
            session,
            platform="Test",
            base_url=base,
            clock=FakeClock(),
            limiter=anyio.CapacityLimiter(1),
            auth=CrlfAuth(None),
        )
        with pytest.raises(ApiError) as caught:
            await api.call("GET", "/x")
    assert not caught.value.retryable
    assert "request refused" in str(caught.value)


async def test_any_caller_s_credentials_follow_a_redirect_only_within_its_origin(
    tmp_path: Path,
) -> None:
    seen: dict[str, str | None] = {}

    async def landing(request: web.Request) -> web.StreamResponse:
        seen[request.path] = request.headers.get("X-Api-Key")
        return web.Response(body=b"payload")

    async def header() -> dict[str, str]:
        return {"X-Api-Key": "k-7731-secret"}

    async with serve({"/there.bin": landing}) as other:

        async def to_other(request: web.Request) -> web.StreamResponse:
            return web.Response(status=307, headers={"Location": f"{other}/there.bin"})

        async def to_same(request: web.Request) -> web.StreamResponse:
            return web.Response(status=302, headers={"Location": "/here.bin"})

        routes: dict[str, Handler] = {"/a": to_other, "/b": to_same, "/here.bin": landing}
        async with serve(routes) as start, make_engine(tmp_path) as (engine, _):
            # the same host under another port: another origin all the same
            assert start.rpartition(":")[0] == other.rpartition(":")[0]
            for path in ("/a", "/b"):
                request = AssetRequest(path, url=f"{start}{path}", headers=header)
                await engine.fetch(request, tmp_path / path.strip("/"))
    assert seen == {"/there.bin": None, "/here.bin": "k-7731-secret"}
