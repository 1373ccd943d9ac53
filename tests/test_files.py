from __future__ import annotations

import base64
import hashlib
import time
import zlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import aiohttp
import crc32c
import pytest

from downloader.emulator._content import BLOCK, SeededContent
from downloader.emulator._files import (
    Faults,
    FileHost,
    FileSpec,
    RunningHost,
    digest_headers_for,
    start_file_host,
)
from tests.support.raw_http import raw_get

SMALL = 100_000


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(auto_decompress=False) as client:
        yield client


def serve(running: RunningHost, path: str = "/files/a.bin", size: int = SMALL, **spec: object):
    """Add a file with seed 1 and return its content."""
    content = SeededContent(1, size)
    running.host.add(FileSpec(path, content, **spec))  # type: ignore[arg-type]
    return content


async def read_until_error(response: aiohttp.ClientResponse) -> tuple[bytes, Exception | None]:
    received = bytearray()
    try:
        async for piece in response.content.iter_any():
            received += piece
    except aiohttp.ClientPayloadError as exc:
        return bytes(received), exc
    return bytes(received), None


# --- plain HTTP semantics -----------------------------------------------------------------


async def test_full_get_sends_exact_bytes_and_validators(file_host, session) -> None:
    content = serve(file_host)
    async with session.get(
        file_host.url("/files/a.bin"), headers={"Accept-Encoding": "gzip, br"}
    ) as response:
        body = await response.read()
        assert response.status == 200
        assert response.headers["Accept-Ranges"] == "bytes"
        assert response.headers["ETag"] == f'"s1-{SMALL}-v0"'
        assert response.headers["Last-Modified"] == "Thu, 01 Jan 2026 12:00:00 GMT"
        assert response.headers["Content-Type"] == "application/octet-stream"
        assert response.headers["Content-Length"] == str(SMALL)
        assert "Content-Encoding" not in response.headers
    assert body == content.read(0, SMALL)


async def test_large_file_streams_whole_and_ranges_across_blocks(file_host, session) -> None:
    size = 3 * BLOCK
    content = serve(file_host, size=size)
    async with session.get(file_host.url("/files/a.bin")) as response:
        assert hashlib.sha256(await response.read()).hexdigest() == content.hexdigest()
    headers = {"Range": f"bytes={BLOCK - 10}-{BLOCK + 9}"}
    async with session.get(file_host.url("/files/a.bin"), headers=headers) as response:
        assert response.status == 206
        assert await response.read() == content.read(BLOCK - 10, 20)


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=0-0", 0, 1),
        ("bytes=10-99", 10, 100),
        ("bytes=99990-", 99990, SMALL),
        ("bytes=-25", SMALL - 25, SMALL),
        ("bytes=-500000", 0, SMALL),
        ("bytes=50-999999", 50, SMALL),
    ],
)
async def test_single_ranges_answer_206_with_exact_bytes(
    file_host, session, header, start, end
) -> None:
    content = serve(file_host)
    async with session.get(file_host.url("/files/a.bin"), headers={"Range": header}) as response:
        body = await response.read()
        assert response.status == 206
        assert response.headers["Content-Range"] == f"bytes {start}-{end - 1}/{SMALL}"
        assert response.headers["Content-Length"] == str(end - start)
    assert body == content.read(start, end - start)


@pytest.mark.parametrize(
    "header", [f"bytes={SMALL}-", f"bytes={SMALL + 5}-{SMALL + 9}", "bytes=-0"]
)
async def test_unsatisfiable_range_answers_416_with_star_content_range(
    file_host, session, header
) -> None:
    serve(file_host)
    async with session.get(file_host.url("/files/a.bin"), headers={"Range": header}) as response:
        assert response.status == 416
        assert response.headers["Content-Range"] == f"bytes */{SMALL}"
    assert file_host.host.log[-1].status == 416


