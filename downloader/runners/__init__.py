"""The drivers of the pipeline: batch (`once`) and the daemon (`run`), one scheduler loop.

The names below are loaded on first use: `downloader status` imports
`downloader.runners._status` and must not pay for aiohttp, the transfer
engine and the providers that the pipeline pulls in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from downloader.runners._batch import BatchResult, run_batch
    from downloader.runners._pipeline import ItemWorker
    from downloader.runners._scheduler import Scheduler

__all__ = ["BatchResult", "ItemWorker", "Scheduler", "run_batch"]


def __getattr__(name: str) -> Any:
    if name in ("BatchResult", "run_batch"):
        from downloader.runners import _batch

        return getattr(_batch, name)
    if name == "ItemWorker":
        from downloader.runners._pipeline import ItemWorker

        return ItemWorker
    if name == "Scheduler":
        from downloader.runners._scheduler import Scheduler

        return Scheduler
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
