"""Running a `FileHost` on a loopback port."""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from downloader.emulator._files import FileHost


class RunningHost:
    """A `FileHost` listening on a loopback port; an async context manager."""

    def __init__(self, host: FileHost, runner: web.AppRunner, base_url: str) -> None:
        self.host = host
        self.base_url = base_url
        self._runner = runner

    def url(self, path: str) -> str:
        """The plain (unsigned) URL of `path`."""
        return f"{self.base_url}{path}"

    def signed_url(self, path: str, lifetime: float | None = None) -> str:
        """A signed URL of `path`; `lifetime` defaults to the path's `url_lifetime`."""
        if lifetime is None:
            lifetime = self.host.faults(path).url_lifetime or 0.0
        return self.host.signed_url(self.base_url, path, lifetime)

    async def aclose(self) -> None:
        await self._runner.cleanup()

    async def __aenter__(self) -> RunningHost:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()


async def serve(app: web.Application, *, host: str, port: int) -> tuple[web.AppRunner, str]:
    """Start `app` on `host:port` (0 picks a free port); the runner and the base URL."""
    # A short shutdown grace: stalled test responses must not hold up teardown.
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    bound = runner.addresses[0]
    return runner, f"http://{bound[0]}:{bound[1]}"


async def start_file_host(
    host: FileHost, *, port: int = 0, host_ip: str = "127.0.0.1"
) -> RunningHost:
    """Start serving `host` on `host_ip:port` (0 picks a free port)."""
    runner, base_url = await serve(host.app, host=host_ip, port=port)
    return RunningHost(host, runner, base_url)