@pytest.mark.parametrize(
    "header", ["bytes=0-1,5-6", "bytes=abc", "items=0-5", "bytes=9-3", "bytes=-", "bytes 0-5"]
)
async def test_malformed_or_multi_range_is_ignored(file_host, session, header) -> None:
    content = serve(file_host)
    async with session.get(file_host.url("/files/a.bin"), headers={"Range": header}) as response:
        assert response.status == 200
        assert "Content-Range" not in response.headers
        assert await response.read() == content.read(0, SMALL)


async def test_empty_file_serves_empty_body_and_refuses_first_byte_ranges(
    file_host, session
) -> None:
    serve(file_host, size=0)
    async with session.get(file_host.url("/files/a.bin")) as response:
        assert response.status == 200
        assert await response.read() == b""
    async with session.get(file_host.url("/files/a.bin"), headers={"Range": "bytes=0-"}) as r:
        assert r.status == 416
        assert r.headers["Content-Range"] == "bytes */0"


async def test_if_range_with_matching_etag_honours_range_and_stale_etag_sends_all(
    file_host, session
) -> None:
    content = serve(file_host)
    url = file_host.url("/files/a.bin")
    etag = f'"s1-{SMALL}-v0"'
    async with session.get(url, headers={"Range": "bytes=5-9", "If-Range": etag}) as response:
        assert response.status == 206
        assert await response.read() == content.read(5, 5)
    stale = {"Range": "bytes=5-9", "If-Range": '"s1-100000-v9"'}
    async with session.get(url, headers=stale) as response:
        assert response.status == 200
        assert await response.read() == content.read(0, SMALL)


async def test_if_range_date_must_equal_last_modified_exactly(file_host, session) -> None:
    serve(file_host)
    url = file_host.url("/files/a.bin")
    same = {"Range": "bytes=0-3", "If-Range": "Thu, 01 Jan 2026 12:00:00 GMT"}
    later = {"Range": "bytes=0-3", "If-Range": "Thu, 01 Jan 2026 12:00:01 GMT"}
    async with session.get(url, headers=same) as response:
        assert response.status == 206
    async with session.get(url, headers=later) as response:
        assert response.status == 200
        assert response.headers["Content-Length"] == str(SMALL)


async def test_weak_etag_never_satisfies_if_range(file_host, session) -> None:
    serve(file_host, etag='W/"x"')
    url = file_host.url("/files/a.bin")
    async with session.get(url) as response:
        assert response.headers["ETag"] == 'W/"x"'
    for validator in ('W/"x"', '"x"'):
        headers = {"Range": "bytes=0-3", "If-Range": validator}
        async with session.get(url, headers=headers) as response:
            assert response.status == 200


async def test_optional_headers_follow_the_spec(file_host, session) -> None:
    serve(
        file_host,
        etag=None,
        last_modified=None,
        content_type="application/zip",
        content_disposition='attachment; filename="scene.zip"',
    )
    async with session.get(file_host.url("/files/a.bin")) as response:
        assert "ETag" not in response.headers
        assert "Last-Modified" not in response.headers
        assert response.headers["Content-Type"] == "application/zip"
        assert response.headers["Content-Disposition"] == 'attachment; filename="scene.zip"'
    headers = {"Range": "bytes=0-3", "If-Range": "Thu, 01 Jan 2026 12:00:00 GMT"}
    async with session.get(file_host.url("/files/a.bin"), headers=headers) as response:
        assert response.status == 200  # nothing to compare the date with


async def test_head_sends_the_headers_of_get_without_body(file_host) -> None:
    serve(file_host)
    whole = await raw_get(file_host.url("/files/a.bin"), method="HEAD")
    assert whole.status == 200
    assert whole.header("Content-Length") == str(SMALL)
    assert whole.header("ETag") == f'"s1-{SMALL}-v0"'
    assert whole.body == b""
    part = await raw_get(file_host.url("/files/a.bin"), {"Range": "bytes=-10"}, method="HEAD")
    assert part.status == 206
    assert part.header("Content-Range") == f"bytes {SMALL - 10}-{SMALL - 1}/{SMALL}"
    assert part.body == b""
    assert [r.bytes_sent for r in file_host.host.log] == [0, 0]


