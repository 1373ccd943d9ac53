"""Scale's answer for many waiting jobs at once: the job list, filtered by id.

`GET /v6/jobs/` (on a 3.x server, `api_version = "legacy"`, `GET /jobs/`, which
its documentation gives the same repeatable filter and DRF paging) takes `job_id`
again and again, so the items waiting on up to `CHUNK` jobs are asked about in one
request, with a `page_size` as large: one page normally holds them all.  A `next`
is followed (always on `base_url`'s origin: the token goes nowhere else) for at
most `MAX_PAGES` pages.  A job id that is not a number cannot be in it: such items
are not surveyed.

A list that is refused (any error but a passing one) or cannot be read turns
listing off for this process: every item is then asked about alone, as without
surveys.  A passing failure (network, 429, 5xx) leaves the items of that request
unanswered, to be asked about again on their schedule.
"""

from __future__ import annotations

from collections.abc import Sequence

import structlog

from downloader.errors import ApiError, MalformedResponse
from downloader.items import ItemRef
from downloader.providers._api import ApiClient
from downloader.providers._parse_common import Status
from downloader.providers._parse_scale import listed_id, next_page_url, parse_job_list_page
from downloader.providers._survey import SurveyTally, log_survey_off
from downloader.providers._types import SurveyAnswer

__all__ = ["CHUNK", "KINDS", "MAX_PAGES", "JobLists"]

log = structlog.get_logger("downloader.providers")

CHUNK = 100
"""Job ids asked about in one request (Scale's default page size)."""
MAX_PAGES = 10
"""Pages followed for one request before its `next` links are taken to be broken."""
_WHAT = "Scale job list"


KINDS = frozenset({"job"})


def _list_id(job_id: str) -> str | None:
    """`job_id` as the list writes it (`"0042"` is 42), or None when it is no number.

    Longer than any integer column holds, it could make Scale refuse the whole
    request (and turn listing off for every item): such an item goes alone."""
    return listed_id(job_id) if len(job_id) <= 18 else None


class JobLists:
    """Surveys of Scale job items, one list request per `CHUNK` jobs."""

    def __init__(self, api: ApiClient, *, legacy: bool) -> None:
        self.api = api
        self.legacy = legacy
        self.off: str | None = None
        """Why listing was turned off, once it was."""
        self._unknown: set[str] = set()
        """Status words already warned about."""

    def can_survey(self, item: ItemRef) -> bool:
        return self._job_id(item) is not None

    def surveyed_kinds(self) -> frozenset[str]:
        return frozenset() if self.off is not None else KINDS

    def _job_id(self, item: ItemRef) -> str | None:
        """The id the list gives `item`'s job, when the item can be surveyed."""
        if item.provider != "scale" or item.kind not in self.surveyed_kinds():
            return None
        return _list_id(item.ids[0])

    async def still_running(self, items: Sequence[ItemRef]) -> SurveyAnswer:
        by_job: dict[str, list[ItemRef]] = {}
        for item in items:
            job_id = self._job_id(item)
            if job_id is not None:
                by_job.setdefault(job_id, []).append(item)
        job_ids = list(by_job)
        tally = SurveyTally("scale", self._unknown)
        for start in range(0, len(job_ids), CHUNK):
            chunk = job_ids[start : start + CHUNK]
            try:
                statuses, pages = await self._list(chunk)
            except (ApiError, MalformedResponse) as exc:
                members = (item.key for job_id in chunk for item in by_job[job_id])
                if tally.failed(members, exc):
                    continue
                self._turn_off(str(exc))
                break
            for job_id in chunk:
                tally.saw(statuses.get(job_id), (item.key for item in by_job[job_id]), _WHAT)
            log.debug(
                "provider.survey",
                provider="scale",
                listed=len(statuses),
                asked=len(chunk),
                pages=pages,
            )
        return tally.answer()

    async def _list(self, job_ids: Sequence[str]) -> tuple[dict[str, Status], int]:
        """The statuses the list gives for `job_ids`, and how many pages that took."""
        url = self.api.url("/jobs/" if self.legacy else "/v6/jobs/")
        asked = [("job_id", job_id) for job_id in job_ids]
        params: Sequence[tuple[str, str]] | None = [*asked, ("page_size", str(CHUNK))]
        statuses: dict[str, Status] = {}
        seen: set[str] = set()
        while True:
            page = parse_job_list_page(await self.api.call("GET", url, params=params), _WHAT)
            statuses.update(page.statuses)
            if page.next_url is None:
                return statuses, len(seen) + 1
            url, params = next_page_url(page.next_url, self.api.base_url, _WHAT), None
            if url in seen:
                raise MalformedResponse(f"{_WHAT}: its 'next' links go round in circles")
            if len(seen) + 1 >= MAX_PAGES:
                raise MalformedResponse(
                    f"{_WHAT}: more than {MAX_PAGES} pages for {len(job_ids)} jobs"
                )
            seen.add(url)

    def _turn_off(self, reason: str) -> None:
        if self.off is None:
            self.off = reason
            log_survey_off("scale", reason)
