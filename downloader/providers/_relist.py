"""Fresh URLs for the files of one package, from one listing however many ask at once.

Where a platform signs the URLs of a package's files together (a Scale job's file
list), the assets of the package, fetched side by side, see their URLs expire
together.  Each asks for a fresh one; the first asks the platform, the others wait
for that answer and take their URLs from it.  An asset that already holds a URL of
the newest listing and asks again (that one expired too) has the platform asked
again: a listing is never taken twice by one asset.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

import anyio

__all__ = ["Relisting"]


class Relisting:
    """The newest listing of a package's URLs (file id to URL), asked for by `listing`."""

    def __init__(self, listing: Callable[[], Awaitable[Mapping[str, str]]]) -> None:
        self._listing = listing
        self._lock = anyio.Lock()
        self.generation = 0
        """Listings asked for so far (0: the package's own URLs)."""
        self.urls: Mapping[str, str] = {}

    def renewer(self, file_id: str, gone: Callable[[], Exception]) -> Callable[[], Awaitable[str]]:
        """The `refresh_url` of file `file_id`; `gone()` is raised when the listing no
        longer offers it."""
        held = self.generation

        async def fresh() -> str:
            nonlocal held
            async with self._lock:
                if self.generation == held:  # nobody listed since this URL was handed out
                    self.urls = await self._listing()
                    self.generation += 1
            held = self.generation
            url = self.urls.get(file_id)
            if url is None:
                raise gone()
            return url

        return fresh
