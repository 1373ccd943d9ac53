"""Servers that will never answer properly: malformed heads, absurd sizes, a body that
is not what its head says.  Raw socket servers on loopback, since no HTTP library
sends such answers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from downloader.errors import ImplausibleSize, ProtocolViolation, TransferError
from downloader.transfer import AssetRequest, RetryPolicy
from tests.support.engine import make_engine, nothing_final_except
from tests.support.raw_http import serve_raw

ROOT = Path(__file__).resolve().parent.parent
SECRET = "sig=s3cr3t"
HUGE = 1 << 60

MALFORMED_HEADS = {
    "header over the parser's limit": b"HTTP/1.1 200 OK\r\nX-Big: "
    + b"a" * 20000
    + b"\r\nContent-Length: 5\r\n\r\nhello",
    "Content-Length that is no number": b"HTTP/1.1 200 OK\r\nContent-Length: 12abc\r\n\r\nhello",
    "negative Content-Length": b"HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\nhello",
    "two Content-Lengths that disagree": (
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"
    ),
    "status that is no number": b"HTTP/1.1 2OO OK\r\nContent-Length: 5\r\n\r\nhello",
    "no HTTP at all": b"GARBAGE\r\n\r\n",
    "NUL in a header": b"HTTP/1.1 200 OK\r\nX-A: a\x00b\r\nContent-Length: 5\r\n\r\nhello",
    "chunk size that is no number": (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"
    ),
}


@pytest.mark.parametrize("head", MALFORMED_HEADS.values(), ids=MALFORMED_HEADS.keys())
async def test_a_malformed_head_is_a_retryable_protocol_violation_that_names_no_signature(
    tmp_path: Path, head: bytes
) -> None:
    async with (
        serve_raw(head) as server,
        make_engine(tmp_path, retry=RetryPolicy(attempts=2)) as (
            engine,
            _,
        ),
    ):
        request = AssetRequest("bad", url=f"{server.url}/scene.tif?{SECRET}")
        with pytest.raises(ProtocolViolation) as caught:
            await engine.fetch(request, tmp_path / "out")
    assert caught.value.retryable  # the item's retry budget decides how long
    assert "malformed response" in str(caught.value)
    assert "s3cr3t" not in str(caught.value)
    assert caught.value.url == f"{server.url}/scene.tif?…"
    assert len(server.requests) == 3
    assert nothing_final_except(tmp_path / "out")


@pytest.mark.parametrize(
    "head",
    [
        f"HTTP/1.1 200 OK\r\nContent-Length: {HUGE}\r\n\r\nhello".encode(),
        f"HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-4/{HUGE}\r\n"
        "Content-Length: 5\r\n\r\nhello".encode(),
    ],
    ids=["Content-Length", "Content-Range"],
)
async def test_a_size_beyond_any_file_fails_at_once(tmp_path: Path, head: bytes) -> None:
    async with serve_raw(head) as server, make_engine(tmp_path) as (engine, clock):
        request = AssetRequest("huge", url=f"{server.url}/scene.tif?{SECRET}")
        with pytest.raises(ImplausibleSize) as caught:
            await engine.fetch(request, tmp_path / "out")
    assert caught.value.size == HUGE
    assert not caught.value.retryable
    assert len(server.requests) == 1
    assert clock.sleeps == []
    assert list((tmp_path / ".partial").rglob("*.part")) == []


# aiohttp's C parser stops such a body one way, its Python parser (used where the C
# extension is missing) another: with the latter, the parser's own exception used to
# escape the engine and end the whole process
BAD_CHUNK_SCRIPT = """
import asyncio, json, sys
from pathlib import Path
from downloader.errors import DownloaderError
from downloader.transfer import AssetRequest, RetryPolicy, Timeouts
from tests.support.engine import make_engine
from tests.support.raw_http import serve_raw

# the C parser waits for the rest of a chunk it cannot read, so that case ends on the
# stall timeout: one short stall, no restart to wait through it again
FAST = {"retry": RetryPolicy(attempts=1, restarts=0), "timeouts": Timeouts(connect=5, stall=1)}

