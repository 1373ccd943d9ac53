"""A Pixxel job or task as a step machine, driven by hand: no loop, no server."""

from __future__ import annotations

from typing import Any

import pytest

from downloader.errors import MalformedResponse, ProviderError, RemoteJobFailed
from downloader.items import ItemRef
from downloader.providers._pixxel_steps import PACKAGE, job_step
from downloader.providers._steps import Ask, Fail, Fetch, Wait

JOB = ItemRef.parse("pixxel:job:wf/j1")
TASK = ItemRef.parse("pixxel:task:wf/j1/t1")
URL = "https://files.example/p.zip?sig=1"


def job(status: str, *tasks: dict[str, Any], **more: Any) -> dict[str, Any]:
    return {"id": "j1", "status": status, "tasks": list(tasks), **more}


def test_a_new_item_first_asks_for_its_job() -> None:
    assert job_step(JOB, {}, None) == Ask(
        "GET", "/v0/workflows/wf/jobs/j1", "Pixxel job wf/j1", goal="finished"
    )
    assert job_step(TASK, {}, None) == Ask(
        "GET", "/v0/workflows/wf/jobs/j1", "Pixxel task t1", goal="finished"
    )


def test_a_running_job_waits_and_says_so() -> None:
    assert job_step(JOB, {}, job("running")) == Wait("running", phase="waiting", detail="running")
    odd = job_step(JOB, {}, job("warming_up"))
    assert odd == Wait("warming_up", known=False, phase="waiting", detail="warming_up")


def test_a_finished_job_moves_on_to_its_package_and_remembers_it() -> None:
    step = job_step(JOB, {}, job("completed"))
    assert step == Ask(
        "PUT",
        "/v0/workflows/wf/jobs/j1/download",
        "Pixxel job wf/j1 package",
        memo=PACKAGE,
        phase="requested",
    )
    # taken up from its memo, the known job is not asked for again
    assert job_step(JOB, PACKAGE, None) == Ask(
        "PUT", "/v0/workflows/wf/jobs/j1/download", "Pixxel job wf/j1 package", phase="requested"
    )


def test_a_failed_job_fails_with_the_platforms_words() -> None:
    step = job_step(JOB, {}, job("failed", err_msg="quota exceeded"))
    assert step == Fail("Pixxel job wf/j1 failed: quota exceeded", RemoteJobFailed)


def test_a_task_waits_while_its_job_runs_without_it_and_fails_when_it_ended_without() -> None:
    assert job_step(TASK, {}, job("running")) == Wait(
        "job running, task t1 not listed yet", phase="waiting", detail="job running"
    )
    assert job_step(TASK, {}, job("completed")) == Fail(
        "Pixxel job wf/j1 completed without a task t1"
    )


def test_a_task_is_judged_by_its_own_status() -> None:
    running = {"id": "t1", "status": "running"}
    done = {"id": "t1", "status": "completed"}
    failed = {"id": "t1", "status": "failed", "err_msg": "bad band"}
    assert job_step(TASK, {}, job("running", running)) == Wait(
        "running", phase="waiting", detail="running"
    )
    step = job_step(TASK, {}, job("running", done))
    assert isinstance(step, Ask)
    assert (step.path, step.memo) == ("/v0/workflows/wf/jobs/j1/tasks/t1/download", PACKAGE)
    assert job_step(TASK, {}, job("completed", failed)) == Fail(
        "Pixxel task t1 of job wf/j1 failed: bad band", RemoteJobFailed
    )


@pytest.mark.parametrize(
    ("answer", "step"),
    [
        ({"id": "d1", "status": "pending"}, Wait("pending", phase="preparing", detail="pending")),
        (
            {"id": "d1", "status": "ready", "signed_url": ""},
            Wait("ready but no signed_url yet", phase="preparing", detail="ready"),
        ),
        ({"id": "d1", "status": "ready", "signed_url": URL}, Fetch(URL, "d1")),
        (
            {"id": "d1", "status": "failed"},
            Fail("Pixxel job wf/j1 package: Pixxel reports 'failed'", RemoteJobFailed),
        ),
    ],
)
def test_a_package_answer_is_fetched_waited_for_or_failed(answer: Any, step: Any) -> None:
    assert job_step(JOB, PACKAGE, answer) == step


def test_an_answer_that_cannot_be_read_is_raised_for_the_schedule_to_count() -> None:
    with pytest.raises(MalformedResponse):
        job_step(JOB, {}, "<html>login</html>")
    with pytest.raises(MalformedResponse):
        job_step(JOB, PACKAGE, {"status": 7})
    assert issubclass(RemoteJobFailed, ProviderError)
