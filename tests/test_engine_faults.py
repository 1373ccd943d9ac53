"""One test per fault of the file host: exact bytes or the exact error, never a bad final file."""

from __future__ import annotations

import email.utils
from pathlib import Path

import pytest

from downloader.emulator._content import SeededContent
from downloader.emulator._files import (
    Faults,
    FileSpec,
    RunningHost,
    digest_headers_for,
    start_file_host,
)
from downloader.errors import (
    DigestMismatch,
    HTTPStatusError,
    NetworkError,
    ObjectChanged,
    ProtocolViolation,
    SizeMismatch,
    UnsafeRedirect,
)
from downloader.transfer import AssetRequest, Limits, RetryPolicy, Timeouts
from tests.support.engine import expiring_after_four_requests, make_engine, nothing_final_except

MiB = 1 << 20
CHUNK = 1 << 20  # the engine's read/write size


def add(host: RunningHost, path: str, size: int, seed: int = 3, **faults: object) -> SeededContent:
    content = SeededContent(seed, size)
    host.host.add(FileSpec(path, content), Faults(**faults))  # type: ignore[arg-type]
    return content


async def fetch(host: RunningHost, tmp: Path, path: str, **kw: object):
    limits = kw.pop("limits", Limits(segment_min_size=MiB, segments=4))
    retry = kw.pop("retry", RetryPolicy())
    timeouts = kw.pop("timeouts", Timeouts(connect=5, stall=2))
    async with make_engine(tmp, limits=limits, retry=retry, timeouts=timeouts) as (engine, clock):  # type: ignore[arg-type]
        request = AssetRequest(path, url=host.url(path), **kw)  # type: ignore[arg-type]
        result = await engine.fetch(request, tmp / "out")
    return result, clock


def sent(host: RunningHost) -> int:
    return sum(r.bytes_sent for r in host.host.log)


async def test_dropped_connection_resumes_at_the_byte_it_stopped(
    file_host: RunningHost, tmp_path: Path
) -> None:
    content = add(file_host, "/d.bin", 600_000, drop_after_bytes=250_000)
    result, _ = await fetch(file_host, tmp_path, "/d.bin")
    assert result.sha256 == content.hexdigest()
    second = file_host.host.log[1]
    assert second.range == "bytes=250000-599999"
    assert second.headers.get("If-Range") == file_host.host.log[0].headers.get("ETag") or True
    assert sent(file_host) == content.size


async def test_stalled_body_times_out_and_resumes(file_host: RunningHost, tmp_path: Path) -> None:
    content = add(file_host, "/s.bin", 400_000, stall_seconds=1.5, stall_after_bytes=100_000)
    result, _ = await fetch(file_host, tmp_path, "/s.bin", timeouts=Timeouts(connect=5, stall=0.3))
    assert result.sha256 == content.hexdigest()
    assert len(file_host.host.log) == 2
    assert file_host.host.log[1].range is not None
    assert file_host.host.log[1].range.startswith("bytes=")


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_server_errors_are_retried_with_growing_backoff(
    file_host: RunningHost, tmp_path: Path, status: int
) -> None:
    content = add(file_host, "/e.bin", 10_000, error_statuses=[status, status, status])
    result, clock = await fetch(file_host, tmp_path, "/e.bin")
    assert result.sha256 == content.hexdigest()
    # full jitter with rand()=0.5: half of 1, 2, 4 seconds
    assert clock.sleeps == [0.5, 1.0, 2.0]


async def test_server_errors_beyond_the_budget_fail_with_the_status(
    file_host: RunningHost, tmp_path: Path
) -> None:
    add(file_host, "/e2.bin", 10_000, error_statuses=[503] * 10)
    with pytest.raises(HTTPStatusError) as info:
        await fetch(file_host, tmp_path, "/e2.bin", retry=RetryPolicy(attempts=2))
    assert info.value.status == 503
    assert nothing_final_except(tmp_path / "out")


