"""The file host's `close_reused_times` fault: a request that comes on a kept-alive
connection that served one before is taken, and the connection closed unanswered.

That is what a server does with a connection it found idle too long just as the
client wrote its next request on it: the client sees the connection end before any
answer, and may send the request again on a new one.
"""

from __future__ import annotations

import asyncio
import weakref

from aiohttp import web

from downloader.emulator._body import Budget
from downloader.emulator._filespec import Faults


class ReuseWatch:
    """Which connections served a request already; closes one as the fault says."""

    def __init__(self) -> None:
        self._served: weakref.WeakSet[asyncio.BaseTransport] = weakref.WeakSet()

    def closes(self, request: web.Request, faults: Faults, budget: Budget) -> bool:
        """Whether `request` is left unanswered, its connection closed (then charged)."""
        transport = request.transport
        if transport is None:
            return False
        reused = transport in self._served
        self._served.add(transport)
        times = faults.close_reused_times
        if not (reused and times and budget.allows((times,), times)):
            return False
        budget.charge()
        transport.close()
        return True
