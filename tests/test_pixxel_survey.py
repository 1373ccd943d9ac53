"""Pixxel surveys: one list request per workflow says which waiting jobs still run.

Against a loopback server that answers the list as told, faults included.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import anyio
from aiohttp import web
from structlog.testing import capture_logs

from downloader.clock import FakeClock
from downloader.config import PollSettings
from downloader.items import ItemRef
from downloader.providers import survey_of
from downloader.providers._api import ApiClient
from downloader.providers._http import HttpProvider
from downloader.providers._pixxel import PixxelProvider
from downloader.providers._poll import Poller
from downloader.runners._drive import drive
from tests.support.web import serve


def job(workflow: str, job_id: str) -> ItemRef:
    return ItemRef("pixxel", "job", (workflow, job_id))


class Lists:
    """The list endpoint: what each workflow answers next, and what was asked."""

    def __init__(self) -> None:
        self.answers: dict[str, list[web.Response]] = {}
        self.jobs: dict[str, list[dict[str, Any]]] = {}
        self.asked: list[str] = []

    async def handle(self, request: web.Request) -> web.StreamResponse:
        workflow = request.match_info["wf"]
        self.asked.append(workflow)
        queued = self.answers.get(workflow)
        if queued:
            return queued.pop(0)
        return web.json_response({"jobs": self.jobs.get(workflow, [])})


@contextlib.asynccontextmanager
async def pixxel(lists: Lists, *, max_body: int = 1 << 20) -> AsyncIterator[PixxelProvider]:
    async with (
        serve({"/v0/workflows/{wf}/jobs": lists.handle}) as base,
        aiohttp.ClientSession() as session,
    ):
        clock = FakeClock()
        api = ApiClient(
            session,
            platform="Pixxel",
            base_url=base,
            clock=clock,
            limiter=anyio.CapacityLimiter(4),
            max_body=max_body,
        )
        yield PixxelProvider(api, lambda item: Poller(clock, PollSettings()), drive)


def listed(*pairs: tuple[str, str]) -> list[dict[str, Any]]:
    return [{"id": job_id, "workflow_id": "wf", "status": status} for job_id, status in pairs]


async def test_one_request_per_workflow_says_which_jobs_still_run() -> None:
    lists = Lists()
    lists.jobs["wf-a"] = listed(("1", "running"), ("2", "completed"), ("3", "queued"))
    lists.jobs["wf-b"] = listed(("9", "failed"), ("8", "pending"))
    items = [job("wf-a", "1"), job("wf-a", "2"), job("wf-a", "3"), job("wf-a", "4")]
    items += [job("wf-b", "9"), job("wf-b", "8")]
    async with pixxel(lists) as provider:
        survey = survey_of(provider)
        assert survey is not None
        answer = await survey.still_running(items)
    assert sorted(lists.asked) == ["wf-a", "wf-b"]
    # finished, failed and unlisted jobs are for their items' own turns to look at
    assert answer.running == {job("wf-a", "1").key, job("wf-a", "3").key, job("wf-b", "8").key}
    assert answer.unanswered == frozenset()


async def test_only_job_items_are_surveyed() -> None:
    lists = Lists()
    async with pixxel(lists) as provider:
        assert provider.can_survey(job("wf", "1"))
        assert not provider.can_survey(ItemRef("pixxel", "task", ("wf", "1", "t")))
        assert not provider.can_survey(ItemRef("pixxel", "catalog", ("c-1",)))
        assert not provider.can_survey(ItemRef("scale", "job", ("12",)))
        answer = await provider.still_running([ItemRef("pixxel", "task", ("wf", "1", "t"))])
    assert lists.asked == []
    assert answer.running == frozenset()


async def test_a_passing_failure_leaves_the_items_unanswered_with_the_servers_wait() -> None:
    lists = Lists()
    lists.jobs["wf"] = listed(("1", "running"))
    lists.answers["wf"] = [web.Response(status=503, headers={"Retry-After": "7"})]
    async with pixxel(lists) as provider:
        with capture_logs() as logs:
            first = await provider.still_running([job("wf", "1")])
        second = await provider.still_running([job("wf", "1")])
        assert provider.can_survey(job("wf", "1"))
    assert first.unanswered == {job("wf", "1").key}
    assert first.running == frozenset()
    assert first.retry_after == 7.0
    [failed] = [e for e in logs if e["event"] == "provider.survey_failed"]
    assert failed["workflow"] == "wf"
    assert "503" in failed["error"]
    assert second.running == {job("wf", "1").key}


async def test_a_refused_list_is_not_asked_for_again_and_its_items_go_alone() -> None:
    lists = Lists()
    lists.answers["wf"] = [web.json_response({"error": {"message": "no such route"}}, status=404)]
    lists.jobs["other"] = listed(("5", "running"))
    async with pixxel(lists) as provider:
        with capture_logs() as logs:
            answer = await provider.still_running([job("wf", "1"), job("other", "5")])
        assert not provider.can_survey(job("wf", "1"))
        assert provider.can_survey(job("other", "5"))
        again = await provider.still_running([job("wf", "2")])
    assert answer.running == {job("other", "5").key}
    assert answer.unanswered == frozenset()
    assert again == type(again)()  # not asked: nothing known
    assert lists.asked.count("wf") == 1
    off = [e for e in logs if e["event"] == "provider.survey_off"]
    assert len(off) == 1
    assert off[0]["workflow"] == "wf"
    assert "404" in off[0]["reason"]


async def test_a_list_that_cannot_be_read_is_not_asked_for_again() -> None:
    lists = Lists()
    lists.answers["wf"] = [web.Response(text="<html>gateway</html>", content_type="text/html")]
    lists.jobs["big"] = listed(*((str(i), "running") for i in range(5000)))
    async with pixxel(lists, max_body=64 * 1024) as provider:
        answer = await provider.still_running([job("wf", "1"), job("big", "1")])
        assert not provider.can_survey(job("wf", "1"))
        assert not provider.can_survey(job("big", "1"))  # too large to read
    assert answer.running == frozenset()
    assert answer.unanswered == frozenset()


async def test_an_unknown_status_word_counts_as_running_and_is_warned_about_once() -> None:
    lists = Lists()
    lists.jobs["wf"] = listed(("1", "warming_up"), ("2", "warming_up"))
    async with pixxel(lists) as provider:
        with capture_logs() as logs:
            first = await provider.still_running([job("wf", "1"), job("wf", "2")])
            await provider.still_running([job("wf", "1")])
    assert first.running == {job("wf", "1").key, job("wf", "2").key}
    warnings = [e for e in logs if e["event"] == "provider.unknown_status"]
    assert [w["status"] for w in warnings] == ["warming_up"]


async def test_a_provider_is_a_survey_when_it_declares_one() -> None:
    class Half(HttpProvider):  # a method of a survey's name is no declaration of one
        def can_survey(self, item: ItemRef) -> bool:
            return True

    async with pixxel(Lists()) as provider:
        assert survey_of(provider) is provider
    assert survey_of(HttpProvider()) is None
    assert survey_of(Half()) is None
    assert survey_of(None) is None
