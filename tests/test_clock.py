from __future__ import annotations

from downloader.clock import FakeClock


async def test_fake_clock_records_sleeps_and_moves_virtual_time() -> None:
    clock = FakeClock()
    start_wall = clock.utcnow()
    await clock.sleep(1.5)
    await clock.sleep(0)
    assert clock.sleeps == [1.5, 0]
    assert clock.monotonic() == 1.5
    assert (clock.utcnow() - start_wall).total_seconds() == 1.5
