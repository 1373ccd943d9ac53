"""The receiver's kept-alive connections, per origin.

A connection goes back to the pool once its body was read to the end on a keep-alive
answer; any other (an error body left unread, a body cut short, a failure, a
cancellation) is closed.  A service's engine keeps the idle ones from one item to the
next and closes them when the service ends; an engine made without that owner closes
them whenever its last transfer ends, so nothing is left open when its loop ends.
"""

from __future__ import annotations

import asyncio
import ssl
from urllib.parse import urlsplit

from downloader.transfer._receiver import BodyConnection
from downloader.transfer._tls import tls_context


def origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return parts.scheme.lower(), (parts.hostname or "").lower(), parts.port


class ConnectionPool:
    """Idle body connections per origin; `get` one, `put` it back when done with it."""

    def __init__(self, ssl_context: ssl.SSLContext | None, connect_within: float) -> None:
        self.ssl_context = ssl_context
        self.connect_within = connect_within
        self._idle: dict[tuple[str, str, int | None], list[BodyConnection]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self.opened = 0  # connections made so far

    async def get(self, url: str) -> tuple[BodyConnection, bool]:
        """A connection to `url`'s origin, and whether it was used before."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # connections of another loop cannot be used here
            self.close_idle()
            self._loop = loop
        idle = self._idle.get(origin(url))
        while idle:
            conn = idle.pop()
            if conn.reusable:
                return conn, True
            conn.close()
        if self.ssl_context is None and origin(url)[0] == "https":
            # made once, when first wanted: loading the system's CAs takes tens of ms
            self.ssl_context = tls_context()
        conn = await BodyConnection.open(
            url, ssl_context=self.ssl_context, connect_within=self.connect_within
        )
        self.opened += 1
        return conn, False

    def put(self, url: str, conn: BodyConnection) -> None:
        """Keep `conn` for the next request to its origin, or close it if it cannot serve."""
        if conn.reusable and conn.used > 0:
            self._idle.setdefault(origin(url), []).append(conn)
        else:
            conn.close()

    def close_idle(self) -> None:
        for conns in self._idle.values():
            for conn in conns:
                conn.close()
        self._idle.clear()
