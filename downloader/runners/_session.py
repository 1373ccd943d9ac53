"""The run's one aiohttp session, opened when something first asks it for a request.

API calls, hook posts and bodies behind a proxy go through aiohttp; a plain URL's body
comes through the engine's own receiver and needs none of it.  Importing aiohttp
(with the two TLS contexts it builds at import, each loading the system's CAs) cost
about 100 ms of a `once` before its first request, so the session, its connector and
the import itself wait for the first call that needs them.
"""

from __future__ import annotations

import ssl
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    import aiohttp

__all__ = ["LazySession", "lazy_session"]


class LazySession:
    """Stands in for an `aiohttp.ClientSession`: every attribute asked of it is the
    real session's, opened on the first such question (inside the running loop)."""

    def __init__(self, *, limit_per_host: int, trust: ssl.SSLContext | None) -> None:
        self._limit_per_host = limit_per_host
        self._trust = trust
        self._session: aiohttp.ClientSession | None = None

    @property
    def opened(self) -> bool:
        """Whether the real session exists (a run of plain URLs may end without it)."""
        return self._session is not None

    def open(self) -> aiohttp.ClientSession:
        """The real session, made now if not yet."""
        if self._session is None:
            import aiohttp

            trust = self._trust
            connector = aiohttp.TCPConnector(
                limit=0,
                limit_per_host=self._limit_per_host,
                ssl=trust if trust is not None else True,
            )
            # trust_env: HTTPS_PROXY, HTTP_PROXY and NO_PROXY (lower case too) for API
            # calls and downloads alike, as the contract promises
            self._session = aiohttp.ClientSession(
                connector=connector, auto_decompress=False, trust_env=True
            )
        return self._session

    def __getattr__(self, name: str) -> Any:
        return getattr(self.open(), name)

    async def aclose(self) -> None:
        """Close the real session, if it was ever opened."""
        if self._session is not None:
            await self._session.close()


def lazy_session(holder: LazySession) -> aiohttp.ClientSession:
    """`holder` where an `aiohttp.ClientSession` is taken: it answers for one."""
    return cast("aiohttp.ClientSession", holder)
