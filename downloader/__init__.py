"""downloader: fetch the results of geospatial processing platforms, verified and archived."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
