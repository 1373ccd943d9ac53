"""Expiring signed URLs under parallel segments: one fresh URL counts once."""

from __future__ import annotations

from pathlib import Path

import anyio

from downloader.emulator._content import SeededContent
from downloader.emulator._files import start_file_host
from downloader.transfer import AssetRequest, Limits, RetryPolicy
from tests.support.engine import expiring_after_four_requests, make_engine

MiB = 1 << 20


async def test_segments_refused_together_count_as_one_refresh_against_the_budget(
    tmp_path: Path,
) -> None:
    # four segments each lose their first response; by then the URL has expired, so
    # all four are refused with 403 at once: one fresh URL serves them all, and a
    # budget of one refresh must not run out because four segments saw the refusal
    content = SeededContent(6, 6 * MiB)
    host = expiring_after_four_requests(content)
    refreshed: list[str] = []
    async with await start_file_host(host) as running:

        async def refresh() -> str:
            refreshed.append("fresh")
            await anyio.sleep(0.5)  # a platform takes a moment: the siblings are refused too
            return running.signed_url("/sig.bin", 60)

        limits = Limits(segment_min_size=MiB, segments=4)
        async with make_engine(tmp_path, limits=limits, retry=RetryPolicy(url_refreshes=1)) as (
            engine,
            _,
        ):
            request = AssetRequest(
                "sig", url=running.signed_url("/sig.bin", 60), refresh_url=refresh
            )
            result = await engine.fetch(request, tmp_path / "out")
    assert result.sha256 == content.hexdigest()
    assert refreshed == ["fresh"]
    assert [r.status for r in host.log].count(403) >= 2