async def test_unknown_path_is_404_and_other_methods_405(file_host, session) -> None:
    serve(file_host)
    async with session.get(file_host.url("/files/missing.bin")) as response:
        assert response.status == 404
    async with session.post(file_host.url("/files/a.bin"), data=b"x") as response:
        assert response.status == 405
        assert response.headers["Allow"] == "GET, HEAD"


async def test_request_log_records_each_request_in_order(file_host, session) -> None:
    serve(file_host)
    before = time.time()
    await (await session.get(file_host.url("/files/a.bin") + "?x=1")).read()
    range_headers = {"Range": "bytes=0-9", "X-Trace": "t1"}
    await (await session.get(file_host.url("/files/a.bin"), headers=range_headers)).read()
    await (await session.get(file_host.url("/nope"))).read()
    first, second, third = file_host.host.log
    assert (first.method, first.path, first.query, first.status) == (
        "GET",
        "/files/a.bin",
        "x=1",
        200,
    )
    assert first.bytes_sent == SMALL
    assert first.range is None
    assert (second.status, second.bytes_sent, second.range) == (206, 10, "bytes=0-9")
    assert second.headers["X-Trace"] == "t1"
    assert (third.path, third.status) == ("/nope", 404)
    assert before <= first.started <= second.started <= third.started <= time.time()


async def test_replace_changes_content_etag_and_date(file_host, session) -> None:
    old = serve(file_host)
    file_host.host.replace("/files/a.bin")
    new = file_host.host.content_of("/files/a.bin")
    assert new.seed != old.seed
    assert new.size == old.size
    async with session.get(file_host.url("/files/a.bin")) as response:
        assert response.headers["ETag"] == f'"s{new.seed}-{SMALL}-v1"'
        assert response.headers["Last-Modified"] == "Thu, 01 Jan 2026 12:00:01 GMT"
        assert await response.read() == new.read(0, SMALL)


# --- faults -------------------------------------------------------------------------------


async def test_drop_cuts_the_connection_mid_body_then_behaves(file_host, session) -> None:
    content = serve(file_host)
    file_host.host.faults("/files/a.bin").drop_after_bytes = 30_000
    async with session.get(file_host.url("/files/a.bin")) as response:
        received, error = await read_until_error(response)
    assert isinstance(error, aiohttp.ClientPayloadError)
    assert received == content.read(0, 30_000)
    assert file_host.host.log[-1].bytes_sent == 30_000
    async with session.get(file_host.url("/files/a.bin")) as response:
        assert await response.read() == content.read(0, SMALL)


async def test_drop_on_the_wire_is_a_short_body_and_a_closed_socket(file_host) -> None:
    serve(file_host)
    faults = file_host.host.faults("/files/a.bin")
    faults.drop_after_bytes, faults.drop_times = 1000, -1
    for _ in range(2):
        raw = await raw_get(file_host.url("/files/a.bin"))
        assert raw.header("Content-Length") == str(SMALL)
        assert len(raw.body) == 1000


async def test_drop_counts_only_responses_it_cut_and_rearms_when_changed(
    file_host, session
) -> None:
    serve(file_host)
    faults = file_host.host.faults("/files/a.bin")
    faults.drop_after_bytes = 500
    async with session.get(file_host.url("/files/a.bin"), headers={"Range": "bytes=0-99"}) as r:
        assert await r.read() != b""  # too short to be cut: not counted
    async with session.get(file_host.url("/files/a.bin")) as response:
        assert (await read_until_error(response))[1] is not None
    async with session.get(file_host.url("/files/a.bin")) as response:
        assert (await read_until_error(response))[1] is None
    faults.drop_after_bytes = 600
    async with session.get(file_host.url("/files/a.bin")) as response:
        received, error = await read_until_error(response)
    assert error is not None
    assert len(received) == 600


