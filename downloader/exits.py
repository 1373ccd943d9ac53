"""The exit codes of the commands, as the user-facing contract gives them."""

from __future__ import annotations

__all__ = ["EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE"]

EXIT_OK = 0
"""Everything asked for was done (all archived, all intact)."""
EXIT_FAILED = 1
"""One or more items failed, or a bag is not intact."""
EXIT_USAGE = 2
"""A bad config or usage, or a state database or place that cannot be used."""
EXIT_INTERRUPTED = 3
"""Stopped by a signal; the progress is kept."""
