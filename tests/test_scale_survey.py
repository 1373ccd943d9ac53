"""Scale surveys: `GET /v6/jobs/` filtered by job id says which waiting jobs still run.

Against a loopback server that pages the list DRF-style and answers as told,
faults included; and once against the emulator's job list.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import aiohttp
import anyio
import pytest
from aiohttp import web
from structlog.testing import capture_logs
from yarl import URL

from downloader.clock import FakeClock
from downloader.config import PollSettings
from downloader.emulator import ScaleJob, Scenario, Settings, Timing
from downloader.items import ItemRef
from downloader.providers import survey_of
from downloader.providers._api import ApiClient
from downloader.providers._poll import Poller
from downloader.providers._scale import ScaleProvider
from downloader.providers._scale_survey import MAX_PAGES
from downloader.providers._types import SurveyAnswer
from downloader.runners._drive import drive
from tests.support.providers import world
from tests.support.web import Handler, serve


def job(job_id: str | int) -> ItemRef:
    return ItemRef("scale", "job", (str(job_id),))


def keys(*job_ids: str | int) -> frozenset[str]:
    return frozenset(job(j).key for j in job_ids)


class Jobs:
    """The job list: statuses by id, answers to give instead, and what was asked."""

    def __init__(self, statuses: dict[int, str] | None = None, *, page_cap: int = 1000) -> None:
        self.statuses: dict[int, str] = dict(statuses or {})
        self.page_cap = page_cap
        """The largest page served, whatever `page_size` asks for."""
        self.answers: list[web.Response | None] = []
        """Answers to the next requests, in turn; None: the list as it is."""
        self.next_url: str | None = None
        """A `next` to write on every page instead of the real one."""
        self.next_origin: str | None = None
        """The origin to write the real `next` on instead of the request's."""
        self.asked: list[dict[str, list[str]]] = []
        self.paths: list[str] = []

    def job_ids(self) -> list[list[str]]:
        return [query.get("job_id", []) for query in self.asked]

    async def handle(self, request: web.Request) -> web.StreamResponse:
        query = {name: request.query.getall(name) for name in request.query}
        self.asked.append(query)
        self.paths.append(request.path)
        if self.answers and (answer := self.answers.pop(0)) is not None:
            return answer
        wanted = {int(i) for i in query.get("job_id", [])}
        rows = [
            {"id": i, "job_type": {"id": 1}, "status": s}
            for i, s in sorted(self.statuses.items())
            if i in wanted
        ]
        size = min(int(request.query.get("page_size", "100")), self.page_cap)
        number = int(request.query.get("page", "1"))
        more = number * size < len(rows)
        url = request.url
        if self.next_origin is not None:
            url = URL(self.next_origin).join(request.rel_url)
        next_url = str(url.update_query(page=str(number + 1))) if more else None
        body = {
            "count": len(rows),
            "next": self.next_url or next_url,
            "previous": None,
            "results": rows[(number - 1) * size : number * size],
        }
        return web.json_response(body)


@contextlib.asynccontextmanager
async def scale(jobs: Jobs, *, legacy: bool = False) -> AsyncIterator[ScaleProvider]:
    routes: dict[str, Handler] = {"/v6/jobs/": jobs.handle, "/jobs/": jobs.handle}
    async with serve(routes) as base, aiohttp.ClientSession() as session:
        clock = FakeClock()
        api = ApiClient(
            session,
            platform="Scale",
            base_url=base,
            clock=clock,
            limiter=anyio.CapacityLimiter(4),
        )
        yield ScaleProvider(api, lambda item: Poller(clock, PollSettings()), drive, legacy=legacy)


def events(logs: Sequence[Mapping[str, Any]], name: str) -> list[Mapping[str, Any]]:
    return [e for e in logs if e["event"] == name]


async def test_one_request_says_which_jobs_still_run() -> None:
    jobs = Jobs(
        {
            1: "QUEUED",
            2: "RUNNING",
            3: "PENDING",
            4: "BLOCKED",
            5: "COMPLETED",
            6: "FAILED",
            7: "CANCELED",
            99: "RUNNING",
        }
    )
    items = [job(i) for i in range(1, 9)]
    async with scale(jobs) as provider:
        survey = survey_of(provider)
        assert survey is not None
        assert all(survey.can_survey(item) for item in items)
        with capture_logs() as logs:
            answer = await survey.still_running(items)
    # finished, failed and unlisted (8) jobs are for their items' own turns to look at
    assert answer == SurveyAnswer(running=keys(1, 2, 3, 4))
    assert jobs.asked == [{"job_id": [str(i) for i in range(1, 9)], "page_size": ["100"]}]
    [line] = events(logs, "provider.survey")
    assert (line["provider"], line["asked"], line["listed"], line["pages"]) == ("scale", 8, 7, 1)


