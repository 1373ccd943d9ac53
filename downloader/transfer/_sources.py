"""What a transfer's requests share: a host's connection slots and the asset's URL."""

from __future__ import annotations

from collections.abc import Callable

import anyio

from downloader.errors import URLExpired
from downloader.transfer._reply import Reply
from downloader.transfer._request import AssetRequest
from downloader.transfer._urls import redact_url


class Slot:
    """One connection slot of a host, held from the request to the end of its body.

    The probe's slot passes to segment 0 together with its response, so the
    per-host limit counts every connection, the first one included.
    """

    def __init__(self, limiter: anyio.CapacityLimiter) -> None:
        self._limiter = limiter
        self._held = False
        self.resp: Reply | None = None

    async def acquire(self) -> None:
        await self._limiter.acquire_on_behalf_of(self)
        self._held = True

    def release(self) -> None:
        if self.resp is not None:
            self.resp.close()
        if self._held:
            self._held = False
            self._limiter.release_on_behalf_of(self)


class UrlSource:
    """The current URL of an asset, refreshed once for all segments when it expires."""

    def __init__(self, request: AssetRequest) -> None:
        self._request = request
        self._url = request.url
        self.generation = 0
        self._lock = anyio.Lock()

    async def get(self) -> tuple[str, int]:
        if self._url is None:
            await self.refresh(self.generation)
        assert self._url is not None
        return self._url, self.generation

    async def refresh(
        self,
        seen_generation: int,
        *,
        may_renew: Callable[[], bool] = lambda: True,
        status: int = 403,
        detail: str = "",
    ) -> bool:
        """Renew the URL seen at `seen_generation`; False when `may_renew` says no.

        Segments refused together renew it once: the others find it renewed already
        (also while the renewal is under way) and are not counted again.
        """
        async with self._lock:
            if seen_generation != self.generation and self._url is not None:
                return True  # another segment already refreshed it
            if self._request.refresh_url is None:
                raise URLExpired(status, url=redact_url(self._url or ""), detail=detail)
            if not may_renew():
                return False
            self._url = await self._request.refresh_url()
            self.generation += 1
            return True
