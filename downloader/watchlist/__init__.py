"""The watchlist: which items to fetch, read from a TOML file of `[[provider.kind]]` entries."""

from __future__ import annotations

from downloader.watchlist._parse import WatchlistParse, load_watchlist, parse_watchlist

__all__ = ["WatchlistParse", "load_watchlist", "parse_watchlist"]
