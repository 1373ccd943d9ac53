"""A split file starts on one lane and opens all of them only when its stream is slow."""

from __future__ import annotations

from pathlib import Path

from downloader.emulator._content import SeededContent
from downloader.emulator._files import Faults, FileSpec, RunningHost
from downloader.transfer import AssetRequest, Limits
from downloader.transfer._split import SPLIT_BELOW, WINDOW, first_lanes, lanes_wanted
from tests.support.engine import make_engine

MiB = 1 << 20
LIMITS = Limits(segment_min_size=MiB, segments=4)


def test_a_file_starts_on_one_lane() -> None:
    assert first_lanes(4) == 1
    assert first_lanes(1) == 1


def test_a_slow_window_opens_every_lane() -> None:
    assert lanes_wanted(1, 8, int(25e6 * WINDOW), WINDOW) == 8


def test_a_fast_window_keeps_one_lane() -> None:
    assert lanes_wanted(1, 4, 2 * SPLIT_BELOW, 1.0) == 1


def test_a_window_too_short_to_judge_changes_nothing() -> None:
    assert lanes_wanted(1, 4, 0, WINDOW / 4) == 1


def test_open_lanes_stay_open_and_never_pass_the_most() -> None:
    assert lanes_wanted(4, 4, 0, 1.0) == 4
    assert lanes_wanted(4, 4, 10 * SPLIT_BELOW, 1.0) == 4


async def test_a_fast_stream_fetches_its_pieces_one_at_a_time(
    file_host: RunningHost, tmp_path: Path
) -> None:
    # loopback without a throttle: one stream is far above SPLIT_BELOW
    content = SeededContent(7, 64 * MiB)
    file_host.host.add(FileSpec("/f.bin", content), Faults())
    async with make_engine(tmp_path, limits=LIMITS) as (engine, _):
        result = await engine.fetch(AssetRequest("f", url=file_host.url("/f.bin")), tmp_path / "o")
    assert result.sha256 == content.hexdigest()
    assert len(file_host.host.log) == 4  # still fetched as four pieces in file order
    assert file_host.host.gathering.most == 1


async def test_a_throttled_stream_opens_every_lane(file_host: RunningHost, tmp_path: Path) -> None:
    content = SeededContent(8, 8 * MiB)
    file_host.host.add(FileSpec("/s.bin", content), Faults(rate_bytes_per_s=4 * MiB))
    async with make_engine(tmp_path, limits=LIMITS) as (engine, _):
        result = await engine.fetch(AssetRequest("s", url=file_host.url("/s.bin")), tmp_path / "o")
    assert result.sha256 == content.hexdigest()
    assert file_host.host.gathering.most == 4


def test_a_window_held_by_the_writer_or_hasher_opens_nothing() -> None:
    # slow, but the stream waited for a free buffer: the disk or the CPU set the pace
    assert lanes_wanted(1, 4, 0, 1.0, held=True) == 1