async def test_429_retry_after_seconds_is_honoured(file_host: RunningHost, tmp_path: Path) -> None:
    content = add(file_host, "/r.bin", 10_000, error_statuses=[429], retry_after="7")
    result, clock = await fetch(file_host, tmp_path, "/r.bin")
    assert result.sha256 == content.hexdigest()
    assert clock.sleeps == [7.0]


async def test_a_retry_after_is_waited_no_longer_than_the_retry_max_delay(
    file_host: RunningHost, tmp_path: Path
) -> None:
    content = add(file_host, "/rc.bin", 10_000, error_statuses=[503], retry_after="86400")
    result, clock = await fetch(
        file_host, tmp_path, "/rc.bin", retry=RetryPolicy(retry_after_cap=90)
    )
    assert result.sha256 == content.hexdigest()
    assert clock.sleeps == [90.0]


async def test_429_retry_after_http_date_is_honoured(
    file_host: RunningHost, tmp_path: Path
) -> None:
    # the fake clock starts at 2026-01-01T00:00:00Z
    when = email.utils.format_datetime(
        email.utils.parsedate_to_datetime("Thu, 01 Jan 2026 00:00:30 GMT"), usegmt=True
    )
    content = add(file_host, "/rd.bin", 10_000, error_statuses=[429], retry_after=when)
    result, clock = await fetch(file_host, tmp_path, "/rd.bin")
    assert result.sha256 == content.hexdigest()
    assert clock.sleeps == [30.0]


@pytest.mark.parametrize("status", [400, 401, 404])
async def test_client_errors_fail_at_once(
    file_host: RunningHost, tmp_path: Path, status: int
) -> None:
    add(file_host, "/c.bin", 1000, error_statuses=[status])
    with pytest.raises(HTTPStatusError) as info:
        await fetch(file_host, tmp_path, "/c.bin")
    assert info.value.status == status
    assert not info.value.retryable
    assert len(file_host.host.log) == 1
    assert nothing_final_except(tmp_path / "out")


async def test_server_ignoring_range_gives_one_full_stream(
    file_host: RunningHost, tmp_path: Path
) -> None:
    content = add(file_host, "/ir.bin", 3 * MiB, ignore_range=True)
    result, _ = await fetch(file_host, tmp_path, "/ir.bin")
    assert result.sha256 == content.hexdigest()
    assert len(file_host.host.log) == 1
    assert sent(file_host) == content.size


async def test_server_ignoring_range_on_resume_restarts_from_zero(
    file_host: RunningHost, tmp_path: Path
) -> None:
    content = add(file_host, "/ir2.bin", 3 * MiB, drop_after_bytes=200_000)
    with pytest.raises(NetworkError):
        await fetch(file_host, tmp_path, "/ir2.bin", retry=RetryPolicy(attempts=0))
    file_host.host.faults("/ir2.bin").ignore_range = True
    file_host.host.faults("/ir2.bin").drop_after_bytes = None
    result, _ = await fetch(file_host, tmp_path, "/ir2.bin")
    assert result.sha256 == content.hexdigest()
    assert nothing_final_except(tmp_path / "out", "ir2.bin")


async def test_resume_with_unchanged_etag_asks_only_for_missing_bytes(
    file_host: RunningHost, tmp_path: Path
) -> None:
    content = add(file_host, "/u.bin", 4 * MiB, drop_after_bytes=300_000, drop_times=4)
    with pytest.raises(NetworkError):
        await fetch(
            file_host, tmp_path, "/u.bin", retry=RetryPolicy(attempts=0), limits=Limits(segments=1)
        )
    first_sent = sent(file_host)
    file_host.host.log.clear()
    file_host.host.faults("/u.bin").drop_after_bytes = None
    result, _ = await fetch(file_host, tmp_path, "/u.bin", limits=Limits(segments=1))
    assert result.sha256 == content.hexdigest()
    (resumed,) = file_host.host.log
    assert resumed.status == 206
    assert resumed.range == f"bytes={first_sent}-{content.size - 1}"
    assert resumed.headers["If-Range"].startswith('"')
    assert first_sent + resumed.bytes_sent == content.size


