"""Alteryx Server answers (swagger `JobView`, the OAuth2 token) to our values."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from downloader.errors import MalformedResponse
from downloader.providers._parse_alteryx import (
    DEFAULT_TOKEN_LIFETIME,
    Message,
    choose_format,
    error_texts,
    parse_job,
    parse_messages,
    parse_token,
    render_messages,
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


def test_the_disposition_decides_and_messages_asked_for_apart_say_why():
    body = job(disposition="Error", messages=[])
    errors = ("Formula (4): bad field",)
    assert parse_job(body).failure(("Success", "Warning"), errors) == (
        "Alteryx job 66ebd18d3d6200007e000d8c completed with disposition Error: "
        "Formula (4): bad field"
    )
    # error messages in an accepted job are the job's business: its disposition says it
    assert parse_job(job(disposition="Success")).failure(("Success",), errors) is None


def test_a_warning_is_accepted_by_default_and_refused_when_only_success_is():
    warned = parse_job(job(disposition="Warning", messages=[]))
    assert warned.failure() is None
    assert warned.failure(("Success",)) == (
        "Alteryx job 66ebd18d3d6200007e000d8c completed with disposition Warning"
    )
    assert warned.failure(("success", "WARNING")) is None


@pytest.mark.parametrize(
    "answer",
    [
        [
            {"status": 1, "text": "Started ", "toolId": 1},
            {"status": 2, "text": "Field X truncated", "toolId": 4},
            "not a message",
            {"status": 3, "text": "Output (5): no records", "toolId": 5},
        ],
        {"status": 2, "text": "Field X truncated", "toolId": 4},
    ],
    ids=["a list", "one object"],
)
def test_messages_are_read_as_a_list_or_as_the_one_object_the_swagger_declares(answer):
    messages = parse_messages(answer)
    assert Message(2, "Field X truncated", 4) in messages
    assert all(isinstance(m, Message) for m in messages)
    if isinstance(answer, list):
        assert messages[0] == Message(1, "Started", 1)
        assert error_texts(messages) == ("Output (5): no records",)
        assert json.loads(render_messages(messages)) == [
            {"status": 1, "text": "Started", "toolId": 1},
            {"status": 2, "text": "Field X truncated", "toolId": 4},
            {"status": 3, "text": "Output (5): no records", "toolId": 5},
        ]


def test_messages_that_are_neither_a_list_nor_an_object_are_malformed():
    with pytest.raises(MalformedResponse, match="expected a list or an object"):
        parse_messages("Access denied")


def test_success_is_compared_without_regard_to_case_and_a_missing_disposition_is_fine():
    assert parse_job(job(disposition="SUCCESS")).failure() is None
    body = job()
    del body["disposition"]
    assert parse_job(body).failure() is None


def test_without_a_disposition_error_messages_fail_the_job():
    body = job(messages=[])
    del body["disposition"]
    assert parse_job(body).failure(errors=("Formula (4): bad field",)) == (
        "Alteryx job 66ebd18d3d6200007e000d8c completed with errors: Formula (4): bad field"
    )


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
    [
        (None, DEFAULT_TOKEN_LIFETIME),
        ("600", 600.0),
        (0, DEFAULT_TOKEN_LIFETIME),
        (True, 3600.0),
        ("\u00b2", DEFAULT_TOKEN_LIFETIME),
        ("9" * 5000, DEFAULT_TOKEN_LIFETIME),
    ],
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
