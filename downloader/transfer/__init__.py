"""The transfer engine: resumable, segmented, verified downloads of one asset at a time."""

from __future__ import annotations

from downloader.transfer._engine import AssetRequest, FetchResult, TransferEngine
from downloader.transfer._policy import GiB, KiB, Limits, MiB, RetryPolicy, Timeouts

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
