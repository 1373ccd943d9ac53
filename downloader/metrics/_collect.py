"""The counters and gauges of a run, fed by the parts that see what happens.

`Metrics` is an `Observer` (see `downloader.observe`): the API client, the pollers,
the item worker and the scheduler call it as things happen.  The gauges of the
store's items (by state and provider, the oldest item's age per state) and the
transfer rate are set at each beat of the scheduler loop (`census`, `set_rate`),
from numbers the loop reads anyway, so a scrape never touches the store.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge

from downloader.store import ItemState
from downloader.store._models import CensusRow

__all__ = ["Metrics"]


class Metrics:
    """Every metric of a run, in a registry of its own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.items = Gauge(
            "downloader_items", "Active items by state and provider.", ["state", "provider"],
            registry=r,
        )  # fmt: skip
        self.oldest_age = Gauge(
            "downloader_item_oldest_age_seconds",
            "How long the active item longest in each state has been in it.",
            ["state"],
            registry=r,
        )
        self.fetched_bytes = Counter(
            "downloader_fetched_bytes",
            "File bytes received over the network by fetches that ended, repairs included.",
            ["provider"],
            registry=r,
        )
        self.repaired_bytes = Counter(
            "downloader_repaired_bytes",
            "File bytes fetched again to repair damaged files (a span or the whole file).",
            ["provider"],
            registry=r,
        )
        self.repairs = Counter(
            "downloader_repairs", "Repairs of damaged files.", ["provider"], registry=r
        )
        self.rate = Gauge(
            "downloader_transfer_rate_bytes_per_second",
            "Bytes fetched per second over the last 20 s, as systemd's STATUS= shows.",
            registry=r,
        )
        self.retries = Counter(
            "downloader_retries",
            "Passing failures tried again: what = transfer (within a fetch) or item.",
            ["provider", "what"],
            registry=r,
        )
        self.url_refreshes = Counter(
            "downloader_url_refreshes",
            "Fresh signed URLs asked for after one expired.",
            ["provider"],
            registry=r,
        )
        self.api_requests = Counter(
            "downloader_api_requests",
            "Requests to the platforms' APIs by endpoint (ids as {id}) and status class.",
            ["provider", "endpoint", "status_class"],
            registry=r,
        )
        self.poll_waits = Counter(
            "downloader_poll_waits",
            "Waits before asking a platform again after a 'not yet' or a passing failure.",
            ["provider"],
            registry=r,
        )
        self.poll_wait_seconds = Counter(
            "downloader_poll_wait_seconds",
            "Seconds of those waits, added up.",
            ["provider"],
            registry=r,
        )
        self.lease_takeovers = Counter(
            "downloader_lease_takeovers",
            "Items this process held that another process took over.",
            registry=r,
        )
        self.store_commits = Counter(
            "downloader_store_commits",
            "Write transactions the state store committed (each one sync of its log).",
            registry=r,
        )
        self.store_operations = Counter(
            "downloader_store_operations",
            "Write operations those transactions carried: per commit, the ratio.",
            registry=r,
        )
        self._item_labels: set[tuple[str, str]] = set()

    # -- Observer ---------------------------------------------------------------------------

    def api_request(self, provider: str, endpoint: str, status: str) -> None:
        self.api_requests.labels(provider, endpoint, status).inc()

    def poll_waited(self, provider: str, seconds: float) -> None:
        self.poll_waits.labels(provider).inc()
        self.poll_wait_seconds.labels(provider).inc(max(0.0, seconds))

    def fetched(self, provider: str, nbytes: int) -> None:
        self.fetched_bytes.labels(provider).inc(max(0, nbytes))

    def repaired(self, provider: str, nbytes: int) -> None:
        self.repairs.labels(provider).inc()
        self.repaired_bytes.labels(provider).inc(max(0, nbytes))

    def retried(self, provider: str, what: str) -> None:
        self.retries.labels(provider, what).inc()

    def url_refreshed(self, provider: str) -> None:
        self.url_refreshes.labels(provider).inc()

    def lease_lost(self) -> None:
        self.lease_takeovers.inc()

    def store_committed(self, operations: int) -> None:
        # prometheus_client's counters take a lock: safe from the store's thread
        self.store_commits.inc()
        self.store_operations.inc(max(0, operations))

    # -- set at the loop's beat ---------------------------------------------------------------

    def census(self, rows: Iterable[CensusRow], now: datetime) -> None:
        """The item gauges from the store's census at `now` (aware UTC)."""
        counts: dict[tuple[str, str], int] = {}
        oldest: dict[str, datetime] = {}
        for row in rows:
            counts[(row.state.value, row.provider)] = row.items
            held = oldest.get(row.state.value)
            if held is None or row.oldest_since < held:
                oldest[row.state.value] = row.oldest_since
        # a pair seen before and gone now reads 0 rather than its last value
        for labels in self._item_labels - counts.keys():
            self.items.labels(*labels).set(0)
        for labels, count in counts.items():
            self.items.labels(*labels).set(count)
        self._item_labels |= counts.keys()
        for state in ItemState:
            since = oldest.get(state.value)
            age = 0.0 if since is None else max(0.0, (now - since).total_seconds())
            self.oldest_age.labels(state.value).set(age)

    def set_rate(self, bytes_per_second: float) -> None:
        self.rate.set(max(0.0, bytes_per_second))
