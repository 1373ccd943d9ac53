"""A sleep on the injected clock that something may cut short."""

from __future__ import annotations

import anyio

from downloader.clock import Clock


async def nap(clock: Clock, seconds: float, event: anyio.Event) -> None:
    """Sleep `seconds` on `clock`, or less if `event` is set."""
    if event.is_set() or seconds <= 0:
        await anyio.lowlevel.checkpoint()
        return
    async with anyio.create_task_group() as tg:

        async def timer() -> None:
            await clock.sleep(seconds)
            tg.cancel_scope.cancel()

        tg.start_soon(timer)
        await event.wait()
        tg.cancel_scope.cancel()