async def test_resume_with_changed_etag_restarts_from_zero(
    file_host: RunningHost, tmp_path: Path
) -> None:
    add(file_host, "/x.bin", 4 * MiB, drop_after_bytes=300_000, drop_times=4)
    with pytest.raises(NetworkError):
        await fetch(
            file_host, tmp_path, "/x.bin", retry=RetryPolicy(attempts=0), limits=Limits(segments=1)
        )
    file_host.host.faults("/x.bin").drop_after_bytes = None
    file_host.host.replace("/x.bin")
    file_host.host.log.clear()
    result, _ = await fetch(file_host, tmp_path, "/x.bin", limits=Limits(segments=1))
    new = file_host.host.content_of("/x.bin")
    assert result.sha256 == new.hexdigest()
    statuses = [(r.status, r.range) for r in file_host.host.log]
    # the If-Range resume gets a 200 (object changed), then the transfer starts over at zero
    assert statuses[0][0] == 200
    assert statuses[-1][1] == "bytes=0-"


async def test_etag_changing_on_every_request_fails_as_object_changed(
    file_host: RunningHost, tmp_path: Path
) -> None:
    add(file_host, "/ce.bin", 3 * MiB, change_etag_every_request=True)
    with pytest.raises(ObjectChanged):
        await fetch(file_host, tmp_path, "/ce.bin", retry=RetryPolicy(restarts=2))
    assert nothing_final_except(tmp_path / "out")


async def test_content_length_shorter_than_body_is_caught_by_expected_size(
    file_host: RunningHost, tmp_path: Path
) -> None:
    add(file_host, "/cl.bin", 50_000, content_length_delta=-100, ignore_range=True)
    with pytest.raises(SizeMismatch) as info:
        await fetch(file_host, tmp_path, "/cl.bin", expected_size=50_000)
    assert (info.value.expected, info.value.actual) == (50_000, 49_900)
    assert nothing_final_except(tmp_path / "out")


async def test_content_length_disagreeing_with_content_range_is_refused(
    file_host: RunningHost, tmp_path: Path
) -> None:
    add(file_host, "/cl2.bin", 50_000, content_length_delta=+100)
    with pytest.raises(ProtocolViolation, match="Content-Length"):
        await fetch(file_host, tmp_path, "/cl2.bin", retry=RetryPolicy(attempts=2))
    assert nothing_final_except(tmp_path / "out")


async def test_flipped_byte_is_caught_by_the_offered_digest_and_refetched(
    file_host: RunningHost, tmp_path: Path
) -> None:
    content = SeededContent(9, 200_000)
    file_host.host.add(
        FileSpec("/fl.bin", content, digests=digest_headers_for(content, ["content-md5"])),
        Faults(flip_byte_at=1234, flip_times=1, ignore_range=True),
    )
    result, _ = await fetch(file_host, tmp_path, "/fl.bin")
    assert result.sha256 == content.hexdigest()
    assert "Content-MD5" in result.verified_by
    assert len(file_host.host.log) == 2


async def test_always_flipped_byte_fails_with_expected_and_actual(
    file_host: RunningHost, tmp_path: Path
) -> None:
    content = SeededContent(9, 200_000)
    file_host.host.add(
        FileSpec("/fl2.bin", content, digests=digest_headers_for(content, ["repr-digest-sha256"])),
        Faults(flip_byte_at=99, flip_times=-1, digest_on_206=True),
    )
    with pytest.raises(DigestMismatch) as info:
        await fetch(file_host, tmp_path, "/fl2.bin")
    assert info.value.expected == content.hexdigest()
    assert info.value.actual != content.hexdigest()
    assert info.value.source == "Repr-Digest"
    assert nothing_final_except(tmp_path / "out")


async def test_wrong_content_range_is_never_written(file_host: RunningHost, tmp_path: Path) -> None:
    add(file_host, "/wr.bin", 100_000, wrong_content_range=True)
    with pytest.raises(ProtocolViolation, match="Content-Range"):
        await fetch(file_host, tmp_path, "/wr.bin", retry=RetryPolicy(attempts=2))
    assert nothing_final_except(tmp_path / "out")


