"""An Alteryx job as a step machine, driven by hand: no loop, no server."""

from __future__ import annotations

from typing import Any

from downloader.errors import RemoteJobFailed
from downloader.items import ItemRef
from downloader.providers._alteryx_steps import REFUSALS, alteryx_step
from downloader.providers._steps import Ask, Fail, Fetch, Refused, Wait

JOB = ItemRef.parse("alteryx:job:j1")
ACCEPT = ("Success", "Warning")
OUTPUTS = [{"id": "o1", "fileName": "r.csv", "availableFormats": ["Raw"]}]


def step(memo: Any, answer: Any) -> Any:
    return alteryx_step(JOB, memo, answer, accept=ACCEPT)


def job(status: str, disposition: str = "Success") -> dict[str, Any]:
    return {"id": "j1", "status": status, "disposition": disposition, "outputs": OUTPUTS}


def test_a_job_is_read_without_its_messages_until_it_no_longer_runs() -> None:
    assert step({}, None) == Ask(
        "GET", "/v3/jobs/j1", "Alteryx job j1", "finished", params={"includeMessages": "false"}
    )
    assert step({}, job("Running", "None")) == Wait("Running", phase="waiting", detail="Running")


def test_a_finished_job_is_kept_and_its_messages_asked_for_once() -> None:
    answer = job("Completed")
    messages = step({}, answer)
    assert messages == Ask(
        "GET",
        "/v3/jobs/j1/messages",
        "Alteryx job j1 messages",
        "available",
        memo={"job": answer},
        refusals=REFUSALS,
    )
    # taken up later, the finished job is not read again
    again = step({"job": answer}, None)
    assert isinstance(again, Ask)
    assert again.path == "/v3/jobs/j1/messages"
    ready = step({"job": answer}, [{"status": 1, "text": "Finished running", "toolId": 3}])
    assert isinstance(ready, Fetch)
    assert [m.text for m in ready.extra["messages"]] == ["Finished running"]
    assert ready.notes == ()


def test_messages_refused_or_unreadable_leave_the_job_to_go_on_and_say_why() -> None:
    memo = {"job": job("Completed")}
    refused = step(memo, Refused(403, "HTTP 403 Forbidden"))
    assert isinstance(refused, Fetch)
    assert refused.extra["messages"] is None
    assert refused.notes == (("provider.messages_unavailable", {"reason": "HTTP 403 Forbidden"}),)
    unreadable = step(memo, "not a list")
    assert isinstance(unreadable, Fetch)
    assert unreadable.notes[0][0] == "provider.messages_unavailable"


def test_a_completed_job_of_an_unaccepted_disposition_fails_with_its_error_messages() -> None:
    memo = {"job": job("Completed", "Error")}
    failed = step(memo, [{"status": 3, "text": "Input Data (1): file not found", "toolId": 1}])
    assert failed == Fail(
        "Alteryx job j1 completed with disposition Error: Input Data (1): file not found",
        RemoteJobFailed,
    )
