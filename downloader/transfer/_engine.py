"""The transfer engine: fetches assets, one `Transfer` each, within shared limits.

One `TransferEngine.fetch()` call moves one asset from a URL into a final path:
it streams into `<partial>/transfers/<key hash>.part`, checkpoints segment
cursors (`<key hash>.json`), hashes the contiguous prefix as it grows (bytes written
where the prefix ends as they are written, the rest read back, so the digest is ready
when the last byte lands and a resumed file is hashed from what is on disk), checks
size and every digest on offer, and only then fsyncs and renames the file into
place.  A file too small to keep a checkpoint is held in memory instead, and made,
written, fsynced and renamed in one worker-thread call once verified.  What to do at
each step is decided by the sans-IO core (`_life`, `_course`, `_plan`, `_backoff`);
every sleep goes through the injected clock.

The engine holds what its transfers share: the HTTP session (API-style requests, and
bodies behind a proxy), the receiver's kept-alive connections and their TLS context,
the limits (files in flight, connections per host, bandwidth), the room on disk, the
stall watchdog.  An engine whose owner closes it (`keep_connections`, then `close`)
keeps its idle connections from one transfer to the next, however long nothing is in
flight between them: a run of small items would otherwise open a connection for
about every second file.  Without, they are closed whenever no transfer is in flight.
"""

from __future__ import annotations

import random
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import anyio

from downloader.clock import Clock
from downloader.jail import Jail
from downloader.transfer._checkpoint import work_files_for
from downloader.transfer._course import CHECKPOINT_EVERY
from downloader.transfer._policy import Limits, RetryPolicy, Timeouts
from downloader.transfer._pool import ConnectionPool
from downloader.transfer._ratelimit import Throttle
from downloader.transfer._request import AssetRequest, FetchResult
from downloader.transfer._space import SpaceGuard
from downloader.transfer._transfer import Transfer
from downloader.transfer._urls import host_key
from downloader.transfer._watch import StallWatch

if TYPE_CHECKING:  # the session is opened on first use: bodies seldom need it
    import aiohttp


class TransferEngine:
    """Fetches assets; one instance is shared by every transfer of a process."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        partial_root: Path,
        limits: Limits | None = None,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        clock: Clock,
        rand: Callable[[], float] = random.random,
        checkpoint_every: int = CHECKPOINT_EVERY,
        checkpoint_interval: float = 0.5,
        space: SpaceGuard | None = None,
        jail: Jail | None = None,
        ssl_context: ssl.SSLContext | None = None,
        keep_connections: bool = False,
    ) -> None:
        self.session = session
        self.partial_root = partial_root
        # every file the engine makes lies below the archive root: walked from there,
        # a link planted on the way is refused, never followed
        self.jail = jail or Jail(partial_root.parent)
        self.limits = limits or Limits()
        self.timeouts = timeouts or Timeouts()
        self.retry = retry or RetryPolicy()
        self.clock = clock
        self.rand = rand
        self.checkpoint_every = checkpoint_every
        self.checkpoint_interval = checkpoint_interval
        self._files = anyio.CapacityLimiter(self.limits.max_concurrent)
        self._hosts: dict[str, anyio.CapacityLimiter] = {}
        self.throttle = Throttle(self.limits.bandwidth_limit, clock)
        self.space = space or SpaceGuard(partial_root, self.limits.min_free_space, clock)
        # a silent body is caught by the engine's `StallWatch`, and a server that
        # never sends its headers by the deadline around the request in `_http`
        self.stalls = StallWatch(self.timeouts.stall)
        # bodies not behind a proxy come through the engine's receiver, trusting what
        # the session trusts (`_compose` hands both the same context)
        self.pool = ConnectionPool(ssl_context, self.timeouts.connect)
        self._in_flight = 0
        # kept only by an owner that closes the engine: an idle socket left to the
        # garbage collector is a leak (and a ResourceWarning)
        self.keep_connections = keep_connections

    def host_limiter(self, url: str) -> anyio.CapacityLimiter:
        key = host_key(url)
        limiter = self._hosts.get(key)
        if limiter is None:
            limiter = self._hosts[key] = anyio.CapacityLimiter(self.limits.max_per_host)
        return limiter

    async def fetch(
        self,
        request: AssetRequest,
        dest_dir: Path,
        *,
        rename: Callable[[str], str] | None = None,
    ) -> FetchResult:
        """Fetch `request` into `dest_dir/<name>`; the final name holds only verified bytes.

        `<name>` is the one the request or the server gives, or what `rename` makes of
        it when given (called once, just before the verified file is moved there).
        """
        async with self._files:
            files = work_files_for(self.partial_root, request.key, self.jail)
            transfer = Transfer(self, request, files)
            self._in_flight += 1
            try:
                return await transfer.run(dest_dir, rename)
            finally:
                self._in_flight -= 1
                if not self._in_flight and not self.keep_connections:
                    self.pool.close_idle()

    def close(self) -> None:
        """Close the connections kept for the next transfer."""
        self.pool.close_idle()


__all__ = ["AssetRequest", "FetchResult", "TransferEngine"]
