"""The transfer engine: resumable, segmented, verified downloads of one asset at a time.

The engine (which needs aiohttp and anyio) is loaded on first use, so importing a
pure submodule such as `downloader.transfer._plan` pulls in no I/O library.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from downloader.transfer._policy import GiB, KiB, Limits, MiB, RetryPolicy, Timeouts

if TYPE_CHECKING:
    from downloader.transfer._engine import AssetRequest, FetchResult, TransferEngine

_ENGINE_NAMES = frozenset({"AssetRequest", "FetchResult", "TransferEngine"})


def __getattr__(name: str) -> Any:
    if name in _ENGINE_NAMES:
        from downloader.transfer import _engine

        return getattr(_engine, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "AssetRequest",
    "FetchResult",
    "GiB",
    "KiB",
    "Limits",
    "MiB",
    "RetryPolicy",
    "Timeouts",
    "TransferEngine",
]