async def test_stall_pauses_mid_body_once(file_host, session) -> None:
    content = serve(file_host)
    faults = file_host.host.faults("/files/a.bin")
    faults.stall_seconds, faults.stall_after_bytes = 0.3, 10_000
    began = time.monotonic()
    async with session.get(file_host.url("/files/a.bin")) as response:
        first = await response.content.readexactly(10_000)
        arrived = time.monotonic()
        rest = await response.content.read()
        resumed = time.monotonic()
    assert first + rest == content.read(0, SMALL)
    assert arrived - began < 0.25
    assert resumed - arrived >= 0.25
    began = time.monotonic()
    async with session.get(file_host.url("/files/a.bin")) as response:
        await response.read()
    assert time.monotonic() - began < 0.25


async def test_error_statuses_are_answered_in_order_with_retry_after(file_host, session) -> None:
    content = serve(file_host)
    faults = file_host.host.faults("/files/a.bin")
    faults.error_statuses, faults.retry_after = [503, 429], "2"
    seen = []
    for _ in range(3):
        async with session.get(file_host.url("/files/a.bin")) as response:
            body = await response.read()
            seen.append((response.status, response.headers.get("Retry-After")))
    assert seen == [(503, "2"), (429, "2"), (200, None)]
    assert body == content.read(0, SMALL)
    assert faults.error_statuses == []
    assert file_host.host.log[0].status == 503


async def test_error_status_body_is_a_small_html_page(file_host, session) -> None:
    serve(file_host)
    file_host.host.faults("/files/a.bin").error_statuses = [500]
    async with session.get(file_host.url("/files/a.bin")) as response:
        assert response.headers["Content-Type"].startswith("text/html")
        assert "500 Internal Server Error" in await response.text()
        assert "Retry-After" not in response.headers


async def test_ignore_range_answers_200_with_everything(file_host, session) -> None:
    content = serve(file_host)
    file_host.host.faults("/files/a.bin").ignore_range = True
    async with session.get(file_host.url("/files/a.bin"), headers={"Range": "bytes=10-"}) as r:
        assert r.status == 200
        assert "Content-Range" not in r.headers
        assert await r.read() == content.read(0, SMALL)


async def test_changing_etag_every_request_serves_new_content_each_time(file_host, session) -> None:
    serve(file_host)
    file_host.host.faults("/files/a.bin").change_etag_every_request = True
    url = file_host.url("/files/a.bin")
    async with session.get(url) as response:
        first_etag, first_body = response.headers["ETag"], await response.read()
    async with session.get(url, headers={"Range": "bytes=0-9", "If-Range": first_etag}) as r:
        assert r.status == 200
        second_etag, second_body = r.headers["ETag"], await r.read()
    assert first_etag != second_etag
    assert first_body != second_body
    assert second_body == file_host.host.content_of("/files/a.bin").read(0, SMALL)


async def test_content_length_shorter_than_the_file_sends_only_that_much(
    file_host, session
) -> None:
    content = serve(file_host)
    file_host.host.faults("/files/a.bin").content_length_delta = -100
    async with session.get(file_host.url("/files/a.bin")) as response:
        assert response.headers["Content-Length"] == str(SMALL - 100)
        assert await response.read() == content.read(0, SMALL - 100)


async def test_content_length_longer_than_the_file_ends_in_a_payload_error(
    file_host, session
) -> None:
    content = serve(file_host)
    file_host.host.faults("/files/a.bin").content_length_delta = 50
    async with session.get(file_host.url("/files/a.bin")) as response:
        assert response.headers["Content-Length"] == str(SMALL + 50)
        received, error = await read_until_error(response)
    assert isinstance(error, aiohttp.ClientPayloadError)
    assert received == content.read(0, SMALL)
    assert file_host.host.log[-1].bytes_sent == SMALL


