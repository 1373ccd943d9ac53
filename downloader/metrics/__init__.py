"""The `[metrics]` endpoint of `downloader run`: Prometheus text on `/metrics`, `/healthz`.

`Metrics` is the `Observer` that counts (with `prometheus-client`), `Liveness` says
whether the scheduler loop still beats, and `serve_metrics` serves both from a
thread of its own, so that a stuck event loop still gets its `/healthz` answered
(with 503) instead of a hung connection.
"""

from __future__ import annotations

from downloader.metrics._collect import Metrics
from downloader.metrics._serve import Liveness, metrics_app, serve_metrics

__all__ = ["Liveness", "Metrics", "metrics_app", "serve_metrics"]
