"""The pages of the lists that sources are listed from.  Pure: JSON in, entries out.

Each parser gives the listed entries as (id, creation time) pairs, the creation
time as written (None when absent), and the status word where the list shows one.
An entry without a usable id is left out (it cannot become an item); a body that
is not a page at all is `MalformedResponse`, so a login page or an error document
is never read as an empty list.

- Pixxel `GET /v0/workflows/{wf}/jobs`: `{"jobs": [{"id", "created_at", ...}]}`,
  not paged.
- Pixxel `GET /v0/order-items?order_ids=`: `{"order_items": [...], "pagination":
  {"limit", "offset", "total"}}`.
- Scale `GET /v6/jobs/` (3.x: `GET /jobs/`): a DRF page `{"count", "next",
  "results": [{"id", "created", "last_modified", ...}]}`.
- Alteryx `GET /v3/workflows/{id}/jobs`: a bare array of `{"id", "createDate", ...}`,
  no total and no next link.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from downloader.errors import MalformedResponse
from downloader.providers._parse_common import field_list, field_str, object_of
from downloader.providers._parse_scale import listed_id

__all__ = [
    "Entry",
    "OffsetPage",
    "ScalePage",
    "alteryx_jobs_page",
    "pixxel_order_items_page",
    "pixxel_workflow_jobs",
    "scale_jobs_page",
]


@dataclass(frozen=True)
class Entry:
    """One listed job or order item."""

    id: str
    created: str | None = None
    modified: str | None = None
    status: str | None = None
    """The job's status word, where the list shows it (Pixxel's workflow list)."""


@dataclass(frozen=True)
class OffsetPage:
    entries: tuple[Entry, ...]
    size: int
    """Entries on the page, usable or not (an offset moves by this)."""
    total: int | None = None


@dataclass(frozen=True)
class ScalePage:
    entries: tuple[Entry, ...]
    next_url: str | None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _string_id(value: Any) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value.strip() if isinstance(value, str) and value.strip() else None


def _entries(
    rows: list[Any], id_of: Any, created: str, modified: str = "", status: str = ""
) -> tuple[Entry, ...]:
    out = []
    for row in rows:
        # a JSON object is a dict: the ABC check only for what is not (a list of
        # thousands is read at every listing)
        if type(row) is not dict and not isinstance(row, Mapping):
            continue
        job_id = id_of(row.get("id"))
        if job_id is not None:
            word = _text(row.get(status)) if status else None
            changed = _text(row.get(modified)) if modified else None
            out.append(Entry(job_id, _text(row.get(created)), changed, word))
    return tuple(out)


def pixxel_workflow_jobs(data: Any, what: str) -> tuple[Entry, ...]:
    """The jobs of a Pixxel workflow's list."""
    rows = field_list(object_of(data, what), "jobs", what)
    return _entries(rows, _string_id, "created_at", status="status")


def pixxel_order_items_page(data: Any, what: str, order_id: str) -> OffsetPage:
    """One page of an order's items; an item of another order (a server that ignores
    the filter) is left out."""
    obj = object_of(data, what)
    rows = field_list(obj, "order_items", what)
    mine = [r for r in rows if not isinstance(r, Mapping) or r.get("order_id") in (None, order_id)]
    paging = obj.get("pagination")
    total = paging.get("total") if isinstance(paging, Mapping) else None
    usable = total if isinstance(total, int) and not isinstance(total, bool) else None
    return OffsetPage(_entries(mine, _string_id, "created_at"), len(rows), usable)


def scale_jobs_page(data: Any, what: str) -> ScalePage:
    """One DRF page of Scale's job list."""
    obj = object_of(data, what)
    entries = _entries(field_list(obj, "results", what), listed_id, "created", "last_modified")
    return ScalePage(entries, field_str(obj, "next", what, required=False) or None)


def alteryx_jobs_page(data: Any, what: str) -> OffsetPage:
    """One page of an Alteryx workflow's jobs (a bare array)."""
    if not isinstance(data, list):
        raise MalformedResponse(f"{what}: expected a JSON array of jobs")
    return OffsetPage(_entries(data, _string_id, "createDate"), len(data))
