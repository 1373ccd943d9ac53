"""Alteryx Server answers (swagger `JobView`, the OAuth2 token) to our values."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from downloader.errors import MalformedResponse
from downloader.providers._parse_alteryx import (
    DEFAULT_TOKEN_LIFETIME,
    choose_format,
    parse_job,
    parse_token,
)
from downloader.providers._parse_common import RemoteState

JOB: dict[str, Any] = {
    "id": "66ebd18d3d6200007e000d8c",
    "appId": "app-1",
    "createDateTime": "2026-11-01T10:00:00Z",
    "status": "Completed",
    "disposition": "Success",
    "outputs": [
        {"id": "o1", "availableFormats": ["Raw", "Csv"], "fileName": "result.csv"},
        {"id": "o2", "availableFormats": ["Yxdb"], "fileName": "out.yxdb"},
    ],
    "messages": [{"status": 1, "text": "Finished running in 2 seconds", "toolId": 3}],
    "priority": "Default",
    "workerTag": "",
    "runWithE2": True,
}


def job(**changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(JOB)
    body.update(changes)
    return body


@pytest.mark.parametrize(
    ("word", "state"),
    [
        ("Created", RemoteState.RUNNING),
        ("Queued", RemoteState.RUNNING),
        ("Running", RemoteState.RUNNING),
        ("Completed", RemoteState.SUCCEEDED),
        ("completed", RemoteState.SUCCEEDED),
        ("Cancelled", RemoteState.FAILED),
        ("Error", RemoteState.FAILED),
    ],
)
def test_job_status_words(word, state):
    assert parse_job(job(status=word)).status.state is state


def test_a_successful_job_lists_its_outputs():
    parsed = parse_job(JOB)
    assert parsed.failure() is None
    assert [(o.id, o.file_name, o.formats) for o in parsed.outputs] == [
        ("o1", "result.csv", ("Raw", "Csv")),
        ("o2", "out.yxdb", ("Yxdb",)),
    ]
    assert parsed.errors == ()


def test_a_running_job_is_not_judged_yet():
    assert parse_job(job(status="Running", disposition="None", outputs=[])).failure() is None


def test_completed_with_an_error_disposition_fails_with_the_error_messages():
    body = job(
        disposition="Error",
        messages=[
            {"status": 1, "text": "Started", "toolId": 1},
            {"status": 3, "text": "Input Data (1): File not found", "toolId": 1},
            {"status": 2, "text": "just a warning", "toolId": 2},
            {"status": 3, "text": "Output (5): no records", "toolId": 5},
        ],
    )
    assert parse_job(body).failure() == (
        "Alteryx job 66ebd18d3d6200007e000d8c completed with disposition Error: "
        "Input Data (1): File not found; Output (5): no records"
    )


def test_completed_with_success_but_error_messages_fails():
    body = job(messages=[{"status": 3, "text": "Formula (4): bad field", "toolId": 4}])
    assert parse_job(body).failure() == (
        "Alteryx job 66ebd18d3d6200007e000d8c completed with errors: Formula (4): bad field"
    )


def test_a_disposition_other_than_success_fails_even_without_messages():
    failure = parse_job(job(disposition="Warning", messages=[])).failure()
    assert failure == "Alteryx job 66ebd18d3d6200007e000d8c completed with disposition Warning"


def test_success_is_compared_without_regard_to_case_and_a_missing_disposition_is_fine():
    assert parse_job(job(disposition="SUCCESS")).failure() is None
    body = job()
    del body["disposition"]
    assert parse_job(body).failure() is None


def test_a_cancelled_job_fails():
    assert parse_job(job(status="Cancelled", disposition="Cancelled")).failure() == (
        "Alteryx job 66ebd18d3d6200007e000d8c cancelled"
    )


def test_a_job_without_messages_or_outputs_parses():
    body = job()
    del body["messages"]
    del body["outputs"]
    parsed = parse_job(body)
    assert (parsed.outputs, parsed.errors) == ((), ())


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({k: v for k, v in JOB.items() if k != "status"}, "has no 'status'"),
        (job(status=12345), "'status' is int"),
        (job(outputs={"unexpected": "object"}), "'outputs' is dict"),
        (job(outputs=[{"fileName": "x"}]), "an output: the answer has no 'id'"),
        (job(outputs=[{"id": "o", "availableFormats": [1]}]), "other than names"),
    ],
)
def test_broken_jobs_are_malformed(body, message):
    with pytest.raises(MalformedResponse, match=message):
        parse_job(body)


# ---- tokens ----------------------------------------------------------------------------------


def test_a_token_answer():
    token = parse_token({"access_token": "abc.def", "token_type": "bearer", "expires_in": 1800})
    assert (token.access_token, token.expires_in) == ("abc.def", 1800.0)


@pytest.mark.parametrize(
    ("expires_in", "lifetime"),
    [(None, DEFAULT_TOKEN_LIFETIME), ("600", 600.0), (0, DEFAULT_TOKEN_LIFETIME), (True, 3600.0)],
)
def test_a_missing_or_odd_lifetime_falls_back_to_an_hour(expires_in, lifetime):
    body: dict[str, Any] = {"access_token": "t"}
    if expires_in is not None:
        body["expires_in"] = expires_in
    assert parse_token(body).expires_in == lifetime


def test_a_token_never_shows_in_its_repr():
    assert "s3cr3t" not in repr(parse_token({"access_token": "s3cr3t", "expires_in": 60}))


@pytest.mark.parametrize(
    ("body", "message"),
    [({}, "no 'access_token'"), ({"access_token": ""}, "is empty"), ([], "JSON object")],
)
def test_broken_token_answers_are_malformed(body, message):
    with pytest.raises(MalformedResponse, match=message):
        parse_token(body)


# ---- formats ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("offered", "preferred", "chosen"),
    [
        (("Raw", "Csv"), None, "Raw"),
        (("Csv", "Raw"), None, "Raw"),
        (("Csv", "Xlsx"), None, "Csv"),
        (("Raw", "Csv"), "Csv", "Csv"),
        (("Raw", "Csv"), "csv", "Csv"),
        (("Raw", "Csv"), "Pdf", "Raw"),
        (("Yxdb", "Csv"), "Pdf", "Yxdb"),
        ((), None, "Raw"),
        ((), "Csv", "Csv"),
    ],
)
def test_the_format_is_the_configured_one_else_raw_else_the_first(offered, preferred, chosen):
    assert choose_format(offered, preferred) == chosen
