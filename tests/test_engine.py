from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from downloader.emulator._content import SeededContent
from downloader.emulator._files import FileSpec, RunningHost
from downloader.transfer import AssetRequest, Limits
from tests.support.engine import make_engine, nothing_final_except

MiB = 1 << 20


async def test_small_file_is_fetched_in_one_stream_and_promoted(
    file_host: RunningHost, tmp_path: Path
) -> None:
    content = SeededContent(1, 300_000)
    file_host.host.add(FileSpec("/f/small.bin", content))
    dest = tmp_path / "out"
    async with make_engine(tmp_path) as (engine, _):
        result = await engine.fetch(AssetRequest("k1", url=file_host.url("/f/small.bin")), dest)
    assert result.name == "small.bin"
    assert result.sha256 == content.hexdigest()
    assert hashlib.sha256(result.path.read_bytes()).hexdigest() == content.hexdigest()
    assert nothing_final_except(dest, "small.bin")
    assert len(file_host.host.log) == 1
    assert not (tmp_path / ".partial" / "transfers").exists() or not any(
        (tmp_path / ".partial" / "transfers").iterdir()
    )


async def test_large_file_is_fetched_as_parallel_ranges(
    file_host: RunningHost, tmp_path: Path
) -> None:
    content = SeededContent(2, 5 * MiB + 123)
    file_host.host.add(FileSpec("/f/big.bin", content))
    dest = tmp_path / "out"
    async with make_engine(tmp_path, limits=Limits(segment_min_size=MiB, segments=4)) as (
        engine,
        _,
    ):
        result = await engine.fetch(AssetRequest("k2", url=file_host.url("/f/big.bin")), dest)
    assert result.sha256 == content.hexdigest()
    assert result.size == content.size
    ranges = sorted(r.range or "" for r in file_host.host.log)
    assert len(file_host.host.log) == 4
    assert "bytes=0-" in ranges
    sent = sum(r.bytes_sent for r in file_host.host.log)
    assert sent <= content.size + 4 * MiB


async def test_empty_file_is_fetched_and_promoted(file_host: RunningHost, tmp_path: Path) -> None:
    file_host.host.add(FileSpec("/f/empty.bin", SeededContent(1, 0)))
    async with make_engine(tmp_path) as (engine, _):
        result = await engine.fetch(
            AssetRequest("empty", url=file_host.url("/f/empty.bin")), tmp_path / "out"
        )
    assert result.size == 0
    assert result.sha256 == hashlib.sha256(b"").hexdigest()
    assert result.path.read_bytes() == b""


async def test_expected_digest_from_the_caller_is_checked(
    file_host: RunningHost, tmp_path: Path
) -> None:
    from downloader.errors import DigestMismatch
    from downloader.transfer._digests import parse_caller_digest

    content = SeededContent(6, 70_000)
    file_host.host.add(FileSpec("/f/c.bin", content))
    good = parse_caller_digest("sha256", content.hexdigest())
    bad = parse_caller_digest("sha256", "00" * 32)
    async with make_engine(tmp_path) as (engine, _):
        result = await engine.fetch(
            AssetRequest("c1", url=file_host.url("/f/c.bin"), expected_digests=[good]),
            tmp_path / "ok",
        )
        assert result.verified_by == ("caller",)
        with pytest.raises(DigestMismatch) as info:
            await engine.fetch(
                AssetRequest("c2", url=file_host.url("/f/c.bin"), expected_digests=[bad]),
                tmp_path / "bad",
            )
    assert info.value.expected == "00" * 32
    assert info.value.actual == content.hexdigest()
    assert not (tmp_path / "bad").exists()


async def test_url_segment_is_skipped_when_the_caller_says_it_is_no_name(
    file_host: RunningHost, tmp_path: Path
) -> None:
    file_host.host.add(FileSpec("/api/v1/jobs/7/output/o1", SeededContent(3, 100)))
    async with make_engine(tmp_path) as (engine, _):
        named = await engine.fetch(
            AssetRequest(
                "o1",
                url=file_host.url("/api/v1/jobs/7/output/o1"),
                fallback_name="zonal_stats.csv",
                name_from_url=False,
            ),
            tmp_path / "out",
        )
    assert named.name == "zonal_stats.csv"


async def test_progress_is_reported_as_bytes_land_and_once_more_at_the_end(
    file_host: RunningHost, tmp_path: Path
) -> None:
    # progress is told at each save, some 2 MiB apart: on a loaded machine the saves of
    # a 5 MiB body ran together into two reports, so a longer body for three or more
    content = SeededContent(12, 9 * MiB + 7)
    file_host.host.add(FileSpec("/f/p.bin", content))
    seen: list[int] = []

    async def on_progress(done: int) -> None:
        seen.append(done)

    async with make_engine(tmp_path, limits=Limits(segments=1)) as (engine, _):
        await engine.fetch(
            AssetRequest("p", url=file_host.url("/f/p.bin"), on_progress=on_progress),
            tmp_path / "out",
        )
    assert seen == sorted(seen)
    assert len(seen) >= 3
    assert seen[-1] == content.size
    assert 0 < seen[0] < content.size


async def test_the_size_is_told_with_the_first_progress_so_a_total_is_shown_while_it_streams(
    file_host: RunningHost, tmp_path: Path
) -> None:
    content = SeededContent(13, 5 * MiB + 3)
    file_host.host.add(FileSpec("/f/s.bin", content))
    told: list[tuple[str, int]] = []

    async def on_progress(done: int) -> None:
        told.append(("done", done))

    async with make_engine(tmp_path, limits=Limits(segments=1)) as (engine, _):
        await engine.fetch(
            AssetRequest(
                "s",
                url=file_host.url("/f/s.bin"),
                on_progress=on_progress,
                on_size=lambda size: told.append(("size", size)),
            ),
            tmp_path / "out",
        )
    assert told[0] == ("size", content.size)
    assert {value for kind, value in told if kind == "size"} == {content.size}
    assert told[-1] == ("done", content.size)