async def test_flipped_byte_spoils_only_covering_responses_for_its_budget(
    file_host, session
) -> None:
    content = serve(file_host)
    faults = file_host.host.faults("/files/a.bin")
    faults.flip_byte_at = 70_000
    url = file_host.url("/files/a.bin")
    async with session.get(url, headers={"Range": "bytes=0-999"}) as response:
        assert await response.read() == content.read(0, 1000)  # does not cover: not counted
    async with session.get(url, headers={"Range": "bytes=69990-70009"}) as response:
        spoiled = await response.read()
    expected = bytearray(content.read(69_990, 20))
    expected[10] ^= 0xFF
    assert spoiled == bytes(expected)
    async with session.get(url) as response:
        assert await response.read() == content.read(0, SMALL)
    faults.flip_times = -1
    for _ in range(2):
        async with session.get(url) as response:
            body = await response.read()
        assert body[70_000] == content.read(70_000, 1)[0] ^ 0xFF


async def test_wrong_content_range_is_off_by_1024_with_the_asked_body(file_host, session) -> None:
    content = serve(file_host)
    file_host.host.faults("/files/a.bin").wrong_content_range = True
    url = file_host.url("/files/a.bin")
    async with session.get(url, headers={"Range": "bytes=2000-2999"}) as response:
        assert response.headers["Content-Range"] == f"bytes 3024-4023/{SMALL}"
        assert await response.read() == content.read(2000, 1000)
    async with session.get(url, headers={"Range": "bytes=-1000"}) as response:
        assert response.headers["Content-Range"] == f"bytes {SMALL - 2024}-{SMALL - 1025}/{SMALL}"


async def test_signed_url_is_served_until_it_expires() -> None:
    now = [1_000_000.0]
    host = FileHost(secret=b"k", clock=lambda: now[0])
    host.add(FileSpec("/s.bin", SeededContent(2, 1000)), Faults(url_lifetime=60))
    async with await start_file_host(host) as running, aiohttp.ClientSession() as session:
        url = running.signed_url("/s.bin")
        assert "expires=1000060" in url
        async with session.get(url) as response:
            assert response.status == 200
            assert await response.read() == SeededContent(2, 1000).read(0, 1000)
        now[0] += 61
        async with session.get(url) as response:
            assert response.status == 403
            assert response.headers["Content-Type"].startswith("application/xml")
            assert "Request has expired" in await response.text()


async def test_missing_or_forged_signature_is_403(file_host, session) -> None:
    serve(file_host)
    file_host.host.faults("/files/a.bin").url_lifetime = 60
    good = file_host.signed_url("/files/a.bin")
    forged = good[:-1] + ("0" if good[-1] != "0" else "1")
    other_path = file_host.host.signed_url(file_host.base_url, "/files/b.bin", 60)
    moved = file_host.url("/files/a.bin") + "?" + other_path.split("?", 1)[1]
    for url in (file_host.url("/files/a.bin"), forged, moved):
        async with session.get(url) as response:
            assert response.status == 403
            assert "SignatureDoesNotMatch" in await response.text()
    async with session.get(good) as response:
        assert response.status == 200


@pytest.mark.parametrize(
    "location",
    ["http://127.0.0.1:9/elsewhere.bin", "file:///etc/passwd", "ftp://127.0.0.1/x.bin"],
)
async def test_redirect_answers_302_to_the_given_location(file_host, session, location) -> None:
    serve(file_host)
    file_host.host.faults("/files/a.bin").redirect_to = location
    async with session.get(file_host.url("/files/a.bin"), allow_redirects=False) as response:
        assert response.status == 302
        assert response.headers["Location"] == location


