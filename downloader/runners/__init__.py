"""The drivers of the pipeline: batch (`once`) and the daemon (`run`), one scheduler loop."""

from __future__ import annotations

from downloader.runners._batch import BatchResult, run_batch
from downloader.runners._pipeline import ItemWorker
from downloader.runners._scheduler import Scheduler

__all__ = ["BatchResult", "ItemWorker", "Scheduler", "run_batch"]
