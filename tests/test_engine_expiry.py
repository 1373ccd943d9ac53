"""Expired signed URLs as storage hosts really refuse them: S3, GCS and Azure."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from downloader.emulator._content import SeededContent
from downloader.emulator._files import Faults, FileHost, FileSpec, start_file_host
from downloader.errors import URLExpired
from downloader.transfer import AssetRequest, Limits, RetryPolicy
from tests.support.engine import make_engine, nothing_final_except

MiB = 1 << 20
CHUNK = 1 << 20

# (how the host refuses, its status, what its body says)
STYLES = [
    ("s3", 403, "Request has expired"),
    ("gcs", 400, "ExpiredToken"),
    ("azure", 403, "AuthenticationFailed"),
]
ONE_STREAM = Limits(segment_min_size=64 * MiB, segments=4)


def expiring_host(content: SeededContent, style: str) -> FileHost:
    """A host whose clock passes every URL's expiry after the first request, which
    breaks off after 1 MiB."""
    base = time.time()
    host = FileHost(clock=lambda: base + (3600 if len(host.log) >= 2 else 0))
    host.add(
        FileSpec("/scene.tif", content),
        Faults(url_lifetime=60, drop_after_bytes=MiB, expiry_answer=style),
    )
    return host


@pytest.mark.parametrize(("style", "status", "said"), STYLES)
async def test_an_expiry_refused_in_any_hosts_way_gets_a_fresh_url_and_goes_on_from_its_bytes(
    tmp_path: Path, style: str, status: int, said: str
) -> None:
    content = SeededContent(21, 3 * MiB)
    host = expiring_host(content, style)
    refreshed: list[str] = []
    async with await start_file_host(host) as running:

        async def refresh() -> str:
            refreshed.append("fresh")
            return running.signed_url("/scene.tif", 60)

        async with make_engine(tmp_path, limits=ONE_STREAM) as (engine, _):
            request = AssetRequest(
                "scene", url=running.signed_url("/scene.tif", 60), refresh_url=refresh
            )
            result = await engine.fetch(request, tmp_path / "out")
    assert result.sha256 == content.hexdigest()
    assert refreshed == ["fresh"]
    assert [r.status for r in host.log] == [206, status, 206]
    assert host.log[-1].range == f"bytes={MiB}-{content.size - 1}"  # went on from its bytes


@pytest.mark.parametrize(("style", "status", "said"), STYLES)
async def test_an_expiry_no_fresh_url_cures_fails_with_what_the_host_said_and_keeps_the_bytes(
    tmp_path: Path, style: str, status: int, said: str
) -> None:
    content = SeededContent(22, 3 * MiB)
    host = expiring_host(content, style)
    async with await start_file_host(host) as running:

        async def stale() -> str:  # the platform hands out a URL that has expired too
            return running.signed_url("/scene.tif", -60)

        key, url = "scene", running.signed_url("/scene.tif", 60)
        retry = RetryPolicy(url_refreshes=1)
        async with make_engine(tmp_path, limits=ONE_STREAM, retry=retry) as (engine, _):
            with pytest.raises(URLExpired) as caught:
                await engine.fetch(AssetRequest(key, url=url, refresh_url=stale), tmp_path / "out")
            assert caught.value.status == status
            assert said in str(caught.value)
            assert "sig=" not in str(caught.value)
            assert nothing_final_except(tmp_path / "out")
            served = len(host.log)

            # a later turn, with a URL that works, fetches only what is missing
            async def fresh() -> str:
                return running.signed_url("/scene.tif", 60)

            request = AssetRequest(key, url=await fresh(), refresh_url=fresh)
            result = await engine.fetch(request, tmp_path / "out")
    assert result.sha256 == content.hexdigest()
    again = host.log[served:]
    assert [r.range for r in again] == [f"bytes={MiB}-{content.size - 1}"]
    assert sum(r.bytes_sent for r in again) == content.size - MiB
