"""How many requests a file host is answering at once, and the `gather` fault's latch.

`gather = N` holds each response of a file that has the fault until N requests are
open on the host at once, or `gather_seconds` passed since the first was held; from
then on none is held.  A client that fetches files one after another never gets
there: its first response waits the time out, counted as `missed` (concurrency seen
from the server, not timed); every response held meanwhile goes on with it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator


class Gathering:
    """Requests open on the host now, the most ever open at once, and the latch."""

    def __init__(self) -> None:
        self.open = 0
        self.most = 0
        self.missed = 0
        """Held responses that waited out `gather_seconds` (the gathering never came)."""
        self._met = asyncio.Event()

    @contextlib.contextmanager
    def opened(self) -> Iterator[None]:
        """One request being answered, its body included."""
        self.open += 1
        self.most = max(self.most, self.open)
        try:
            yield
        finally:
            self.open -= 1

    async def held(self, count: int, seconds: float) -> None:
        """Back once `count` requests are open at once (or were), or `seconds` passed."""
        if count <= 0 or self._met.is_set():
            return
        if self.open >= count:
            self._met.set()
            return
        try:
            await asyncio.wait_for(self._met.wait(), seconds)
        except TimeoutError:
            self.missed += 1
            self._met.set()
