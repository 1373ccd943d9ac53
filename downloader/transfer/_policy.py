"""Limits, timeouts and retry budgets as values.

Pure data, built once from config (`[transfer]`) and handed to the engine, which
enforces them with limiters and the connector rather than ad-hoc counters.
"""

from __future__ import annotations

from dataclasses import dataclass

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB


@dataclass(frozen=True)
class Limits:
    """How much the engine may do at once."""

    max_concurrent: int = 8
    """Files in flight, all hosts together."""
    max_per_host: int = 4
    """Connections to one host."""
    segments: int = 4
    """Parallel ranges for one large file."""
    segment_min_size: int = 64 * MiB
    """Files smaller than this are fetched in one stream."""
    bandwidth_limit: int = 0
    """Bytes per second across every transfer; 0 means unlimited."""
    min_free_space: int = 1 * GiB
    """Pause rather than fill the disk below this many free bytes."""

    def __post_init__(self) -> None:
        for name in ("max_concurrent", "max_per_host", "segments"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        for name in ("segment_min_size", "bandwidth_limit", "min_free_space"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")


@dataclass(frozen=True)
class Timeouts:
    """Network timeouts.  Large transfers use a per-read stall timeout, never a total one."""

    connect: float = 30.0
    """Seconds to establish a connection (TCP and TLS)."""
    stall: float = 60.0
    """Seconds without a single byte before a read is abandoned."""


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a failing transfer is tried again."""

    attempts: int = 8
    """Retryable failures tolerated per asset before it fails (progress resets the count)."""
    backoff_base: float = 1.0
    """First backoff ceiling in seconds; doubles per attempt (full jitter below it)."""
    backoff_cap: float = 60.0
    """Largest backoff ceiling in seconds."""
    verify_attempts: int = 2
    """Whole-file re-downloads after a failed verification before the asset fails."""
    restarts: int = 3
    """Restarts from zero because the object changed, before the asset fails."""
    url_refreshes: int = 5
    """Fresh URLs asked for after 403/410 without progress in between."""
    retry_after_cap: float = 24 * 60 * 60.0
    """Longest wait a server's Retry-After is granted (`[retry] max_delay`)."""
