"""Pixxel answers (shapes from Pixxel's OpenAPI document) to our values."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from downloader.errors import MalformedResponse
from downloader.providers._parse_common import RemoteState
from downloader.providers._parse_pixxel import (
    catalog_request,
    job_failure,
    parse_job,
    parse_job_list,
    parse_order_item,
    parse_package,
)

# dexter.GetJobByIdTransformerResponse, trimmed to the fields we read and a few we do not.
JOB: dict[str, Any] = {
    "id": "job-456",
    "workflow_id": "wf-123",
    "status": "running",
    "progress": "40",
    "cost": 20,
    "created_by": "user-1",
    "created_at": "2026-11-01T10:00:00Z",
    "finished_at": "",
    "spec": [1, 2, 3],
    "val_errors": [],
    "tasks": [
        {
            "id": "task-789",
            "name": "ndvi",
            "status": "completed",
            "progress": 100,
            "err_msg": "",
            "failure_type": "",
            "inputs": {"aoi": "x"},
            "result": "eyJhIjoxfQ==",
            "depends_on": [],
        },
        {
            "id": "task-790",
            "name": "mosaic",
            "status": "running",
            "progress": 35.5,
            "err_msg": "",
        },
    ],
}


def job(**changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(JOB)
    body.update(changes)
    return body


@pytest.mark.parametrize(
    ("word", "state"),
    [
        ("running", RemoteState.RUNNING),
        ("pending", RemoteState.RUNNING),
        ("Queued", RemoteState.RUNNING),
        ("completed", RemoteState.SUCCEEDED),
        ("COMPLETED", RemoteState.SUCCEEDED),
        ("success", RemoteState.SUCCEEDED),
        ("Succeeded", RemoteState.SUCCEEDED),
        ("failed", RemoteState.FAILED),
        ("error", RemoteState.FAILED),
        ("cancelled", RemoteState.FAILED),
        ("CANCELED", RemoteState.FAILED),
    ],
)
def test_job_status_words(word, state):
    assert parse_job(job(status=word)).status.state is state


def test_an_unknown_job_status_means_not_finished_and_is_marked_unknown():
    status = parse_job(job(status="reticulating-splines")).status
    assert status.state is RemoteState.RUNNING
    assert status.known is False


def test_a_job_carries_its_tasks():
    state = parse_job(JOB)
    assert state.id == "job-456"
    assert state.progress == "40"
    assert [(t.id, t.name, t.status.state) for t in state.tasks] == [
        ("task-789", "ndvi", RemoteState.SUCCEEDED),
        ("task-790", "mosaic", RemoteState.RUNNING),
    ]
    assert state.task("task-790") is state.tasks[1]
    assert state.task("ndvi") is state.tasks[0]
    assert state.task("nope") is None


def test_a_job_without_tasks_has_none():
    body = job()
    del body["tasks"]
    assert parse_job(body).tasks == ()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({k: v for k, v in JOB.items() if k != "status"}, "Pixxel job: the answer has no 'status'"),
        (job(status=12345), "'status' is int, expected a string"),
        (job(tasks={"unexpected": "object"}), "'tasks' is dict, expected a list"),
        (job(tasks=["x"]), "a task: expected a JSON object, got str"),
        (job(tasks=[{"id": "t"}]), "task t: the answer has no 'status'"),
        (["unexpected", "list"], "expected a JSON object, got list"),
    ],
)
def test_broken_job_answers_are_malformed(body, message):
    with pytest.raises(MalformedResponse, match=message):
        parse_job(body)


def test_a_failed_job_is_explained_by_its_tasks_error_messages():
    failed = job(
        status="failed",
        tasks=[
            {"id": "t1", "name": "ndvi", "status": "failed", "err_msg": "band B8 missing"},
            {"id": "t2", "name": "mosaic", "status": "completed", "err_msg": ""},
            {"id": "t3", "name": "clip", "status": "cancelled", "err_msg": ""},
        ],
    )
    text = job_failure(parse_job(failed), "Pixxel job wf/j")
    assert text == "Pixxel job wf/j failed: task ndvi: band B8 missing; task clip cancelled"


def test_a_failed_job_reports_its_own_error_and_validation_errors_first():
    failed = job(
        status="failed",
        err_msg="quota exceeded",
        val_errors=[{"from": "a", "to": "b", "err": "type mismatch", "reason": "int vs str"}],
        tasks=[],
    )
    text = job_failure(parse_job(failed), "Pixxel job wf/j")
    assert text == "Pixxel job wf/j failed: quota exceeded; type mismatch - int vs str"


def test_a_failed_job_without_any_message_says_so():
    text = job_failure(parse_job(job(status="failed", tasks=[])), "Pixxel job wf/j")
    assert text == "Pixxel job wf/j failed (no error message given)"


# ---- packages -------------------------------------------------------------------------------

SIGNED = "https://storage.example.org/pkg/job-456.zip?X-Amz-Expires=3600&X-Amz-Signature=abc"


@pytest.mark.parametrize(
    ("body", "ready", "state"),
    [
        # dexter.PutJobUpstreamResponseBody (note camelCase workflowId)
        (
            {"id": "d1", "status": "pending", "signed_url": "", "workflowId": "wf"},
            False,
            RemoteState.RUNNING,
        ),
        (
            {"id": "d1", "status": "ready", "signed_url": SIGNED, "workflowId": "wf"},
            True,
            RemoteState.SUCCEEDED,
        ),
        # dexter.PutTaskUpstreamResponseBody (snake_case throughout)
        (
            {
                "id": "t",
                "job_id": "j",
                "workflow_id": "wf",
                "status": "READY",
                "signed_url": SIGNED,
            },
            True,
            RemoteState.SUCCEEDED,
        ),
        # "ready" but no URL yet: not ready
        ({"id": "d1", "status": "ready", "signed_url": ""}, False, RemoteState.SUCCEEDED),
        ({"id": "d1", "status": "ready", "signed_url": None}, False, RemoteState.SUCCEEDED),
        # a URL but still pending: not ready
        ({"id": "d1", "status": "pending", "signed_url": SIGNED}, False, RemoteState.RUNNING),
        # clerk.DownloadResponse, clerk.DownloadStatus enum
        ({"id": "u", "signed_url": "", "status": "created"}, False, RemoteState.RUNNING),
        ({"id": "u", "signed_url": "", "status": "in_progress"}, False, RemoteState.RUNNING),
        ({"id": "u", "signed_url": SIGNED, "status": "success"}, True, RemoteState.SUCCEEDED),
        ({"id": "u", "signed_url": "", "status": "failed"}, False, RemoteState.FAILED),
        ({"id": "u", "signed_url": SIGNED, "status": "SUCCESS"}, True, RemoteState.SUCCEEDED),
    ],
)
def test_package_answers(body, ready, state):
    package = parse_package(body, "package")
    assert package.ready is ready
    assert package.status.state is state
    assert package.download_id == body["id"]


def test_a_package_url_is_kept_whole_and_an_empty_one_is_none():
    assert parse_package({"status": "ready", "signed_url": SIGNED}, "p").signed_url == SIGNED
    assert parse_package({"status": "pending", "signed_url": ""}, "p").signed_url is None
    assert parse_package({"status": "pending"}, "p").download_id is None


def test_an_unknown_package_status_is_not_ready_and_marked_unknown():
    package = parse_package({"status": "reticulating-splines", "signed_url": SIGNED}, "p")
    assert not package.ready
    assert package.status.known is False


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"signed_url": SIGNED}, "package: the answer has no 'status'"),
        ({"status": 12345, "signed_url": SIGNED}, "'status' is int"),
        ({"status": "ready", "signed_url": ["x"]}, "'signed_url' is list"),
        ({"status": "ready", "signed_url": "ftp://x/y.zip"}, "not an http\\(s\\) URL"),
        ("unexpected string", "expected a JSON object, got str"),
    ],
)
def test_broken_package_answers_are_malformed(body, message):
    with pytest.raises(MalformedResponse, match=message):
        parse_package(body, "package")


def test_a_bad_signed_url_is_not_repeated_in_the_error():
    with pytest.raises(MalformedResponse) as caught:
        parse_package({"status": "ready", "signed_url": "ftp://h/p?sig=secret-sig"}, "p")
    assert "secret-sig" not in str(caught.value)


def test_catalog_requests_fill_exactly_one_list():
    assert catalog_request("catalog", "c-1") == {"catalog_ids": ["c-1"], "order_item_ids": []}
    assert catalog_request("order_item", "o-1") == {"catalog_ids": [], "order_item_ids": ["o-1"]}
    with pytest.raises(ValueError, match="not 'job'"):
        catalog_request("job", "x")


# dexter.ListJobsTransformerResponse: no tasks, no paging
JOB_LIST: dict[str, Any] = {
    "jobs": [
        {"id": "j-1", "workflow_id": "wf", "status": "running", "progress": "10", "cost": 1},
        {"id": "j-2", "workflow_id": "wf", "status": "COMPLETED", "progress": "100"},
        {"id": "j-3", "workflow_id": "wf", "status": "failed"},
        {"id": "j-4", "workflow_id": "wf", "status": "warming_up"},
        {"id": 5, "workflow_id": "wf", "status": "queued"},
    ]
}


def test_a_job_list_gives_each_jobs_status_by_id() -> None:
    statuses = parse_job_list(JOB_LIST, "list")
    assert {k: s.state for k, s in statuses.items()} == {
        "j-1": RemoteState.RUNNING,
        "j-2": RemoteState.SUCCEEDED,
        "j-3": RemoteState.FAILED,
        "j-4": RemoteState.RUNNING,
        "5": RemoteState.RUNNING,
    }
    assert not statuses["j-4"].known
    assert statuses["j-1"].known
    assert statuses["j-2"].word == "COMPLETED"


def test_a_bare_list_of_jobs_is_taken_too() -> None:
    assert set(parse_job_list(JOB_LIST["jobs"], "list")) == {"j-1", "j-2", "j-3", "j-4", "5"}


@pytest.mark.parametrize(
    "entry",
    [
        "j-9",
        {"workflow_id": "wf", "status": "running"},
        {"id": "", "status": "running"},
        {"id": True, "status": "running"},
        {"id": "j-9"},
        {"id": "j-9", "status": 3},
        {"id": ["j-9"], "status": "running"},
    ],
)
def test_a_job_list_entry_without_a_usable_id_or_status_is_left_out(entry: Any) -> None:
    body = {"jobs": [entry, {"id": "j-1", "status": "running"}]}
    assert set(parse_job_list(body, "list")) == {"j-1"}


@pytest.mark.parametrize("body", [None, "jobs", 3, {"jobs": {"j-1": "running"}}, {"items": []}])
def test_a_job_list_that_is_no_list_is_malformed(body: Any) -> None:
    with pytest.raises(MalformedResponse, match="list"):
        parse_job_list(body, "the list")


# ---- order items ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("word", "state"),
    [
        ("FULFILLED", RemoteState.SUCCEEDED),
        ("fulfilled", RemoteState.SUCCEEDED),
        ("Active", RemoteState.RUNNING),
        ("PARTIALLY_FULFILLED", RemoteState.RUNNING),
        ("cancelled", RemoteState.FAILED),
        ("FAILED", RemoteState.FAILED),
    ],
)
def test_order_item_words_are_read_in_any_case(word: str, state: RemoteState) -> None:
    assert parse_order_item({"id": "oi", "status": word}).status.state is state


def test_an_order_item_that_failed_says_why_with_its_validation_errors() -> None:
    answer = {
        "status": "FAILED",
        "tasks": [{"id": "t1", "status": "FAILED"}],
        "validation_errors": [{"aoi": ["too small", "outside coverage"]}, "cloud cover"],
    }
    failure = parse_order_item(answer).failure("Pixxel order item oi")
    assert failure == ("Pixxel order item oi FAILED: aoi: too small, outside coverage; cloud cover")


def test_an_expired_task_ends_an_active_order_item_but_a_failed_one_does_not() -> None:
    expired = parse_order_item({"status": "ACTIVE", "tasks": [{"id": "t1", "status": "expired"}]})
    assert expired.failure("Pixxel order item oi") == "Pixxel order item oi: its task t1 expired"
    retried = parse_order_item({"status": "ACTIVE", "tasks": [{"id": "t1", "status": "FAILED"}]})
    assert retried.failure("x") is None


def test_unreadable_tasks_of_an_order_item_are_left_out_and_its_status_is_required() -> None:
    state = parse_order_item({"status": "ACTIVE", "tasks": ["odd", {"id": "t2"}, None]})
    assert state.tasks == ()
    with pytest.raises(MalformedResponse, match="Pixxel order item: the answer has no 'status'"):
        parse_order_item({"id": "oi"})