async def main(tmp: Path) -> None:
    head = b"HTTP/1.1 200 OK\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n5\\r\\nhello\\r\\n"
    async with serve_raw(head, then=b"zz\\r\\nxx\\r\\n0\\r\\n\\r\\n") as server:
        async with make_engine(tmp, **FAST) as (engine, _):
            request = AssetRequest("chunks", url=server.url + "/a.tif?sig=s3cr3t")
            try:
                await engine.fetch(request, tmp / "out")
            except DownloaderError as exc:
                print(json.dumps({"error": type(exc).__name__, "text": str(exc)}))
            except Exception as exc:
                print(json.dumps({"escaped": type(exc).__name__}))

asyncio.run(main(Path(sys.argv[1])))
"""


@pytest.mark.parametrize("parser", ["python", "c"])
async def test_a_chunk_size_line_that_cannot_be_read_is_the_projects_error(
    tmp_path: Path, parser: str
) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if parser == "python":
        env["AIOHTTP_NO_EXTENSIONS"] = "1"
    done = subprocess.run(
        [sys.executable, "-c", BAD_CHUNK_SCRIPT, str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
        check=True,
    )
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert "escaped" not in outcome, outcome
    assert outcome["error"] in ("ProtocolViolation", "ObjectChanged", "StallTimeout")
    assert "s3cr3t" not in outcome["text"]


async def test_a_redirect_to_a_url_that_cannot_be_read_is_the_projects_error(
    tmp_path: Path,
) -> None:
    head = b"HTTP/1.1 302 Found\r\nLocation: http://[::1/next\r\nContent-Length: 0\r\n\r\n"
    async with (
        serve_raw(head) as server,
        make_engine(tmp_path, retry=RetryPolicy(attempts=1)) as (
            engine,
            _,
        ),
    ):
        request = AssetRequest("moved", url=f"{server.url}/scene.tif?{SECRET}")
        with pytest.raises(ProtocolViolation, match="redirect to a URL that cannot be read"):
            await engine.fetch(request, tmp_path / "out")
    assert len(server.requests) == 2


API_BAD_CHUNK_SCRIPT = """
import asyncio, json
import aiohttp, anyio
from downloader.clock import FakeClock
from downloader.errors import DownloaderError
from downloader.providers._api import ApiClient
from tests.support.raw_http import serve_raw

async def main() -> None:
    head = (b"HTTP/1.1 200 OK\\r\\nContent-Type: application/json\\r\\n"
            b"Transfer-Encoding: chunked\\r\\n\\r\\n2\\r\\n{}\\r\\n")
    async with serve_raw(head, then=b"zz\\r\\nxx\\r\\n0\\r\\n\\r\\n") as server:
        async with aiohttp.ClientSession() as session:
            api = ApiClient(session, platform="Test", base_url=server.url, clock=FakeClock(),
                            limiter=anyio.CapacityLimiter(1))
            try:
                await api.call("GET", "/v0/jobs/1?token=s3cr3t")
            except DownloaderError as exc:
                print(json.dumps({"error": type(exc).__name__, "text": str(exc)}))
            except Exception as exc:
                print(json.dumps({"escaped": type(exc).__name__}))

asyncio.run(main())
"""


async def test_an_api_answer_whose_chunk_size_cannot_be_read_is_the_projects_error() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "AIOHTTP_NO_EXTENSIONS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", API_BAD_CHUNK_SCRIPT],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
        check=True,
    )
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert outcome["error"] == "ApiError", outcome
    assert "s3cr3t" not in outcome["text"]


@pytest.mark.parametrize(
    "url",
    ["http://[::1/scene.tif?sig=s3cr3t", "http://127.0.0.1:99999/scene.tif?sig=s3cr3t"],
    ids=["bracket that opens no IPv6 address", "port out of range"],
)
async def test_a_url_no_client_can_use_fails_at_once_without_its_signature(
    tmp_path: Path, url: str
) -> None:
    async with make_engine(tmp_path) as (engine, clock):
        with pytest.raises(TransferError) as caught:
            await engine.fetch(AssetRequest("bad", url=url), tmp_path / "out")
    assert not caught.value.retryable
    assert "s3cr3t" not in str(caught.value)
    assert "s3cr3t" not in (caught.value.url or "")
    assert clock.sleeps == []
