"""Sources: watchlist entries that name a collection of items instead of one.

A source (`[[pixxel.workflow]]`, `[[pixxel.order]]`, `[[scale.jobs]]`,
`[[alteryx.workflow]]`) is listed on the `[poll]` schedule; every item its list
shows is worked as if it had its own entry, under the key such an entry would
give it.  Its own key, `provider:kind:<what>`, names it in the store, in
`status` and in `bag-info.txt`.  Pure values and decisions only: what a source
is, which item a listed id becomes, whether a listed job is new enough for
`since`, and when the source is listed next.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from downloader.items import ItemRef, check_id

__all__ = [
    "SOURCE_FIELDS",
    "SOURCE_ITEM_KIND",
    "SourceRef",
    "created_ok",
    "is_source_key",
    "next_interval",
    "parse_time",
]

SOURCE_FIELDS: dict[tuple[str, str], tuple[tuple[str, ...], tuple[str, ...]]] = {
    ("pixxel", "workflow"): (("workflow_id",), ()),
    ("pixxel", "order"): (("id",), ()),
    ("scale", "jobs"): ((), ("job_type_name", "job_type_id", "job_type_category")),
    ("alteryx", "workflow"): (("id",), ()),
}
"""Per source kind: the fields it requires and those it may have (besides `since`)."""

SOURCE_ITEM_KIND: dict[tuple[str, str], str] = {
    ("pixxel", "workflow"): "job",
    ("pixxel", "order"): "order_item",
    ("scale", "jobs"): "job",
    ("alteryx", "workflow"): "job",
}
"""The kind of item each source lists."""


def is_source_key(text: str) -> bool:
    """Whether `text` is written as a source is (`pixxel:workflow:WF`, `scale:jobs:...`)."""
    provider, _, rest = text.partition(":")
    kind, sep, what = rest.partition(":")
    return bool(sep and what) and (provider, kind) in SOURCE_FIELDS


def parse_time(text: str) -> datetime | None:
    """An ISO 8601 time as platforms write it (`Z` or an offset; no zone: UTC), or None."""
    value = text.strip()
    if not value:
        return None
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def created_ok(created: str | None, since: datetime | None) -> bool:
    """Whether a listed job created at `created` is wanted by a source with `since`.

    A creation time that cannot be read keeps the job: an item too many costs a
    bag, one too few a result that is never fetched."""
    if since is None or created is None:
        return True
    when = parse_time(created)
    return when is None or when >= since


def next_interval(
    previous: timedelta | None, found_new: bool, *, first: timedelta, most: timedelta
) -> timedelta:
    """How long until the next listing: `first` after a listing that found something new
    (more is likely on its way), doubling while listings find nothing, up to `most`."""
    if found_new or previous is None:
        return min(first, most)
    return min(max(previous * 2, first), most)


@functools.lru_cache(maxsize=1 << 16)
def _item(source: SourceRef, ids: tuple[str, ...]) -> ItemRef:
    # an idle source lists the same thousands of jobs at every step: each is made and
    # checked once, not at every listing
    kind = SOURCE_ITEM_KIND[(source.provider, source.kind)]
    if (source.provider, source.kind) == ("pixxel", "workflow"):
        return ItemRef(source.provider, kind, (source.params[0][1], *ids))
    return ItemRef(source.provider, kind, ids)


@dataclass(frozen=True, order=True)
class SourceRef:
    """One source: provider, kind, its filters (`params`, sorted) and `since`."""

    provider: str
    kind: str
    params: tuple[tuple[str, str], ...]
    since: datetime | None = None

    def __post_init__(self) -> None:
        fields = SOURCE_FIELDS.get((self.provider, self.kind))
        if fields is None:
            raise ValueError(f"unknown source {self.provider}:{self.kind}")
        required, optional = fields
        names = [name for name, _ in self.params]
        if names != sorted(set(names)):
            raise ValueError("source fields must be sorted and given once")
        for name, value in self.params:
            if name not in required + optional:
                raise ValueError(f"unknown field {name!r} of {self.provider}.{self.kind}")
            check_id(value, slashes=False)
        missing = [name for name in required if name not in names]
        if missing:
            raise ValueError(f"missing required field {missing[0]!r}")
        if not required and not names:
            raise ValueError(f"give at least one of {', '.join(optional)}")
        if self.since is not None and self.since.tzinfo is None:
            raise ValueError("since must carry a time zone (e.g. 2026-11-01T00:00:00Z)")

    @property
    def fields(self) -> Mapping[str, str]:
        return dict(self.params)

    @functools.cached_property
    def key(self) -> str:
        """`pixxel:workflow:WF`, `pixxel:order:ID`, `alteryx:workflow:ID`, or
        `scale:jobs:job_type_name=X[&...]` (its filters, sorted)."""
        if (self.provider, self.kind) == ("scale", "jobs"):
            what = "&".join(f"{name}={value}" for name, value in self.params)
        else:
            what = self.params[0][1]
        return f"{self.provider}:{self.kind}:{what}"

    def __str__(self) -> str:
        return self.key

    def item(self, *ids: str) -> ItemRef:
        """The item this source lists under `ids` (raises `ValueError` for a bad id)."""
        return _item(self, ids)

    def definition(self) -> str:
        """The source as JSON, as the store keeps it (`from_definition` reads it back)."""
        body: dict[str, Any] = {"provider": self.provider, "kind": self.kind}
        body["params"] = dict(self.params)
        if self.since is not None:
            body["since"] = self.since.astimezone(UTC).isoformat()
        return json.dumps(body, sort_keys=True)

    @classmethod
    def from_definition(cls, text: str) -> SourceRef:
        body = json.loads(text)
        since = parse_time(body["since"]) if body.get("since") else None
        params = tuple(sorted((str(k), str(v)) for k, v in body["params"].items()))
        return cls(body["provider"], body["kind"], params, since)