async def test_jobs_are_asked_about_a_hundred_at_a_time() -> None:
    jobs = Jobs({i: "RUNNING" for i in range(1, 251)})
    async with scale(jobs) as provider:
        answer = await provider.still_running([job(i) for i in range(1, 251)])
    assert jobs.job_ids() == [
        [str(i) for i in range(1, 101)],
        [str(i) for i in range(101, 201)],
        [str(i) for i in range(201, 251)],
    ]
    assert all(query["page_size"] == ["100"] for query in jobs.asked)
    assert answer.running == keys(*range(1, 251))


async def test_the_next_pages_of_a_request_are_followed() -> None:
    jobs = Jobs({1: "RUNNING", 2: "COMPLETED", 3: "QUEUED", 4: "FAILED", 5: "PENDING"})
    jobs.page_cap = 2
    async with scale(jobs) as provider:
        with capture_logs() as logs:
            answer = await provider.still_running([job(i) for i in range(1, 6)])
    assert answer.running == keys(1, 3, 5)
    assert [query.get("page") for query in jobs.asked] == [None, ["2"], ["3"]]
    assert jobs.job_ids() == [["1", "2", "3", "4", "5"]] * 3  # the next links keep the filter
    [line] = events(logs, "provider.survey")
    assert (line["listed"], line["pages"]) == (5, 3)


async def test_a_next_link_naming_another_server_is_followed_on_the_configured_one() -> None:
    jobs = Jobs({1: "RUNNING", 2: "COMPLETED", 3: "QUEUED"}, page_cap=1)
    jobs.next_origin = "http://10.0.0.7:8000"  # Django's own address, behind a proxy
    async with scale(jobs) as provider:
        with capture_logs() as logs:
            answer = await provider.still_running([job(1), job(2), job(3)])
        assert provider.can_survey(job(1))
    assert answer.running == keys(1, 3)
    assert [query.get("page") for query in jobs.asked] == [None, ["2"], ["3"]]
    assert events(logs, "provider.survey_off") == []


async def test_a_next_link_that_loops_turns_listing_off() -> None:
    jobs = Jobs({1: "RUNNING", 2: "RUNNING"})
    async with scale(jobs) as provider:
        jobs.next_url = f"{provider.api.base_url}/v6/jobs/?job_id=1&page=2"  # on every page
        with capture_logs() as logs:
            answer = await provider.still_running([job(1), job(2)])
        assert not provider.can_survey(job(1))
    assert answer == SurveyAnswer()
    assert [query.get("page") for query in jobs.asked] == [None, ["2"]]  # not asked again
    [off] = events(logs, "provider.survey_off")
    assert "Scale job list: its 'next' links go round in circles" in off["reason"]


async def test_a_request_that_takes_too_many_pages_turns_listing_off() -> None:
    jobs = Jobs({i: "RUNNING" for i in range(1, 21)}, page_cap=1)
    async with scale(jobs) as provider:
        with capture_logs() as logs:
            answer = await provider.still_running([job(i) for i in range(1, 21)])
        assert not provider.can_survey(job(1))
    assert answer == SurveyAnswer()
    assert len(jobs.asked) == MAX_PAGES
    [off] = events(logs, "provider.survey_off")
    assert f"more than {MAX_PAGES} pages for 20 jobs" in off["reason"]


async def test_a_passing_failure_leaves_the_items_unanswered_with_the_servers_wait() -> None:
    jobs = Jobs({1: "RUNNING", 2: "COMPLETED"})
    jobs.answers = [web.Response(status=503, headers={"Retry-After": "7"})]
    async with scale(jobs) as provider:
        with capture_logs() as logs:
            first = await provider.still_running([job(1), job(2)])
        assert provider.can_survey(job(1))
        second = await provider.still_running([job(1), job(2)])
    assert first == SurveyAnswer(unanswered=keys(1, 2), retry_after=7.0)
    [failed] = events(logs, "provider.survey_failed")
    assert (failed["provider"], failed["items"]) == ("scale", 2)
    assert "503" in failed["error"]
    assert events(logs, "provider.survey_off") == []
    assert second == SurveyAnswer(running=keys(1))


async def test_a_passing_failure_costs_only_its_own_chunk_and_the_longest_wait_is_kept() -> None:
    jobs = Jobs({i: "RUNNING" for i in range(1, 251)})
    jobs.answers = [
        web.Response(status=429, headers={"Retry-After": "30"}),
        None,
        web.Response(status=502, headers={"Retry-After": "5"}),
    ]
    async with scale(jobs) as provider:
        answer = await provider.still_running([job(i) for i in range(1, 251)])
    assert len(jobs.asked) == 3
    assert answer.running == keys(*range(101, 201))
    assert answer.unanswered == keys(*range(1, 101), *range(201, 251))
    assert answer.retry_after == 30.0


