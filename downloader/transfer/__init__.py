"""The transfer engine: resumable, segmented, verified downloads of one asset at a time."""

from __future__ import annotations

from downloader.transfer._policy import GiB, KiB, Limits, MiB, RetryPolicy, Timeouts

__all__ = ["GiB", "KiB", "Limits", "MiB", "RetryPolicy", "Timeouts"]
