"""The engine tells its caller of each whole-file re-download after a failed check."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp import web

from downloader.errors import SizeMismatch
from downloader.transfer import AssetRequest, RetryPolicy
from tests.support.engine import make_engine
from tests.support.web import Handler, serve

BODY = bytes(range(256)) * 400  # 102,400 bytes


def _server(short_answers: int) -> tuple[list[int], Handler]:
    """Answers that are complete by HTTP's rules but 100 bytes short, `short_answers`
    times (-1: always), then the whole body; no ranges, as some hosts do."""
    sent: list[int] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        short = short_answers < 0 or len(sent) < short_answers
        body = BODY[:-100] if short else BODY
        sent.append(len(body))
        return web.Response(body=body, content_type="application/octet-stream")

    return sent, handler


async def test_a_file_short_of_its_expected_size_is_fetched_again_and_the_caller_told(
    tmp_path: Path,
) -> None:
    sent, handler = _server(1)
    told: list[tuple[str, int | None]] = []

    async def on_refetch(why: str, size: int | None) -> None:
        told.append((why, size))

    async with serve({"/f.bin": handler}) as base, make_engine(tmp_path) as (engine, _):
        request = AssetRequest(
            "k", url=f"{base}/f.bin", expected_size=len(BODY), on_refetch=on_refetch
        )
        result = await engine.fetch(request, tmp_path / "out")
    assert sent == [len(BODY) - 100, len(BODY)]
    assert result.size == len(BODY)
    assert (tmp_path / "out" / result.name).read_bytes() == BODY
    why = f"size mismatch: expected {len(BODY)} bytes, got {len(BODY) - 100}"
    assert result.refetches == (why,)
    assert told == [(result.refetches[0], len(BODY) - 100)]


async def test_a_file_always_short_fails_naming_both_sizes_after_the_budget(
    tmp_path: Path,
) -> None:
    sent, handler = _server(-1)
    told: list[str] = []

    async def on_refetch(why: str, size: int | None) -> None:
        told.append(why)

    retry = RetryPolicy(verify_attempts=2)
    async with (
        serve({"/f.bin": handler}) as base,
        make_engine(tmp_path, retry=retry) as (engine, _),
    ):
        request = AssetRequest(
            "k", url=f"{base}/f.bin", expected_size=len(BODY), on_refetch=on_refetch
        )
        with pytest.raises(SizeMismatch) as caught:
            await engine.fetch(request, tmp_path / "out")
    assert (caught.value.expected, caught.value.actual) == (len(BODY), len(BODY) - 100)
    assert len(sent) == 3
    assert len(told) == 2
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
