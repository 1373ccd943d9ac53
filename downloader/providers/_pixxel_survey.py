"""Pixxel's answer for many waiting jobs at once: the list of a workflow's jobs.

`GET /v0/workflows/{wf}/jobs` gives every job of a workflow with its status (the
list is not paged and carries no tasks), so the items waiting on the jobs of one
workflow are asked about in one request.  A task item is not surveyed: a task can
finish while its job still runs, and only the job's own answer shows that.

A workflow whose list is refused (any error but a passing one) or cannot be read
is not listed again by this process: its items are asked about one by one, as
without surveys.  A passing failure (network, 429, 5xx) leaves the items
unanswered, to be asked about again on their schedule.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import quote

import structlog

from downloader.errors import ApiError, MalformedResponse
from downloader.items import ItemRef
from downloader.providers._api import ApiClient
from downloader.providers._parse_pixxel import parse_job_list
from downloader.providers._survey import SurveyTally, log_survey_off
from downloader.providers._types import SurveyAnswer

__all__ = ["KINDS", "WorkflowLists"]

log = structlog.get_logger("downloader.providers")

KINDS = frozenset({"job"})
"""Items surveyed: jobs (the list carries no tasks)."""


class WorkflowLists:
    """Surveys of Pixxel job items, one list request per workflow."""

    def __init__(self, api: ApiClient) -> None:
        self.api = api
        self._unlisted: dict[str, str] = {}
        """Workflows not listed again, with the reason."""
        self._unknown: set[str] = set()
        """Status words already warned about."""

    def can_survey(self, item: ItemRef) -> bool:
        if item.provider != "pixxel" or item.kind not in KINDS:
            return False
        return item.ids[0] not in self._unlisted

    def surveyed_kinds(self) -> frozenset[str]:
        return KINDS

    async def still_running(self, items: Sequence[ItemRef]) -> SurveyAnswer:
        by_workflow: dict[str, list[ItemRef]] = {}
        for item in items:
            if self.can_survey(item):
                by_workflow.setdefault(item.ids[0], []).append(item)
        tally = SurveyTally("pixxel", self._unknown)
        for workflow, members in by_workflow.items():
            what = f"Pixxel jobs of workflow {workflow}"
            try:
                path = f"/v0/workflows/{quote(workflow, safe='')}/jobs"
                statuses = parse_job_list(await self.api.call("GET", path), what)
            except (ApiError, MalformedResponse) as exc:
                if not tally.failed((item.key for item in members), exc, workflow=workflow):
                    self._unlisted[workflow] = str(exc)
                    log_survey_off("pixxel", str(exc), workflow=workflow)
                continue
            for item in members:
                tally.saw(statuses.get(item.ids[1]), (item.key,), what)
            log.debug(
                "provider.survey",
                provider="pixxel",
                workflow=workflow,
                listed=len(statuses),
                asked=len(members),
            )
        return tally.answer()