@pytest.mark.parametrize("status", [400, 404])
async def test_a_refused_list_turns_listing_off_and_the_items_go_alone(status: int) -> None:
    jobs = Jobs({i: "RUNNING" for i in range(1, 251)})
    jobs.answers = [web.json_response({"detail": "Not found."}, status=status)]
    async with scale(jobs) as provider:
        with capture_logs() as logs:
            answer = await provider.still_running([job(i) for i in range(1, 251)])
            assert not provider.can_survey(job(1))
            again = await provider.still_running([job(1)])
    assert answer == again == SurveyAnswer()
    assert len(jobs.asked) == 1  # nor the other chunks
    [off] = events(logs, "provider.survey_off")
    assert str(status) in off["reason"]
    assert "Not found." in off["reason"]


@pytest.mark.parametrize(
    "body",
    [
        web.Response(text="<html>gateway</html>", content_type="text/html"),
        web.json_response({"detail": "something else"}),
        web.json_response({"count": 1, "next": None, "results": {"1": "RUNNING"}}),
        web.json_response([{"id": 1, "status": "RUNNING"}]),
    ],
    ids=["html", "no-results", "results-not-a-list", "a-bare-list"],
)
async def test_a_list_that_cannot_be_read_turns_listing_off(body: web.Response) -> None:
    jobs = Jobs({1: "RUNNING"})
    jobs.answers = [body]
    async with scale(jobs) as provider:
        with capture_logs() as logs:
            answer = await provider.still_running([job(1)])
        assert not provider.can_survey(job(1))
    assert answer == SurveyAnswer()
    [off] = events(logs, "provider.survey_off")
    assert off["reason"].startswith("Scale")


async def test_an_unknown_status_word_counts_as_running_and_is_warned_about_once() -> None:
    jobs = Jobs({1: "RESTARTING", 2: "RESTARTING", 3: "RUNNING"})
    async with scale(jobs) as provider:
        with capture_logs() as logs:
            first = await provider.still_running([job(1), job(2), job(3)])
            await provider.still_running([job(1)])
    assert first.running == keys(1, 2, 3)
    warnings = events(logs, "provider.unknown_status")
    assert [w["status"] for w in warnings] == ["RESTARTING"]


async def test_a_legacy_server_is_asked_its_unversioned_job_list() -> None:
    jobs = Jobs({1: "RUNNING", 2: "COMPLETED", 3: "QUEUED"}, page_cap=2)
    async with scale(jobs, legacy=True) as provider:
        assert provider.can_survey(job(1))
        answer = await provider.still_running([job(1), job(2), job(3)])
    assert answer == SurveyAnswer(running=keys(1, 3))
    assert jobs.paths == ["/jobs/", "/jobs/"]  # two pages, no /v6/ prefix
    assert jobs.job_ids() == [["1", "2", "3"]] * 2


async def test_a_job_id_that_is_no_number_is_not_asked_about() -> None:
    jobs = Jobs({12: "RUNNING"})
    odd = [job("abc"), job("12a"), job("1" * 40)]
    async with scale(jobs) as provider:
        assert not any(provider.can_survey(item) for item in odd)
        assert not provider.can_survey(ItemRef("pixxel", "job", ("wf", "12")))
        assert provider.can_survey(job("0012"))
        alone = await provider.still_running(odd)
        answer = await provider.still_running([*odd, job(12), job("0012")])
    assert alone == SurveyAnswer()
    assert jobs.job_ids() == [["12"]]
    assert answer == SurveyAnswer(running=keys(12, "0012"))


# ---- against the emulator ---------------------------------------------------------------------


async def test_a_survey_of_emulated_jobs_says_running_only_for_unfinished_ones(tmp_path) -> None:
    scenario = Scenario(
        settings=Settings(scale_token="sc-token", page_size=1),
        scale_jobs=(
            ScaleJob(1),
            ScaleJob(2, done=Timing(polls=5)),
            ScaleJob(3, fail="exit code 1"),
            ScaleJob(4, cancel=True),
            ScaleJob(5, done=Timing(polls=5)),
        ),
    )
    async with world(tmp_path, scenario) as w:
        survey = survey_of(w.providers["scale"])
        assert survey is not None
        items = [job(i) for i in range(1, 7)]
        assert all(survey.can_survey(item) for item in items)
        answer = await survey.still_running(items)
        assert answer == SurveyAnswer(running=keys(2, 5))
        stats = w.emulator.stats()
        assert {key: stats[key]["listed"] for key in stats} == {job(i).key: 1 for i in range(1, 6)}
    async with world(tmp_path / "legacy", scenario, scale_legacy=True) as legacy:
        legacy_survey = survey_of(legacy.providers["scale"])
        assert legacy_survey is not None
        assert legacy_survey.can_survey(job(2))
        assert await legacy_survey.still_running(items) == SurveyAnswer(running=keys(2, 5))
        paths = {r.path for r in legacy.emulator.log}
        assert "/scale-legacy/jobs/" in paths
