"""The drivers of the pipeline: batch (`once`) and, later, the daemon (`run`)."""

from __future__ import annotations

from downloader.runners._batch import BatchResult, run_batch
from downloader.runners._pipeline import ItemWorker

__all__ = ["BatchResult", "ItemWorker", "run_batch"]
