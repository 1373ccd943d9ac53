"""A 2xx answer that is no file: error pages, a promised ZIP that is none, absurd sizes,
malformed heads and a gzip-coded body, each against a loopback server."""

from __future__ import annotations

from pathlib import Path

import pytest
from structlog.testing import capture_logs

from downloader.emulator._content import SeededContent
from downloader.emulator._files import Faults, FileSpec, RunningHost
from downloader.emulator._refusals import gzip_body
from downloader.errors import EncodedBody, ErrorBody
from downloader.transfer import AssetRequest, RetryPolicy
from downloader.transfer._digests import parse_caller_digest
from tests.support.engine import make_engine, nothing_final_except

ZIP = "application/zip"


def add(host: RunningHost, path: str, size: int, content_type: str, **faults: object) -> None:
    spec = FileSpec(path, SeededContent(9, size), content_type=content_type)
    host.host.add(spec, Faults(**faults))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kind", "said"),
    [("html", "Access Denied"), ("xml", "AccessDenied"), ("json", "403: Access denied")],
)
async def test_an_error_page_served_with_200_is_retried_then_fails_with_an_excerpt(
    file_host: RunningHost, tmp_path: Path, kind: str, said: str
) -> None:
    add(file_host, "/pkg.zip", 5000, ZIP, error_body=kind, error_body_times=-1)
    async with make_engine(tmp_path, retry=RetryPolicy(attempts=2)) as (engine, clock):
        request = AssetRequest("pkg", url=file_host.url("/pkg.zip"), media_type=ZIP)
        with pytest.raises(ErrorBody) as caught:
            await engine.fetch(request, tmp_path / "out")
    assert caught.value.retryable
    assert caught.value.status == 200
    assert said in caught.value.excerpt
    assert said in str(caught.value)
    assert len(file_host.host.log) == 3  # tried, and tried again twice
    assert len(clock.sleeps) == 2
    assert nothing_final_except(tmp_path / "out")


async def test_a_passing_error_page_is_retried_and_the_file_fetched(
    file_host: RunningHost, tmp_path: Path
) -> None:
    add(file_host, "/pkg.zip", 5000, ZIP, error_body="html", error_body_times=1)
    async with make_engine(tmp_path) as (engine, _):
        # generated content is no ZIP: only the page is looked at here, so promise TIFF
        request = AssetRequest("pkg", url=file_host.url("/pkg.zip"), media_type="image/tiff")
        result = await engine.fetch(request, tmp_path / "out")
    assert result.size == 5000
    assert [r.status for r in file_host.host.log] == [200, 206]


async def test_a_promised_zip_that_is_none_is_never_kept(
    file_host: RunningHost, tmp_path: Path
) -> None:
    # declared as bytes, so only its first bytes can tell: they are no ZIP's
    add(file_host, "/pkg.bin", 5000, "application/octet-stream")
    async with make_engine(tmp_path) as (engine, _):
        request = AssetRequest("pkg", url=file_host.url("/pkg.bin"), media_type=ZIP)
        with pytest.raises(ErrorBody, match="not a ZIP"):
            await engine.fetch(request, tmp_path / "out")
        assert nothing_final_except(tmp_path / "out")
        # nothing of it is kept for a later turn to build on
        assert list((tmp_path / ".partial").rglob("*.part")) == []


async def test_a_page_is_what_a_page_was_promised_as(
    file_host: RunningHost, tmp_path: Path
) -> None:
    add(file_host, "/a.kml", 3000, "text/xml")
    async with make_engine(tmp_path) as (engine, _):
        request = AssetRequest("kml", url=file_host.url("/a.kml"), media_type="text/xml")
        result = await engine.fetch(request, tmp_path / "out")
    assert result.size == 3000


async def test_a_body_coded_with_gzip_unasked_is_kept_as_sent_and_said(
    file_host: RunningHost, tmp_path: Path
) -> None:
    add(file_host, "/table.csv", 40_000, "text/csv", gzip=True)
    coded = gzip_body(file_host.host.content_of("/table.csv"))
    with capture_logs() as logs:
        async with make_engine(tmp_path) as (engine, _):
            request = AssetRequest("csv", url=file_host.url("/table.csv"))
            result = await engine.fetch(request, tmp_path / "out")
    assert result.content_encoding == "gzip"
    assert result.size == len(coded)
    assert (tmp_path / "out" / "table.csv").read_bytes() == coded
    said = [e for e in logs if e["event"] == "transfer.encoded_body"]
    assert [(e["encoding"], e["key"]) for e in said] == [("gzip", "csv")]


@pytest.mark.parametrize("expected", ["size", "sha256"])
async def test_a_gzip_coded_body_that_is_not_the_file_expected_fails_at_once(
    file_host: RunningHost, tmp_path: Path, expected: str
) -> None:
    add(file_host, "/table.csv", 40_000, "text/csv", gzip=True)
    content = file_host.host.content_of("/table.csv")
    promise: dict[str, object] = (
        {"expected_size": content.size}
        if expected == "size"
        else {"expected_digests": (parse_caller_digest("sha256", content.hexdigest()),)}
    )
    async with make_engine(tmp_path) as (engine, _):
        request = AssetRequest("csv", url=file_host.url("/table.csv"), **promise)  # type: ignore[arg-type]
        with pytest.raises(EncodedBody) as caught:
            await engine.fetch(request, tmp_path / "out")
    assert caught.value.encoding == "gzip"
    assert "Content-Encoding: gzip" in str(caught.value)
    assert len(file_host.host.log) == 1  # coded every time: fetching it again is no use
    assert nothing_final_except(tmp_path / "out")
