"""What the parts of a run tell whoever counts (the `[metrics]` endpoint), and nothing more.

An `Observer` is injected into the parts that see something worth counting: the
API client (each request), the pollers (each wait), the item worker (bytes fetched
and repaired, URL refreshes, retries) and the scheduler (leases lost).  Its methods
are plain, quick and synchronous, and never raise.  `NullObserver` is the default
where nobody counts.

A pure module: `endpoint_of` and `status_class` turn a request into labels of
bounded cardinality (no id ever becomes a label value).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Protocol

__all__ = ["NullObserver", "Observer", "counted_refresh", "endpoint_of", "status_class"]


class Observer(Protocol):
    """Told of what happens during a run; see the module docstring."""

    def api_request(self, provider: str, endpoint: str, status: str) -> None:
        """One request to a platform's API: its `endpoint_of` and `status_class`."""

    def poll_waited(self, provider: str, seconds: float) -> None:
        """An item was told "not yet" and waits `seconds` before asking again."""

    def fetched(self, provider: str, nbytes: int) -> None:
        """A file of `provider`'s item was fetched: `nbytes` came over the network."""

    def repaired(self, provider: str, nbytes: int) -> None:
        """A damaged file was repaired, fetching `nbytes` again."""

    def retried(self, provider: str, what: str) -> None:
        """A passing failure is tried again: `what` is `transfer` or `item`."""

    def url_refreshed(self, provider: str) -> None:
        """An expired signed URL was asked for afresh."""

    def lease_lost(self) -> None:
        """Another process took over an item this one held."""

    def store_committed(self, operations: int) -> None:
        """The state store committed one write transaction that carried `operations` of
        its callers' operations (several when they waited together).  Called from the
        store's own thread, not the event loop."""


class NullObserver:
    """Counts nothing."""

    def api_request(self, provider: str, endpoint: str, status: str) -> None:
        return None

    def poll_waited(self, provider: str, seconds: float) -> None:
        return None

    def fetched(self, provider: str, nbytes: int) -> None:
        return None

    def repaired(self, provider: str, nbytes: int) -> None:
        return None

    def retried(self, provider: str, what: str) -> None:
        return None

    def url_refreshed(self, provider: str) -> None:
        return None

    def lease_lost(self) -> None:
        return None

    def store_committed(self, operations: int) -> None:
        return None


# Segments that name a resource rather than one of them, across the platforms' APIs.
# Anything else is an id (a workflow, job, task, catalog, download...) and becomes
# "{id}", so a label never holds one, whatever a platform adds.
_WORDS = frozenset(
    {
        "v0", "v1", "v2", "v3", "v4", "v5", "v6", "api", "webapi", "admin", "user",
        "workflows", "jobs", "tasks", "download", "downloads", "catalogs", "order-items",
        "orders", "aois", "aoi", "insights", "assets", "products", "files", "outputs",
        "output", "oauth2", "token", "status", "recipes", "batches", "job-types",
    }
)  # fmt: skip
_ONE_SLASH = re.compile(r"/{2,}")


def endpoint_of(path: str, base_path: str = "") -> str:
    """The endpoint a request path belongs to, ids replaced by `{id}`.

    `/v0/workflows/wf-1/jobs/j-2/download` -> `/v0/workflows/{id}/jobs/{id}/download`;
    `base_path` (the path of the platform's base URL) is taken off first."""
    path = _ONE_SLASH.sub("/", path or "/")
    base = base_path.rstrip("/")
    if base and (path == base or path.startswith(base + "/")):
        path = path[len(base) :] or "/"
    trailing = path.endswith("/") and path != "/"
    segments = [s for s in path.split("/") if s]
    named = [s if s.lower() in _WORDS else "{id}" for s in segments]
    return "/" + "/".join(named) + ("/" if trailing else "")


def status_class(status: int | None) -> str:
    """`2xx`, `4xx` ... for an HTTP status; `error` when no answer came."""
    if status is None or not 100 <= status <= 599:
        return "error"
    return f"{status // 100}xx"


def counted_refresh(
    refresh: Callable[[], Awaitable[str]] | None, note: Callable[[], None]
) -> Callable[[], Awaitable[str]] | None:
    """`refresh` (an `AssetRequest.refresh_url`) calling `note` each time it is asked."""
    if refresh is None:
        return None

    async def counted() -> str:
        note()
        return await refresh()

    return counted
