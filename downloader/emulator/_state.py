"""The emulator's memory: what each item has been asked, and the API request log.

`Context` is the one object the provider modules share: the scenario, its
catalogue of contents, the file host, the clock and these books.  The timing
rule (`has_elapsed`) is pure.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from downloader.emulator._files import FileHost
from downloader.emulator._items import Catalogue
from downloader.emulator._scenario import Scenario, Timing


@dataclass
class ItemStats:
    """Counters of one item (or remote job), as `/_emulator/stats` shows them.

    `api_calls` counts requests naming the item (throttled ones too); `job_polls`
    counts status answers about it, each Get Job and each listing that showed it;
    `listed` counts the listings alone.
    """

    api_calls: int = 0
    throttled: int = 0
    job_polls: int = 0
    listed: int = 0
    package_requests: int = 0
    downloads_created: int = 0
    malformed_served: int = 0
    bytes_served: int = 0
    first_seen: float | None = None
    done_at: float | None = None
    ready_polls: int = 0
    ready_since: float | None = None
    polls_with_messages: int = 0
    """Alteryx job GETs that did not say `includeMessages=false` (each carries them all)."""
    messages_asked: int = 0
    """Alteryx `GET /v3/jobs/{id}/messages` requests."""

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ApiRecord:
    """One API request: never the value of its `Authorization` header, only whether it had one."""

    method: str
    path: str
    provider: str
    item: str | None
    status: int
    time: float
    authorization: bool
    query: str = ""
    """The query string (lists' filters and pages); never a credential."""


def has_elapsed(timing: Timing, count: int, since: float, now: float) -> bool:
    """Whether something taking `timing` is over after `count` answers or at `now`."""
    if timing.seconds is not None:
        return now - since >= timing.seconds
    return count > timing.polls


def iso(timestamp: float) -> str:
    """A unix time as ISO 8601 UTC with a `Z`."""
    moment = datetime.fromtimestamp(timestamp, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Context:
    """Everything a provider's handlers need."""

    scenario: Scenario
    catalogue: Catalogue
    files: FileHost
    clock: Callable[[], float]
    stats: dict[str, ItemStats] = field(default_factory=dict)
    log: list[ApiRecord] = field(default_factory=list)
    owners: dict[str, str] = field(default_factory=dict)
    born: float = 0.0
    """When the emulator started (its clock): lists' `listed_after` counts from it."""
    lists_refused: int = 0
    """List requests answered 503 so far (`list_failures`)."""

    def __post_init__(self) -> None:
        self.born = self.clock()

    def item(self, key: str) -> ItemStats:
        """The stats of `key`, marking when it was first asked about."""
        stats = self.stats.get(key)
        if stats is None:
            stats = self.stats[key] = ItemStats()
        if stats.first_seen is None:
            stats.first_seen = self.clock()
        return stats

    def is_done(self, key: str, timing: Timing, polls: int) -> bool:
        """Whether the remote job `key` has finished after `polls` status answers.

        Once finished it stays finished (the moment is kept in `done_at`).
        """
        stats = self.item(key)
        if not self.peek_done(key, timing, polls):
            return False
        if stats.done_at is None:
            stats.done_at = self.clock()
        return True

    def peek_done(self, key: str, timing: Timing, polls: int) -> bool:
        """What `is_done` would answer, without marking anything (not even first sight)."""
        stats = self.stats.get(key)
        if stats is not None and stats.done_at is not None:
            return True
        now = self.clock()
        since = stats.first_seen if stats is not None else None
        return has_elapsed(timing, polls, now if since is None else since, now)

    def ready_after_request(self, key: str, timing: Timing) -> bool:
        """Count one more package request of `key` and say whether its package is ready."""
        stats = self.item(key)
        now = self.clock()
        if stats.ready_since is None:
            stats.ready_since = now
        stats.ready_polls += 1
        return has_elapsed(timing, stats.ready_polls, stats.ready_since, now)

    def stats_json(self) -> dict[str, dict[str, Any]]:
        """Per-item counters, with bytes served taken from the file host's log."""
        served: dict[str, int] = {}
        for record in self.files.log:
            owner = self.owners.get(record.path)
            if owner is not None:
                served[owner] = served.get(owner, 0) + record.bytes_sent
        keys = set(self.stats) | set(served)
        result = {}
        for key in sorted(keys):
            stats = self.stats.get(key, ItemStats())
            stats.bytes_served = served.get(key, 0)
            result[key] = stats.as_json()
        return result
