"""TLS: a server certified by a private CA works once that CA is configured, and only then."""

from __future__ import annotations

import contextlib
import ssl
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import anyio
import bagit
import pytest
import trustme
from aiohttp import web

from downloader.clock import FakeClock
from downloader.config import Settings, load_config, parse_config, schema_keys
from downloader.emulator._content import SeededContent
from downloader.emulator._files import FileHost, FileSpec
from downloader.errors import ApiError
from downloader.providers._api import ApiClient
from downloader.runners._compose import open_service, run_once
from downloader.store import ItemState, open_store
from downloader.transfer._tls import tls_context
from downloader.watchlist import load_watchlist

CONTENT = SeededContent(21, 700_000)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@contextlib.asynccontextmanager
async def https_host(ca: trustme.CA) -> AsyncIterator[str]:
    """The file host over TLS on 127.0.0.1 with a certificate from `ca`; its base URL."""
    host = FileHost()
    host.add(FileSpec("/f.bin", CONTENT))

    async def api(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    app = host.app()
    app.router.add_get("/api/ping", api)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.2)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context).start()
    port = runner.addresses[0][1]
    try:
        yield f"https://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def write_config(tmp_path: Path, base: str, ca_file: Path | None) -> Path:
    (tmp_path / "watchlist.toml").write_text(
        f'[[http.file]]\nurl = "{base}/f.bin"\nid = "tls-file"\n'
    )
    tls = f'ca_file = "{ca_file}"\n' if ca_file else ""
    config = tmp_path / "config.toml"
    config.write_text(
        f'[archive]\nroot = "{tmp_path / "archive"}"\n'
        f'[state]\nurl = "sqlite:///{tmp_path / "state.db"}"\n'
        f'[watchlist]\npath = "{tmp_path / "watchlist.toml"}"\n'
        f'[transfer]\nmin_free_space = "0"\n{tls}'
    )
    return config


async def run(config: Path) -> dict[str, object]:
    settings = load_config(config)
    items = load_watchlist(settings.watchlist.path).items
    with anyio.fail_after(60):
        await run_once(settings, items)
    async with open_store(settings.state.url) as store:
        (record,) = await store.list_items()
    return {"state": record.state, "error": record.error, "path": record.archive_path}


def test_verification_is_on_by_default_and_no_key_turns_it_off() -> None:
    assert Settings().transfer.ca_file is None
    context = tls_context()
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname
    assert not [k for k in schema_keys() if "verify" in k or "insecure" in k or "tls" in k]


async def test_a_download_from_a_server_of_the_configured_ca_is_archived(
    tmp_path: Path, ca: trustme.CA
) -> None:
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    async with https_host(ca) as base:
        record = await run(write_config(tmp_path, base, ca_file))
    assert record["state"] is ItemState.ARCHIVED, record["error"]
    bag = bagit.Bag(str(record["path"]))
    bag.validate()
    assert {d["sha256"] for d in bag.payload_entries().values()} == {CONTENT.hexdigest()}


async def test_without_the_ca_the_item_fails_at_once_naming_the_certificate_problem(
    tmp_path: Path, ca: trustme.CA
) -> None:
    started = time.monotonic()
    async with https_host(ca) as base:
        record = await run(write_config(tmp_path, base, None))
    assert record["state"] is ItemState.FAILED
    error = str(record["error"])
    assert "TLS certificate of the server not trusted" in error
    assert "certificate verify failed" in error
    assert "ca_file" in error
    assert time.monotonic() - started < 20  # failed, not retried for minutes
    assert not (tmp_path / "archive" / "http").exists()


async def test_api_calls_trust_the_configured_ca_and_refuse_others_at_once(
    tmp_path: Path, ca: trustme.CA
) -> None:
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))

    async def call(context: ssl.SSLContext, base: str) -> object:
        connector = aiohttp.TCPConnector(ssl=context)
        async with aiohttp.ClientSession(connector=connector) as session:
            api = ApiClient(
                session,
                platform="Test",
                base_url=base + "/api/",
                clock=FakeClock(),
                limiter=anyio.CapacityLimiter(1),
            )
            return await api.call("GET", "/ping")

    async with https_host(ca) as base:
        assert await call(tls_context(ca_file), base) == {"ok": True}
        with pytest.raises(ApiError) as caught:
            await call(tls_context(), base)
    assert not caught.value.retryable
    assert "TLS certificate of the server not trusted" in str(caught.value)


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "cannot read"), (b"not a certificate\n", "holds no usable PEM certificate")],
)
def test_a_ca_file_that_is_missing_or_not_pem_is_a_config_problem(
    tmp_path: Path, content: bytes | None, message: str
) -> None:
    ca_file = tmp_path / "ca.pem"
    if content is not None:
        ca_file.write_bytes(content)
    report = parse_config(
        f'[transfer]\nca_file = "{ca_file}"\n', file="c.toml", base_dir=tmp_path, environ={}
    )
    assert report.settings is None
    (problem,) = report.problems
    assert problem.key == "transfer.ca_file"
    assert problem.line == 2
    assert message in problem.message


async def test_the_services_api_session_verifies_with_and_without_a_private_ca(
    tmp_path: Path, ca: trustme.CA
) -> None:
    # without ca_file the session is given aiohttp's own verifying context rather than
    # one of ours: it still refuses a certificate no system CA signed
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))

    async def ping(config: Path, base: str) -> object:
        async with (
            open_service(load_config(config), "tls:test") as service,
            service.session.get(base + "/api/ping") as response,
        ):
            return await response.json()

    async with https_host(ca) as base:
        assert await ping(write_config(tmp_path, base, ca_file), base) == {"ok": True}
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            await ping(write_config(tmp_path, base, None), base)
