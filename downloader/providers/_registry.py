"""The registry: one adapter per configured platform, wired to one session and clock."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from typing import TYPE_CHECKING

import anyio
import structlog

from downloader.clock import Clock
from downloader.config import (
    AlteryxSettings,
    PixxelSettings,
    PollSettings,
    ProvidersSettings,
    ScaleSettings,
)
from downloader.items import ItemRef
from downloader.observe import NullObserver, Observer
from downloader.providers._http import HttpProvider
from downloader.providers._poll import Poller
from downloader.providers._steps import Drive
from downloader.providers._types import Provider

if TYPE_CHECKING:  # each platform's adapter is loaded when its table is configured,
    # with the API client and aiohttp: a run of plain URLs needs none of them
    import aiohttp

    from downloader.providers._alteryx import AlteryxProvider
    from downloader.providers._api import ApiClient, Auth
    from downloader.providers._pixxel import PixxelProvider
    from downloader.providers._scale import ScaleProvider

__all__ = ["API_CONCURRENCY", "build_providers"]

API_CONCURRENCY = 4
"""API calls in flight to one platform, all items together."""

_log = structlog.get_logger("downloader.providers")


def build_providers(
    settings: ProvidersSettings,
    session: aiohttp.ClientSession,
    clock: Clock,
    poll: PollSettings,
    rand: Callable[[], float] = random.random,
    observer: Observer | None = None,
    retry_after_cap: float = math.inf,
    *,
    drive: Drive,
) -> dict[str, Provider]:
    """An adapter for each configured platform, and `http` (always), by provider name.

    `observer` is told of every API request and every wait between polls; a platform's
    `Retry-After` is waited no longer than `retry_after_cap` seconds.  `drive` is the
    runner's shell that runs each adapter's step machine
    (`downloader.runners._drive.drive`)."""
    wiring = _Wiring(session, clock, poll, rand, observer or NullObserver(), retry_after_cap, drive)
    providers: dict[str, Provider] = {"http": HttpProvider()}
    if settings.pixxel is not None:
        providers["pixxel"] = wiring.pixxel(settings.pixxel)
    if settings.scale is not None:
        providers["scale"] = wiring.scale(settings.scale)
    if settings.alteryx is not None:
        providers["alteryx"] = wiring.alteryx(settings.alteryx)
    return providers


class _Wiring:
    """What every adapter is built from."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        clock: Clock,
        poll: PollSettings,
        rand: Callable[[], float],
        observer: Observer,
        retry_after_cap: float,
        drive: Drive,
    ) -> None:
        self.session = session
        self.drive = drive
        self.retry_after_cap = retry_after_cap
        self.clock = clock
        self.poll = poll
        self.rand = rand
        self.observer = observer

    def pollers(self, provider: str) -> Callable[[ItemRef], Poller]:
        def make(item: ItemRef) -> Poller:
            log = _log.bind(provider=provider, item=item.key)
            return Poller(
                self.clock,
                self.poll,
                rand=self.rand,
                log=log,
                on_wait=lambda seconds: self.observer.poll_waited(provider, seconds),
            )

        return make

    def client(
        self, platform: str, base_url: str, limiter: anyio.CapacityLimiter, auth: Auth
    ) -> ApiClient:
        from downloader.providers._api import ApiClient

        return ApiClient(
            self.session,
            platform=platform,
            base_url=base_url,
            clock=self.clock,
            limiter=limiter,
            auth=auth,
            observer=self.observer,
            retry_after_cap=self.retry_after_cap,
        )

    def pixxel(self, settings: PixxelSettings) -> PixxelProvider:
        from downloader.providers._api import StaticAuth
        from downloader.providers._pixxel import PixxelProvider

        key = settings.api_key.reveal() if settings.api_key is not None else None
        value = f"Bearer {key}" if key and settings.auth_scheme == "bearer" else key
        auth = StaticAuth(value, secrets=[key] if key else [])
        limiter = anyio.CapacityLimiter(API_CONCURRENCY)
        api = self.client("Pixxel", settings.base_url, limiter, auth)
        return PixxelProvider(api, self.pollers("pixxel"), self.drive)

    def scale(self, settings: ScaleSettings) -> ScaleProvider:
        from downloader.providers._api import StaticAuth
        from downloader.providers._scale import ScaleProvider

        token = settings.token.reveal() if settings.token is not None else None
        auth = StaticAuth(f"Token {token}" if token else None, secrets=[token] if token else [])
        limiter = anyio.CapacityLimiter(API_CONCURRENCY)
        api = self.client("Scale", settings.base_url, limiter, auth)
        return ScaleProvider(
            api, self.pollers("scale"), self.drive, legacy=settings.api_version == "legacy"
        )

    def alteryx(self, settings: AlteryxSettings) -> AlteryxProvider:
        from downloader.providers._alteryx import AlteryxProvider
        from downloader.providers._oauth import TokenSource, client_auth

        limiter = anyio.CapacityLimiter(API_CONCURRENCY)
        credentials = client_auth(settings.client_id, settings.client_secret)
        tokens = TokenSource(
            self.client("Alteryx", settings.base_url, limiter, credentials), clock=self.clock
        )
        api = self.client("Alteryx", settings.base_url, limiter, tokens)
        return AlteryxProvider(
            api,
            tokens,
            self.pollers("alteryx"),
            self.drive,
            output_format=settings.output_format,
            accept_dispositions=settings.accept_dispositions,
        )
