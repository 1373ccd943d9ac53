"""The emulator application: the three platform APIs, their file host and admin views.

Layout of one server::

    /pixxel/v0/...            Pixxel
    /scale/v6/..., /scale/jobs/...       Scale (v6, and legacy paths too)
    /scale-legacy/jobs/...    Scale 3.x (legacy paths only: /jobs/, /jobs/{id}/)
    /alteryx/webapi/...       Alteryx Server
    /files/...                the file host serving every package and product
    /hooks/events             a webhook receiver (POST), for the client's [[hooks]]
    /_emulator/log            API request log and file host log (JSON)
    /_emulator/expected       what a correct client ends up with, per item
    /_emulator/stats          counters per item
    /_emulator/requests       how many requests were logged: {"api": n, "files": n}
    /_emulator/bytes          body bytes the file host sent, per path: {path: n}
    /_emulator/hooks          every event the webhook receiver was sent, and its answer

Every API request is logged with its provider, the item it named, its status and
whether it carried an `Authorization` header (never the header's value).
"""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

from aiohttp import web

from downloader.emulator._alteryx import AlteryxApi
from downloader.emulator._files import FileHost
from downloader.emulator._hooks import HookReceiver
from downloader.emulator._items import Catalogue, ExpectedFile
from downloader.emulator._pixxel import PixxelApi
from downloader.emulator._respond import CURRENT_NOTE, RequestNote
from downloader.emulator._running import serve
from downloader.emulator._scale import ScaleApi
from downloader.emulator._scenario import Scenario
from downloader.emulator._scenario_checks import check_scenario
from downloader.emulator._state import ApiRecord, Context
from downloader.errors import ConfigError, ConfigProblem

_PROVIDERS = {"pixxel": "pixxel", "scale": "scale", "scale-legacy": "scale", "alteryx": "alteryx"}
_UNLOGGED = ("files", "_emulator", "hooks")


class Emulator:
    """The emulated platforms of one scenario, as an aiohttp application (`app`).

    `clock` (unix seconds) drives job durations, signed-URL and token expiry.
    """

    def __init__(
        self,
        scenario: Scenario,
        *,
        clock: Callable[[], float] = time.time,
        secret: bytes | None = None,
    ) -> None:
        problems = check_scenario(scenario)
        if problems:
            raise ConfigError([ConfigProblem("<scenario>", k, m) for k, m in problems])
        self.scenario = scenario
        self.files = FileHost(secret=secret or secrets.token_bytes(32), clock=clock)
        self.ctx = Context(scenario, Catalogue(scenario), self.files, clock)
        self.pixxel = PixxelApi(self.ctx)
        self.scale = ScaleApi(self.ctx)
        self.alteryx = AlteryxApi(self.ctx)
        self.hooks = HookReceiver(scenario.settings.hook_failures)
        self.app = self._build()

    @property
    def log(self) -> list[ApiRecord]:
        """Every API request so far."""
        return self.ctx.log

    def stats(self) -> dict[str, dict[str, Any]]:
        """Counters per item key (and per implied remote job)."""
        return self.ctx.stats_json()

    def expected(self) -> dict[str, list[ExpectedFile]]:
        """What a correct client archives, per item key (hashes every file once)."""
        return self.ctx.catalogue.expected()

    def _build(self) -> web.Application:
        app = web.Application(middlewares=[self._log_api])
        app.add_subapp("/pixxel", self.pixxel.app())
        app.add_subapp("/scale-legacy", self.scale.app(legacy_only=True))
        app.add_subapp("/scale", self.scale.app(legacy_only=False))
        app.add_subapp("/alteryx/webapi", self.alteryx.app())
        app.add_subapp("/files", self.files.app)
        app.add_subapp("/hooks", self.hooks.app())
        app.router.add_get("/_emulator/log", self._show_log)
        app.router.add_get("/_emulator/expected", self._show_expected)
        app.router.add_get("/_emulator/stats", self._show_stats)
        app.router.add_get("/_emulator/requests", self._count_requests)
        app.router.add_get("/_emulator/bytes", self._count_bytes)
        app.router.add_get("/_emulator/hooks", self._show_hooks)
        return app

    @web.middleware
    async def _log_api(self, request: web.Request, handler: Any) -> web.StreamResponse:
        first = request.path.split("/")[1]
        if first in _UNLOGGED:
            response: web.StreamResponse = await handler(request)
            return response
        note = RequestNote()
        token = CURRENT_NOTE.set(note)
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            CURRENT_NOTE.reset(token)
            self.ctx.log.append(
                ApiRecord(
                    method=request.method,
                    path=request.path,
                    provider=_PROVIDERS.get(first, "other"),
                    item=note.item,
                    status=status,
                    time=self.ctx.clock(),
                    authorization="Authorization" in request.headers,
                    query=request.query_string,
                )
            )

    async def _show_log(self, request: web.Request) -> web.StreamResponse:
        files = []
        for record in self.files.log:
            entry = dataclasses.asdict(record)
            entry["headers"] = {
                name: "<redacted>" if name.lower() == "authorization" else value
                for name, value in record.headers.items()
            }
            files.append(entry)
        api = [dataclasses.asdict(r) for r in self.ctx.log]
        return web.json_response({"api": api, "files": files})

    async def _show_expected(self, request: web.Request) -> web.StreamResponse:
        expected = await asyncio.to_thread(self.expected)
        body = {key: [dataclasses.asdict(f) for f in files] for key, files in expected.items()}
        return web.json_response(body)

    async def _show_stats(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(self.stats())

    async def _count_requests(self, request: web.Request) -> web.StreamResponse:
        # Counts only: cheap enough to ask between every step of a long run.
        return web.json_response({"api": len(self.ctx.log), "files": len(self.files.log)})

    async def _count_bytes(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(self.files.bytes_served())

    async def _show_hooks(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(self.hooks.as_json())


class RunningEmulator:
    """An `Emulator` listening on loopback; an async context manager."""

    def __init__(self, emulator: Emulator, runner: web.AppRunner, base_url: str) -> None:
        self.emulator = emulator
        self.base_url = base_url
        self._runner = runner

    @property
    def urls(self) -> dict[str, str]:
        """The base URL and each platform's base URL, as `__main__` prints them."""
        return {
            "base_url": self.base_url,
            "pixxel": f"{self.base_url}/pixxel",
            "scale": f"{self.base_url}/scale",
            "scale_legacy": f"{self.base_url}/scale-legacy",
            "alteryx": f"{self.base_url}/alteryx/webapi",
        }

    async def aclose(self) -> None:
        await self._runner.cleanup()

    async def __aenter__(self) -> RunningEmulator:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()


async def start_emulator(
    emulator: Emulator, *, port: int = 0, host: str = "127.0.0.1"
) -> RunningEmulator:
    """Serve `emulator` on `host:port` (0 picks a free port)."""
    runner, base_url = await serve(emulator.app, host=host, port=port)
    return RunningEmulator(emulator, runner, base_url)