def test_digest_headers_match_independent_hashes() -> None:
    content = SeededContent(5, BLOCK + 333)
    data = content.read(0, content.size)

    def b64(raw: bytes) -> str:
        return base64.b64encode(raw).decode()

    md5, sha256 = hashlib.md5(data).digest(), hashlib.sha256(data).digest()
    sha512, sha1 = hashlib.sha512(data).digest(), hashlib.sha1(data).digest()
    crc = zlib.crc32(data).to_bytes(4, "big")
    crcc = crc32c.crc32c(data).to_bytes(4, "big")
    headers = digest_headers_for(
        content,
        [
            "content-md5",
            "digest-sha256",
            "digest-sha512",
            "digest-md5",
            "repr-digest-sha256",
            "repr-digest-sha512",
            "x-goog-hash",
            "x-amz-checksum-sha256",
            "x-amz-checksum-sha1",
            "x-amz-checksum-crc32",
            "x-amz-checksum-crc32c",
        ],
    )
    assert headers == {
        "Content-MD5": b64(md5),
        "Digest": f"sha-256={b64(sha256)},sha-512={b64(sha512)},md5={b64(md5)}",
        "Repr-Digest": f"sha-256=:{b64(sha256)}:, sha-512=:{b64(sha512)}:",
        "x-goog-hash": f"crc32c={b64(crcc)},md5={b64(md5)}",
        "x-amz-checksum-sha256": b64(sha256),
        "x-amz-checksum-sha1": b64(sha1),
        "x-amz-checksum-crc32": b64(crc),
        "x-amz-checksum-crc32c": b64(crcc),
    }
    with pytest.raises(ValueError, match="unknown digest kind"):
        digest_headers_for(content, ["sha3"])


async def test_digests_are_sent_on_200_and_on_206_only_when_asked(file_host, session) -> None:
    content = SeededContent(1, SMALL)
    digests = digest_headers_for(content, ["content-md5", "x-goog-hash"])
    file_host.host.add(FileSpec("/d.bin", content, digests=digests))
    url = file_host.url("/d.bin")
    async with session.get(url) as response:
        body = await response.read()
        assert (
            response.headers["Content-MD5"] == base64.b64encode(hashlib.md5(body).digest()).decode()
        )
        assert response.headers["x-goog-hash"] == digests["x-goog-hash"]
    async with session.get(url, headers={"Range": "bytes=0-9"}) as response:
        assert "Content-MD5" not in response.headers
        assert "x-goog-hash" not in response.headers
    file_host.host.faults("/d.bin").digest_on_206 = True
    async with session.get(url, headers={"Range": "bytes=0-9"}) as response:
        assert response.headers["Content-MD5"] == digests["Content-MD5"]
        assert response.headers["x-goog-hash"] == digests["x-goog-hash"]


async def test_throttle_holds_the_rate_roughly(file_host, session) -> None:
    content = serve(file_host, size=200_000)
    file_host.host.faults("/files/a.bin").rate_bytes_per_s = 400_000
    began = time.monotonic()
    async with session.get(file_host.url("/files/a.bin")) as response:
        body = await response.read()
    elapsed = time.monotonic() - began
    assert body == content.read(0, 200_000)
    assert 0.4 <= elapsed < 1.0


def test_signed_url_carries_expiry_and_hex_hmac_of_path_and_expiry() -> None:
    host = FileHost(secret=b"s3cret", clock=lambda: 100.0)
    url = host.signed_url("http://127.0.0.1:1", "/p.bin", 5)
    query = dict(part.split("=") for part in url.split("?", 1)[1].split("&"))
    assert url.startswith("http://127.0.0.1:1/p.bin?")
    assert query["expires"] == "105"
    assert len(query["sig"]) == 64
    assert int(query["sig"], 16) >= 0


def test_last_modified_default_is_a_fixed_utc_time() -> None:
    spec = FileSpec("/x", SeededContent(1, 1))
    assert spec.last_modified == datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


async def test_client_leaving_mid_stall_is_tolerated(file_host, session) -> None:
    content = serve(file_host)
    faults = file_host.host.faults("/files/a.bin")
    faults.stall_seconds, faults.stall_after_bytes = 0.2, 1000
    response = await session.get(file_host.url("/files/a.bin"))
    assert await response.content.readexactly(1000) == content.read(0, 1000)
    response.close()  # drop the connection while the host is paused
    async with session.get(file_host.url("/files/a.bin")) as again:
        assert await again.read() == content.read(0, SMALL)
    assert file_host.host.log[0].bytes_sent < SMALL
