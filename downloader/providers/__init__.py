"""Provider adapters: from a watchlist item to the files a platform made for it.

Each platform has an adapter (`Provider`) that waits for the remote job, asks
for its download package, polls until a signed URL appears and hands the engine
`AssetRequest`s that know how to get a fresh URL when one expires.  The pure
`_parse_*` modules turn each API's JSON into our values and `_schedule` says how
long to wait; `_api` and `_poll` are the thin I/O shell every adapter shares;
`build_providers` wires them up.

The registry (which needs aiohttp and anyio) is loaded on first use, so importing
a pure submodule such as `downloader.providers._parse_pixxel` pulls in no I/O
library.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from downloader.providers._types import (
    JobSurvey,
    MemoryMemo,
    Package,
    PackageMemo,
    Phase,
    PhaseListener,
    Provider,
    SilentListener,
    SurveyAnswer,
    survey_of,
)

if TYPE_CHECKING:
    from downloader.providers._api import MAX_BODY
    from downloader.providers._registry import API_CONCURRENCY, build_providers

_LAZY = {
    "API_CONCURRENCY": "downloader.providers._registry",
    "build_providers": "downloader.providers._registry",
    "MAX_BODY": "downloader.providers._api",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(module), name)


__all__ = [
    "API_CONCURRENCY",
    "MAX_BODY",
    "JobSurvey",
    "MemoryMemo",
    "Package",
    "PackageMemo",
    "Phase",
    "PhaseListener",
    "Provider",
    "SilentListener",
    "SurveyAnswer",
    "build_providers",
    "survey_of",
]
