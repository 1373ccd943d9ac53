"""Provider adapters: from a watchlist item to the files a platform made for it.

Each platform has an adapter (`Provider`) that waits for the remote job, asks
for its download package, polls until a signed URL appears and hands the engine
`AssetRequest`s that know how to get a fresh URL when one expires.  The pure
`_parse_*` modules turn each API's JSON into our values; `_poll` and `_api` are
the thin I/O shell every adapter shares; `build_providers` wires them up.

Import cost: this package loads aiohttp and anyio; the `_parse_*` and
`_schedule` modules alone load neither.
"""

from __future__ import annotations

from downloader.providers._api import MAX_BODY
from downloader.providers._registry import API_CONCURRENCY, build_providers
from downloader.providers._types import (
    MemoryMemo,
    Package,
    PackageMemo,
    Phase,
    PhaseListener,
    Provider,
    SilentListener,
)

__all__ = [
    "API_CONCURRENCY",
    "MAX_BODY",
    "MemoryMemo",
    "Package",
    "PackageMemo",
    "Phase",
    "PhaseListener",
    "Provider",
    "SilentListener",
    "build_providers",
]
