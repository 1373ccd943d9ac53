"""Listing a source through its platform's API: one request per page, never per job.

`list_source(provider, source, cursor)` reads a source's list to its end and
gives the items it shows (those created before `since` left out) and the
cursor to start from next time, where the platform can be asked for only what
is new:

- `pixxel.workflow`: `GET /v0/workflows/{wf}/jobs`, one answer (not paged).  It is
  the very list the waiting room's survey of that workflow asks for, so the listing
  also says which listed jobs still run (`Listing.answer`, read as the survey
  reads it): the jobs waiting on it need no survey of their own in that step.
- `pixxel.order`: `GET /v0/order-items?order_ids=ID`, `offset`/`limit` pages
  until `pagination.total` (or a short page).
- `scale.jobs`: `GET /v6/jobs/` (3.x: `GET /jobs/`) with the source's
  `job_type_*` filters and `started` (Scale filters it on `last_modified`) set to
  the cursor, the newest `last_modified` seen; DRF `next` links followed on the
  configured origin.
- `alteryx.workflow`: `GET /v3/workflows/{id}/jobs`, newest first
  (`sortField=createDate&direction=desc`), `offset`/`limit` pages until a short
  page or a job older than the cursor, the newest `createDate` seen.

A request that fails ends the listing: what the earlier pages showed is kept,
the cursor stays where it was (so the next listing reads those pages again),
and the error, with the server's Retry-After, is handed back.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

from downloader.errors import ApiError, MalformedResponse
from downloader.items import ItemRef
from downloader.providers._api import ApiClient
from downloader.providers._parse_common import Vocabulary
from downloader.providers._parse_pixxel import JOB_WORDS
from downloader.providers._parse_scale import next_page_url
from downloader.providers._parse_sources import (
    Entry,
    alteryx_jobs_page,
    pixxel_order_items_page,
    pixxel_workflow_jobs,
    scale_jobs_page,
)
from downloader.providers._survey import SurveyTally
from downloader.providers._types import SurveyAnswer
from downloader.sources import SourceRef, created_ok, parse_time

__all__ = ["PAGE_SIZE", "Listing", "list_source", "newest"]

PAGE_SIZE = 100
"""Entries asked for per page (Scale's default page size)."""
MAX_PAGES = 10_000
"""Pages followed in one listing before the list is taken to be looping."""


@dataclass
class Listing:
    """What one listing of a source found."""

    items: list[ItemRef] = field(default_factory=list)
    cursor: str | None = None
    """Where the next listing may start; None: from the start (or as before)."""
    pages: int = 0
    error: ApiError | MalformedResponse | None = None
    skipped: int = 0
    """Listed entries whose id cannot be an item's."""
    answer: SurveyAnswer | None = None
    """Which listed items' jobs still run, from a list that shows their states as a
    survey would read them; None when the list does not say."""

    @property
    def retry_after(self) -> float | None:
        return self.error.retry_after if isinstance(self.error, ApiError) else None


def newest(times: list[str | None], cursor: str | None) -> str | None:
    """The latest of `times` and `cursor` (as written by the platform), by time."""
    best, best_at = cursor, parse_time(cursor) if cursor else None
    for text in times:
        at = parse_time(text) if text else None
        if at is not None and (best_at is None or at > best_at):
            best, best_at = text, at
    return best


class _Collector:
    """Collects a listing's items, each once, none created before `floor` (`since`, or
    a later cursor: what is older was listed before)."""

    def __init__(self, source: SourceRef, listing: Listing, floor: datetime | None = None) -> None:
        self.source, self.listing = source, listing
        self.floor = floor if floor is not None else source.since
        self.seen: set[str] = set()
        self.words: dict[str, str | None] = {}
        """Each taken item's status word as listed, by key."""

    def take(self, entries: tuple[Entry, ...]) -> None:
        for entry in entries:
            if entry.id in self.seen or not created_ok(entry.created, self.floor):
                continue
            self.seen.add(entry.id)
            try:
                item = self.source.item(entry.id)
            except ValueError:
                self.listing.skipped += 1
                continue
            self.listing.items.append(item)
            self.words[item.key] = entry.status


_UNKNOWN_WORDS: set[str] = set()
"""Status words of listings already warned about, for the process (as a survey does)."""


def running_of(
    words: Mapping[str, str | None], vocabulary: Vocabulary, provider: str, what: str
) -> SurveyAnswer:
    """The answer a survey would give from the same list: the keys whose status word
    says the job still runs (an unknown word counts as running, and is warned about)."""
    by_word: dict[str | None, list[str]] = {}
    for key, word in words.items():
        by_word.setdefault(word, []).append(key)
    tally = SurveyTally(provider, _UNKNOWN_WORDS)
    for word, keys in by_word.items():
        tally.saw(None if word is None else vocabulary.classify(word), keys, what)
    return tally.answer()


async def list_source(provider: object, source: SourceRef, cursor: str | None) -> Listing:
    """List `source` through `provider`'s API client; see the module doc."""
    api = getattr(provider, "api", None)
    if not isinstance(api, ApiClient):
        raise TypeError(f"provider {source.provider} has no API to list {source.key} from")
    listing = Listing(cursor=cursor)
    kind = (source.provider, source.kind)
    lister: Callable[..., Any] = _LISTERS[kind]
    try:
        await lister(api, source, cursor, listing, provider)
    except (ApiError, MalformedResponse) as exc:
        listing.error = exc
        listing.cursor = cursor
    return listing


async def _pixxel_workflow(
    api: ApiClient, source: SourceRef, cursor: str | None, out: Listing, _: object
) -> None:
    workflow = source.fields["workflow_id"]
    what = f"Pixxel jobs of workflow {workflow}"
    data = await api.call("GET", f"/v0/workflows/{quote(workflow, safe='')}/jobs")
    out.pages = 1
    collect = _Collector(source, out)
    collect.take(pixxel_workflow_jobs(data, what))
    out.answer = running_of(collect.words, JOB_WORDS, "pixxel", what)


async def _pixxel_order(
    api: ApiClient, source: SourceRef, cursor: str | None, out: Listing, _: object
) -> None:
    order = source.fields["id"]
    what = f"Pixxel items of order {order}"
    collect, offset = _Collector(source, out), 0
    while out.pages < MAX_PAGES:
        params = {"order_ids": order, "offset": str(offset), "limit": str(PAGE_SIZE)}
        page = pixxel_order_items_page(
            await api.call("GET", "/v0/order-items", params=params), what, order
        )
        out.pages += 1
        collect.take(page.entries)
        offset += page.size
        if page.size == 0 or (page.total is not None and offset >= page.total):
            return
        if page.total is None and page.size < PAGE_SIZE:
            return
    raise MalformedResponse(f"{what}: more than {MAX_PAGES} pages")


async def _scale_jobs(
    api: ApiClient, source: SourceRef, cursor: str | None, out: Listing, provider: object
) -> None:
    what = "Scale job list"
    legacy = bool(getattr(provider, "legacy", False))
    url = api.url("/jobs/" if legacy else "/v6/jobs/")
    first = [*source.params, ("page_size", str(PAGE_SIZE))]
    started = _later(cursor, source.since)
    if started is not None:
        first.append(("started", started))
    params: list[tuple[str, str]] | None = first
    collect, modified = _Collector(source, out), []
    seen: set[str] = set()
    while out.pages < MAX_PAGES:
        page = scale_jobs_page(await api.call("GET", url, params=params), what)
        out.pages += 1
        collect.take(page.entries)
        modified += [entry.modified for entry in page.entries]
        if page.next_url is None:
            out.cursor = newest(modified, cursor)
            return
        url, params = next_page_url(page.next_url, api.base_url, what), None
        if url in seen:
            raise MalformedResponse(f"{what}: its 'next' links go round in circles")
        seen.add(url)
    raise MalformedResponse(f"{what}: more than {MAX_PAGES} pages")


def _later(cursor: str | None, since: datetime | None) -> str | None:
    """The `started` filter: the cursor, or `since` when that is later (or alone)."""
    at = parse_time(cursor) if cursor else None
    if since is not None and (at is None or since > at):
        return since.strftime("%Y-%m-%dT%H:%M:%SZ")
    return cursor


async def _alteryx_workflow(
    api: ApiClient, source: SourceRef, cursor: str | None, out: Listing, _: object
) -> None:
    workflow = source.fields["id"]
    what = f"Alteryx jobs of workflow {workflow}"
    path = f"/v3/workflows/{quote(workflow, safe='')}/jobs"
    floor = [t for t in (parse_time(cursor) if cursor else None, source.since) if t is not None]
    oldest_wanted = max(floor) if floor else None
    collect, offset, created = _Collector(source, out, oldest_wanted), 0, []
    while out.pages < MAX_PAGES:
        params = {
            "sortField": "createDate",
            "direction": "desc",
            "offset": str(offset),
            "limit": str(PAGE_SIZE),
        }
        page = alteryx_jobs_page(await api.call("GET", path, params=params), what)
        out.pages += 1
        collect.take(page.entries)
        created += [entry.created for entry in page.entries]
        offset += page.size
        # newest first: a page reaching below the cursor holds all that is new
        older = [parse_time(e.created) for e in page.entries if e.created]
        below = oldest_wanted is not None and any(
            t is not None and t < oldest_wanted for t in older
        )
        if page.size < PAGE_SIZE or below:
            out.cursor = newest(created, cursor)
            return
    raise MalformedResponse(f"{what}: more than {MAX_PAGES} pages")


_LISTERS: dict[tuple[str, str], Callable[..., Any]] = {
    ("pixxel", "workflow"): _pixxel_workflow,
    ("pixxel", "order"): _pixxel_order,
    ("scale", "jobs"): _scale_jobs,
    ("alteryx", "workflow"): _alteryx_workflow,
}