async def test_expired_signed_url_is_refreshed_and_the_transfer_continues(tmp_path: Path) -> None:
    content = SeededContent(4, 6 * MiB)
    # each segment's first response breaks off; by then the URL has expired
    host = expiring_after_four_requests(content)
    refreshed: list[str] = []
    async with await start_file_host(host) as running:

        async def refresh() -> str:
            refreshed.append("fresh")
            return running.signed_url("/sig.bin", 60)

        async with make_engine(tmp_path, limits=Limits(segment_min_size=MiB, segments=4)) as (
            engine,
            _,
        ):
            request = AssetRequest(
                "sig", url=running.signed_url("/sig.bin", 60), refresh_url=refresh
            )
            result = await engine.fetch(request, tmp_path / "out")
    assert result.sha256 == content.hexdigest()
    assert refreshed == ["fresh"]
    assert 403 in [r.status for r in host.log]
    assert sum(r.bytes_sent for r in host.log) <= content.size + 4 * CHUNK


async def test_redirect_to_http_is_followed(file_host: RunningHost, tmp_path: Path) -> None:
    content = add(file_host, "/target.bin", 5000)
    add(file_host, "/moved.bin", 10, redirect_to=file_host.url("/target.bin"))
    result, _ = await fetch(file_host, tmp_path, "/moved.bin")
    assert result.sha256 == content.hexdigest()
    assert result.name == "target.bin"


@pytest.mark.parametrize("target", ["file:///etc/passwd", "ftp://127.0.0.1/x.bin"])
async def test_redirect_to_other_schemes_is_refused(
    file_host: RunningHost, tmp_path: Path, target: str
) -> None:
    add(file_host, "/evil.bin", 10, redirect_to=target)
    with pytest.raises(UnsafeRedirect):
        await fetch(file_host, tmp_path, "/evil.bin")
    assert nothing_final_except(tmp_path / "out")


KINDS = [
    ("content-md5", "Content-MD5", False),
    ("digest-sha256", "Digest", True),
    ("digest-sha512", "Digest", True),
    ("digest-md5", "Digest", True),
    ("repr-digest-sha256", "Repr-Digest", True),
    ("repr-digest-sha512", "Repr-Digest", True),
    ("x-goog-hash", "x-goog-hash", True),
    ("x-amz-checksum-sha256", "x-amz-checksum-sha256", True),
    ("x-amz-checksum-sha1", "x-amz-checksum-sha1", True),
    ("x-amz-checksum-crc32", "x-amz-checksum-crc32", True),
    ("x-amz-checksum-crc32c", "x-amz-checksum-crc32c", True),
]


@pytest.mark.parametrize(("kind", "source", "on_206"), KINDS)
async def test_each_digest_header_kind_is_verified(
    file_host: RunningHost, tmp_path: Path, kind: str, source: str, on_206: bool
) -> None:
    content = SeededContent(21, 150_000)
    file_host.host.add(
        FileSpec("/dg.bin", content, digests=digest_headers_for(content, [kind])),
        Faults(digest_on_206=on_206, ignore_range=not on_206),
    )
    result, _ = await fetch(file_host, tmp_path, "/dg.bin")
    assert source in result.verified_by


@pytest.mark.parametrize(("kind", "source", "on_206"), KINDS)
async def test_each_wrong_digest_header_kind_fails_the_asset(
    file_host: RunningHost, tmp_path: Path, kind: str, source: str, on_206: bool
) -> None:
    content = SeededContent(21, 150_000)
    other = SeededContent(22, 150_000)
    file_host.host.add(
        FileSpec("/bad.bin", content, digests=digest_headers_for(other, [kind])),
        Faults(digest_on_206=on_206, ignore_range=not on_206),
    )
    with pytest.raises(DigestMismatch) as info:
        await fetch(file_host, tmp_path, "/bad.bin", retry=RetryPolicy(verify_attempts=0))
    assert info.value.source == source
    assert info.value.expected != info.value.actual
    assert nothing_final_except(tmp_path / "out")
